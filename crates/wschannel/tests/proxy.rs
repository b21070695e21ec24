//! The client through real proxies started by the test: `tinyproxy` (HTTP CONNECT, with and
//! without basic auth) and `microsocks` (SOCKS5, with and without user/password), `ws://` and
//! `wss://` through each, and the errors of each stage (refused, authentication, unreachable).

mod common;
mod proxies;

use common::within;
use futures_util::{SinkExt, StreamExt};
use proxies::{free_port, Proxy};
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use wschannel::tls::{server_config, TlsAcceptor};
use wschannel::{
    ClientBuilder, CloseCode, Error, Message, ProxyError, ProxyErrorKind, ProxyRefusal, Stage,
};

/// A `ws://` echo server on 127.0.0.1; returns its port.
async fn ws_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(ws) = wschannel::accept(tcp).await else { return };
                echo(ws).await;
            });
        }
    });
    port
}

/// A `wss://` echo server with a fresh certificate for `localhost` and `127.0.0.1`, on
/// 127.0.0.1 (and on ::1 with the same port when it can, since a proxy may resolve
/// `localhost` to either); returns its port and the certificate.
async fn wss_server() -> (u16, CertificateDer<'static>) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(names).unwrap();
    let config = server_config(cert.pem().as_bytes(), key_pair.serialize_pem().as_bytes()).unwrap();
    let acceptor = TlsAcceptor::from(config);
    let v4 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = v4.local_addr().unwrap().port();
    let v6 = TcpListener::bind(("::1", port)).await.ok();
    for listener in std::iter::once(v4).chain(v6) {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let Ok(ws) = wschannel::accept(tls).await else { return };
                    echo(ws).await;
                });
            }
        });
    }
    (port, cert.der().clone())
}

async fn echo<S>(mut ws: wschannel::Channel<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(msg)) = ws.next().await {
        if ws.send(msg).await.is_err() {
            break;
        }
    }
}

/// Connects with `builder`, checks one echo and closes.
async fn echo_through(builder: &ClientBuilder, url: &str) {
    let mut ws = within(builder.connect(url)).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let text = format!("through a proxy to {url}");
    within(ws.send(Message::text(text.clone()))).await.unwrap();
    assert_eq!(within(ws.next()).await.unwrap().unwrap(), Message::text(text));
    within(ws.close(CloseCode::NORMAL, "")).await.unwrap();
}

/// The proxy error of a failed connect.
async fn proxy_error(builder: &ClientBuilder, url: &str) -> ProxyError {
    match within(builder.connect(url)).await {
        Err(Error::Proxy(e)) => *e,
        Err(e) => panic!("{url}: not a proxy error: {e:?}"),
        Ok(_) => panic!("{url}: connected"),
    }
}

#[tokio::test]
async fn http_connect_ws_and_wss_through_tinyproxy() {
    let ws_port = ws_server().await;
    let (wss_port, cert) = wss_server().await;
    let proxy = Proxy::tinyproxy(None, &[ws_port, wss_port]).await;
    let builder = ClientBuilder::new().root_certificate(cert).proxy(&proxy.url(None)).unwrap();

    echo_through(&builder, &format!("ws://127.0.0.1:{ws_port}/")).await;
    echo_through(&builder, &format!("wss://127.0.0.1:{wss_port}/chat")).await;
    let log = proxy.log();
    for port in [ws_port, wss_port] {
        assert!(log.contains(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1")), "{log}");
    }
}

#[tokio::test]
async fn http_connect_with_basic_auth() {
    let ws_port = ws_server().await;
    let (wss_port, cert) = wss_server().await;
    let proxy = Proxy::tinyproxy(Some(("alice", "s3-cret")), &[ws_port, wss_port]).await;
    let with = |auth| ClientBuilder::new().root_certificate(cert.clone()).proxy(&proxy.url(auth));

    // The `-` percent-encoded in the URL, decoded before it is sent.
    let builder = with(Some(("alice", "s3%2Dcret"))).unwrap();
    echo_through(&builder, &format!("ws://127.0.0.1:{ws_port}/")).await;
    echo_through(&builder, &format!("wss://127.0.0.1:{wss_port}/")).await;

    let url = format!("ws://127.0.0.1:{ws_port}/");
    let e = proxy_error(&with(None).unwrap(), &url).await;
    assert!(matches!(e.kind, ProxyErrorKind::AuthRequired { rejected: false }), "{e}");
    assert!(e.to_string().contains("requires authentication"), "{e}");

    let e = proxy_error(&with(Some(("alice", "wrong-password"))).unwrap(), &url).await;
    assert!(matches!(e.kind, ProxyErrorKind::AuthRequired { rejected: true }), "{e}");
    let text = e.to_string();
    assert!(!text.contains("wrong-password") && text.contains("alice:***@"), "{text}");
}

#[tokio::test]
async fn a_refused_connect_is_the_proxys_403() {
    let ws_port = ws_server().await;
    // tinyproxy allows CONNECT to another port only: it answers 403 Access violation.
    let proxy = Proxy::tinyproxy(None, &[free_port()]).await;
    let builder = ClientBuilder::new().proxy(&proxy.url(None)).unwrap();

    let e = proxy_error(&builder, &format!("ws://127.0.0.1:{ws_port}/")).await;
    assert!(
        matches!(&e.kind, ProxyErrorKind::Refused(ProxyRefusal::Http { status: 403, .. })),
        "{e}"
    );
    assert_eq!(e.target, format!("127.0.0.1:{ws_port}"));
    assert!(e.to_string().contains("with HTTP 403 Access violation"), "{e}");
}

#[tokio::test]
async fn an_unreachable_proxy_and_a_bad_proxy_url() {
    let ws_port = ws_server().await;
    let builder = ClientBuilder::new().proxy(&format!("http://127.0.0.1:{}", free_port())).unwrap();
    let e = proxy_error(&builder, &format!("ws://127.0.0.1:{ws_port}/")).await;
    assert!(matches!(e.kind, ProxyErrorKind::Unreachable(_)), "{e}");
    assert!(e.to_string().starts_with("cannot reach the proxy http://127.0.0.1:"), "{e}");

    let builder =
        ClientBuilder::new().proxy(&format!("socks5://127.0.0.1:{}", free_port())).unwrap();
    let e = proxy_error(&builder, &format!("ws://127.0.0.1:{ws_port}/")).await;
    assert!(matches!(e.kind, ProxyErrorKind::Unreachable(_)), "{e}");

    let Err(Error::Proxy(e)) = ClientBuilder::new().proxy("ftp://u:hunter2@proxy") else {
        panic!("an ftp:// proxy was accepted");
    };
    assert!(matches!(e.kind, ProxyErrorKind::InvalidUrl(_)), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[tokio::test]
async fn socks5_ws_and_wss_through_microsocks() {
    let ws_port = ws_server().await;
    let (wss_port, cert) = wss_server().await;
    let proxy = Proxy::microsocks(None).await;

    // socks5://: the address is resolved here and sent as an IPv4 address.
    let builder = ClientBuilder::new().root_certificate(cert.clone());
    let local = builder.clone().proxy(&proxy.url(None)).unwrap();
    echo_through(&local, &format!("ws://127.0.0.1:{ws_port}/")).await;
    echo_through(&local, &format!("wss://localhost:{wss_port}/")).await;
    // socks5h://: the proxy resolves `localhost`.
    let remote = builder.proxy(&proxy.url_as("socks5h", None)).unwrap();
    echo_through(&remote, &format!("ws://localhost:{ws_port}/")).await;
    echo_through(&remote, &format!("wss://localhost:{wss_port}/")).await;

    // A port nothing listens on: the proxy's reply 0x05, connection refused (RFC 1928 §6).
    let e = proxy_error(&local, &format!("ws://127.0.0.1:{}/", free_port())).await;
    assert!(matches!(&e.kind, ProxyErrorKind::Refused(ProxyRefusal::Socks { reply: 0x05 })), "{e}");
    assert!(e.to_string().contains("reply 0x05, connection refused"), "{e}");
}

#[tokio::test]
async fn socks5_with_username_and_password() {
    let ws_port = ws_server().await;
    let (wss_port, cert) = wss_server().await;
    let proxy = Proxy::microsocks(Some(("bob", "pa55"))).await;
    let with = |scheme, auth| {
        ClientBuilder::new().root_certificate(cert.clone()).proxy(&proxy.url_as(scheme, auth))
    };

    let builder = with("socks5h", Some(("bob", "pa55"))).unwrap();
    echo_through(&builder, &format!("ws://localhost:{ws_port}/")).await;
    echo_through(&builder, &format!("wss://localhost:{wss_port}/")).await;
    let builder = with("socks5", Some(("bob", "pa55"))).unwrap();
    echo_through(&builder, &format!("wss://127.0.0.1:{wss_port}/")).await;

    let url = format!("ws://127.0.0.1:{ws_port}/");
    let e = proxy_error(&with("socks5", None).unwrap(), &url).await;
    assert!(matches!(e.kind, ProxyErrorKind::AuthRequired { rejected: false }), "{e}");
    let e = proxy_error(&with("socks5", Some(("bob", "nope"))).unwrap(), &url).await;
    assert!(matches!(e.kind, ProxyErrorKind::AuthRequired { rejected: true }), "{e}");
    assert!(!e.to_string().contains("nope"), "{e}");
}

#[tokio::test]
async fn a_silent_proxy_times_out_in_the_proxy_stage() {
    // Accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    for scheme in ["http", "socks5h"] {
        let err = within(
            ClientBuilder::new()
                .connect_timeout(std::time::Duration::from_millis(300))
                .proxy(&format!("{scheme}://127.0.0.1:{port}"))
                .unwrap()
                .connect("ws://localhost:9/"),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Timeout { stage: Stage::Proxy }), "{scheme}: {err:?}");
    }
}
