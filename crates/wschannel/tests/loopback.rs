//! Client and server over real TCP on 127.0.0.1:0: handshake, subprotocols, rejections,
//! connection errors and TLS.

mod common;

use std::sync::Arc;

use common::within;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use wschannel::tls::{server_config, TlsAcceptor};
use wschannel::{accept_with, CloseCode, Config, Error, Message, Reject};

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, format!("127.0.0.1:{}", addr.port()))
}

#[tokio::test]
async fn connect_and_accept_choose_a_subprotocol() {
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = accept_with(tcp, Config::default(), |req| {
            assert_eq!(req.path, "/chat?room=7");
            assert_eq!(req.origin(), Some("https://example.com"));
            assert_eq!(req.header("X-Token"), Some(&b"abc"[..]));
            assert_eq!(req.protocols(), ["v1.chat", "v2.chat"]);
            Ok(Some("v2.chat".to_owned()))
        })
        .await
        .unwrap();
        assert_eq!(ws.protocol(), Some("v2.chat"));
        while let Some(msg) = ws.next().await {
            ws.send(msg.unwrap()).await.unwrap();
        }
        ws.close_code()
    });

    let mut ws = within(
        common::client()
            .protocol("v1.chat")
            .protocol("v2.chat")
            .origin("https://example.com")
            .header("X-Token", "abc")
            .connect(&format!("ws://{addr}/chat?room=7")),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), Some("v2.chat"));

    within(ws.send(Message::text("Hello!"))).await.unwrap();
    assert_eq!(within(ws.next()).await.unwrap().unwrap(), Message::text("Hello!"));
    within(ws.close(CloseCode::NORMAL, "bye")).await.unwrap();
    assert_eq!(within(server).await.unwrap(), Some(CloseCode::NORMAL));
}

#[tokio::test]
async fn a_rejecting_hook_gives_the_client_the_status_and_body() {
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        accept_with(tcp, Config::default(), |_| Err(Reject::new(403, "no entry for you"))).await
    });

    let err = within(common::connect(&format!("ws://{addr}/"))).await.unwrap_err();
    let Error::Http(rejection) = &err else { panic!("expected Error::Http, got {err:?}") };
    assert_eq!(rejection.status, 403);
    assert_eq!(&rejection.body[..], b"no entry for you");
    assert!(rejection.header("content-type").is_some());
    assert_eq!(err.http_status(), Some(403));

    let server_err = within(server).await.unwrap().unwrap_err();
    assert!(matches!(server_err, Error::Rejected { status: 403 }), "{server_err:?}");
}

#[tokio::test]
async fn a_plain_http_request_is_refused_with_400() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        wschannel::accept(tcp).await
    });

    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    within(tcp.read_to_end(&mut answer)).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 400"), "{}", String::from_utf8_lossy(&answer));
    assert!(matches!(within(server).await.unwrap(), Err(Error::Handshake(_))));
}

#[tokio::test]
async fn frames_right_behind_the_request_are_kept() {
    use tokio::io::AsyncWriteExt;

    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = wschannel::accept(tcp).await.unwrap();
        ws.next().await.unwrap().unwrap()
    });

    // The request and a masked text frame "hi" in one write.
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    bytes.extend_from_slice(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
    tcp.write_all(&bytes).await.unwrap();

    assert_eq!(within(server).await.unwrap(), Message::text("hi"));
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    // Bind, learn the port, close: nothing listens there any more.
    let (l, addr) = listener().await;
    drop(l);

    let err = within(common::connect(&format!("ws://{addr}/"))).await.unwrap_err();
    assert!(err.is_connection_refused(), "{err:?}");
    let Error::Connect { source, .. } = &err else { panic!("{err:?}") };
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn an_unknown_host_is_a_dns_error() {
    let err = within(common::connect("ws://nonexistent.invalid/")).await.unwrap_err();
    assert!(matches!(&err, Error::Dns { host, .. } if host == "nonexistent.invalid"), "{err:?}");
}

#[tokio::test]
async fn a_bad_scheme_is_an_invalid_url() {
    let err = within(common::connect("http://127.0.0.1/")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
}

/// A wss echo server with a fresh self-signed certificate for "localhost"; returns its port
/// and the certificate.
async fn tls_server() -> (u16, rustls_pki_types::CertificateDer<'static>) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let config = server_config(cert.pem().as_bytes(), key_pair.serialize_pem().as_bytes()).unwrap();
    let acceptor = TlsAcceptor::from(config);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut ws) = wschannel::accept(tls).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, cert.der().clone())
}

#[tokio::test]
async fn wss_with_a_trusted_self_signed_certificate() {
    let (port, cert) = tls_server().await;

    let mut ws = within(
        common::client().root_certificate(cert).connect(&format!("wss://localhost:{port}/")),
    )
    .await
    .unwrap();
    within(ws.send(Message::binary(vec![1, 2, 3]))).await.unwrap();
    assert_eq!(within(ws.next()).await.unwrap().unwrap(), Message::binary(vec![1, 2, 3]));
    within(ws.close(CloseCode::NORMAL, "")).await.unwrap();
}

#[tokio::test]
async fn wss_without_trusting_the_certificate_is_a_tls_error() {
    let (port, _cert) = tls_server().await;

    let err = within(common::connect(&format!("wss://localhost:{port}/"))).await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn wss_with_verification_skipped() {
    let (port, _cert) = tls_server().await;

    let mut ws = within(
        common::client()
            .danger_insecure_skip_verify(true)
            .connect(&format!("wss://localhost:{port}/")),
    )
    .await
    .unwrap();
    within(ws.send(Message::text("x"))).await.unwrap();
    assert_eq!(within(ws.next()).await.unwrap().unwrap(), Message::text("x"));
}

#[tokio::test]
async fn a_custom_tls_config_is_used() {
    let (port, cert) = tls_server().await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(wschannel::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let ws = within(
        common::client().tls_config(Arc::new(config)).connect(&format!("wss://localhost:{port}")),
    )
    .await;
    assert!(ws.is_ok(), "{ws:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_in_the_handshake() {
    let (l, addr) = listener().await;
    let hold = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        // Hold the connection open without answering.
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        drop(tcp);
    });

    let err = within(
        common::client()
            .connect_timeout(std::time::Duration::from_millis(200))
            .connect(&format!("ws://{addr}/")),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout { stage: wschannel::Stage::Handshake }), "{err:?}");
    hold.abort();
}

#[tokio::test]
async fn read_request_lets_a_server_choose_between_http_and_websocket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wschannel::server::{accept_request, read_request};

    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (mut tcp, _) = l.accept().await.unwrap();
            let config = Config::default();
            let (request, leftover) = read_request(&mut tcp, &config).await.unwrap();
            if request.is_websocket_upgrade() {
                let mut ws = accept_request(tcp, &request, leftover, config, None).await.unwrap();
                let msg = ws.next().await.unwrap().unwrap();
                ws.send(msg).await.unwrap();
            } else {
                tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").await.unwrap();
            }
        }
    });

    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut page = Vec::new();
    within(tcp.read_to_end(&mut page)).await.unwrap();
    assert!(page.ends_with(b"hello"));

    let mut ws = within(common::connect(&format!("ws://{addr}/"))).await.unwrap();
    within(ws.send(Message::text("up"))).await.unwrap();
    assert_eq!(within(ws.next()).await.unwrap().unwrap(), Message::text("up"));
    within(server).await.unwrap();
}

/// Messages of every size around the point where the server stops copying payloads and writes
/// them from the message's own memory (vectored), text and binary, sent in one burst and read
/// back only after a pause, so that the server's writes block part way through a payload.
async fn echo_mixed_sizes(ws: wschannel::Channel) {
    let sizes = [0usize, 1, 125, 4096, 8191, 8192, 8193, 20_000, 65_536, 300_000, 3];
    let messages: Vec<Message> = (0..6)
        .flat_map(|round| {
            sizes.iter().map(move |&n| {
                if (n + round) % 2 == 0 {
                    Message::binary((0..n).map(|i| (i * 7 + round) as u8).collect::<Vec<u8>>())
                } else {
                    // 1-, 2- and 3-byte characters in turn.
                    Message::text("aé€".chars().cycle().take(n / 2).collect::<String>())
                }
            })
        })
        .collect();
    let (mut tx, mut rx) = ws.split();
    let sent = messages.clone();
    let sender = tokio::spawn(async move {
        for m in sent {
            tx.feed(m).await.unwrap();
        }
        tx.flush().await.unwrap();
        tx
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for (i, want) in messages.iter().enumerate() {
        let got = within(rx.next()).await.unwrap().unwrap();
        assert!(got == *want, "echo {i} differs: {} bytes, expected {}", got.len(), want.len());
    }
    let tx = within(sender).await.unwrap();
    let mut ws = tx.reunite(rx).unwrap();
    within(ws.close(CloseCode::NORMAL, "")).await.unwrap();
}

#[tokio::test]
async fn payloads_of_every_size_echo_intact_over_tcp() {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = wschannel::accept(tcp).await.unwrap();
        while let Some(Ok(msg)) = ws.next().await {
            // Queued, not flushed: replies go out in bursts, as in `wschannel serve`.
            if ws.feed(msg).await.is_err() {
                break;
            }
        }
    });
    let ws = within(common::connect(&format!("ws://{addr}/"))).await.unwrap();
    echo_mixed_sizes(ws).await;
}

#[tokio::test]
async fn payloads_of_every_size_echo_intact_over_tls() {
    let (port, cert) = tls_server().await;
    let ws = within(
        common::client().root_certificate(cert).connect(&format!("wss://localhost:{port}/")),
    )
    .await
    .unwrap();
    echo_mixed_sizes(ws).await;
}
