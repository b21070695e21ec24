//! `ClientBuilder::connect_on`: the client handshake over a stream the caller opened, here a
//! Unix socket to a server accepting on a `UnixListener`, plain and with TLS on top.
#![cfg(unix)]

mod common;

use common::within;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{UnixListener, UnixStream};
use wschannel::tls::{server_config, TlsAcceptor};
use wschannel::{
    accept_with, Channel, ClientBuilder, CloseCode, Config, Error, MaybeTlsStream, Message,
};

/// An echo server on a Unix socket in a fresh directory: checks the request the URL made and
/// echoes until the close. Returns the directory (kept alive) and the socket path.
fn unix_echo_server(tls: Option<TlsAcceptor>) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ws.sock");
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((io, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                let hook = |req: &wschannel::Request| {
                    assert_eq!(req.path, "/chat?room=7");
                    assert_eq!(req.header("Host"), Some(&b"localhost"[..]));
                    assert_eq!(req.protocols(), ["v1.chat"]);
                    Ok(Some("v1.chat".to_owned()))
                };
                match tls {
                    Some(acceptor) => {
                        let Ok(io) = acceptor.accept(io).await else { return };
                        let Ok(ws) = accept_with(io, Config::default(), hook).await else { return };
                        echo(ws).await;
                    }
                    None => {
                        let Ok(ws) = accept_with(io, Config::default(), hook).await else { return };
                        echo(ws).await;
                    }
                }
            });
        }
    });
    (dir, path)
}

async fn echo<S>(mut ws: Channel<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(msg)) = ws.next().await {
        if ws.send(msg).await.is_err() {
            break;
        }
    }
}

#[tokio::test]
async fn ws_over_a_unix_socket() {
    let (_dir, path) = unix_echo_server(None);

    let io = UnixStream::connect(&path).await.unwrap();
    let mut ws: Channel<MaybeTlsStream<UnixStream>> = within(
        ClientBuilder::new().protocol("v1.chat").connect_on("ws://localhost/chat?room=7", io),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), Some("v1.chat"));

    within(ws.send(Message::text("over a Unix socket"))).await.unwrap();
    assert_eq!(within(ws.next()).await.unwrap().unwrap(), Message::text("over a Unix socket"));
    within(ws.close(CloseCode::NORMAL, "bye")).await.unwrap();
    assert_eq!(ws.close_code(), Some(CloseCode::NORMAL));
}

#[tokio::test]
async fn wss_over_a_unix_socket_verifies_the_url_host() {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let config = server_config(cert.pem().as_bytes(), key_pair.serialize_pem().as_bytes()).unwrap();
    let (_dir, path) = unix_echo_server(Some(TlsAcceptor::from(config)));
    let builder = ClientBuilder::new().protocol("v1.chat").root_certificate(cert.der().clone());

    let io = UnixStream::connect(&path).await.unwrap();
    let mut ws = within(builder.connect_on("wss://localhost/chat?room=7", io)).await.unwrap();
    within(ws.send(Message::binary(vec![1, 2, 3]))).await.unwrap();
    assert_eq!(within(ws.next()).await.unwrap().unwrap(), Message::binary(vec![1, 2, 3]));
    within(ws.close(CloseCode::NORMAL, "")).await.unwrap();

    // The certificate is for localhost: another name in the URL fails TLS, as over TCP.
    let io = UnixStream::connect(&path).await.unwrap();
    let err = within(builder.connect_on("wss://example.com/chat?room=7", io)).await.unwrap_err();
    assert!(matches!(err, Error::Tls { ref host, .. } if host == "example.com"), "{err:?}");
}

#[tokio::test]
async fn connect_on_refuses_a_bad_url_before_touching_the_stream() {
    let (client, _server) = tokio::io::duplex(1024);
    let err =
        within(ClientBuilder::new().connect_on("http://localhost/", client)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
}

#[tokio::test]
async fn connect_on_times_out_in_the_handshake_when_the_peer_is_silent() {
    let (client, _server) = tokio::io::duplex(1024);
    let err = within(
        ClientBuilder::new()
            .connect_timeout(std::time::Duration::from_millis(200))
            .connect_on("ws://localhost/", client),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout { stage: wschannel::Stage::Handshake }), "{err:?}");
}
