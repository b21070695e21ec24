use std::collections::HashMap;

use tokio::net::TcpListener;

use super::*;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> =
        vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |name| map.get(name).cloned()
}

/// The proxy URL the environment gives for `ws://` (`secure` false) or `wss://` to `host`.
fn chosen(vars: &[(&str, &str)], secure: bool, host: &str) -> Option<String> {
    from_env(secure, host, 9001, env(vars)).unwrap().map(|p| p.shown)
}

#[test]
fn parse_reads_scheme_host_port_and_decoded_credentials() {
    let p = Proxy::parse("http://al%40ice:p%3Ass@proxy.example:3128").unwrap();
    assert_eq!((p.kind, p.host.as_str(), p.port), (Kind::Http, "proxy.example", 3128));
    assert_eq!(p.auth, Some(("al@ice".to_owned(), "p:ss".to_owned())));
    assert_eq!(p.shown, "http://al%40ice:***@proxy.example:3128");

    let p = Proxy::parse("socks5h://[::1]").unwrap();
    assert_eq!((p.kind, p.host.as_str(), p.port, p.auth), (Kind::Socks5h, "::1", 1080, None));
    let p = Proxy::parse("socks5://u:p@127.0.0.1:1081/").unwrap();
    assert_eq!((p.kind, p.port), (Kind::Socks5, 1081));
    // No scheme is http://, as curl reads it; the default port is 80.
    let p = Proxy::parse("proxy.example").unwrap();
    assert_eq!((p.kind, p.host.as_str(), p.port), (Kind::Http, "proxy.example", 80));
    assert_eq!(p.shown, "http://proxy.example");
}

#[test]
fn parse_refuses_what_it_cannot_use_with_a_reason() {
    let reason = |url: &str| Proxy::parse(url).unwrap_err();
    assert!(reason("https://proxy:443").contains("not supported"));
    assert!(reason("socks4://proxy").contains("socks4:// is not a supported proxy"));
    assert!(reason("http://proxy:3128/path").contains("without a path"));
    assert!(reason("http://").contains("empty host") || reason("http://").contains("no host"));
    assert!(reason(&format!("socks5://{}:p@h", "u".repeat(256))).contains("1 to 255"));
    assert!(reason("socks5://:p@h").contains("1 to 255"));
    assert!(reason("http://u:%ff@h").contains("UTF-8"));
}

#[test]
fn the_password_never_shows() {
    let p = Proxy::parse("http://user:hunter2@proxy:8080").unwrap();
    assert!(!format!("{p:?}").contains("hunter2"));
    assert_eq!(redact_unparsed("http://user:hunter2@proxy:bad"), "http://user:***@proxy:bad");
    assert_eq!(redact_unparsed("user:hunter2@proxy:bad"), "user:***@proxy:bad");
    assert_eq!(redact_unparsed("http://proxy:bad"), "http://proxy:bad");
    let err = from_env(true, "h", 1, env(&[("https_proxy", "ftp://me:hunter2@p")])).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("hunter2") && text.contains("$https_proxy"), "{text}");
    assert!(matches!(
        &err,
        Error::Proxy(e) if matches!(e.kind, ProxyErrorKind::InvalidUrl(_))
    ));
}

#[test]
fn environment_follows_curl() {
    let p = "http://lower:1";
    let up = "http://upper:2";
    let all = "http://all:3";
    // ws:// reads only lower-case http_proxy (httpoxy).
    assert_eq!(chosen(&[("http_proxy", p)], false, "h").as_deref(), Some(p));
    assert_eq!(chosen(&[("HTTP_PROXY", up)], false, "h"), None);
    assert_eq!(chosen(&[("https_proxy", p)], false, "h"), None);
    // wss:// reads https_proxy, else HTTPS_PROXY; lower case wins.
    assert_eq!(chosen(&[("HTTPS_PROXY", up)], true, "h").as_deref(), Some(up));
    assert_eq!(chosen(&[("HTTPS_PROXY", up), ("https_proxy", p)], true, "h").as_deref(), Some(p));
    assert_eq!(chosen(&[("http_proxy", p)], true, "h"), None);
    // ALL_PROXY otherwise, lower case first; the scheme's own variable wins over it.
    assert_eq!(chosen(&[("ALL_PROXY", up)], false, "h").as_deref(), Some(up));
    assert_eq!(chosen(&[("ALL_PROXY", up), ("all_proxy", all)], true, "h").as_deref(), Some(all));
    assert_eq!(chosen(&[("all_proxy", all), ("http_proxy", p)], false, "h").as_deref(), Some(p));
    // Empty is unset.
    assert_eq!(chosen(&[("https_proxy", ""), ("HTTPS_PROXY", up)], true, "h").as_deref(), Some(up));
    assert_eq!(chosen(&[("http_proxy", " ")], false, "h"), None);
    // Loopback goes through the proxy unless NO_PROXY says otherwise.
    assert_eq!(chosen(&[("http_proxy", p)], false, "127.0.0.1").as_deref(), Some(p));
    assert_eq!(chosen(&[("http_proxy", p), ("NO_PROXY", "127.0.0.1")], false, "127.0.0.1"), None);
    // Lower-case no_proxy wins over NO_PROXY.
    let both = [("http_proxy", p), ("no_proxy", "other"), ("NO_PROXY", "h")];
    assert_eq!(chosen(&both, false, "h").as_deref(), Some(p));
    assert_eq!(chosen(&[("http_proxy", p), ("no_proxy", "*")], false, "h"), None);
    // The variable is remembered for error messages.
    let proxy = from_env(false, "h", 1, env(&[("http_proxy", p)])).unwrap().unwrap();
    assert_eq!(proxy.variable, Some("http_proxy"));
    assert_eq!(
        from_env(false, "h", 1, env(&[("ALL_PROXY", p)])).unwrap().unwrap().variable,
        Some("ALL_PROXY")
    );
}

#[test]
fn no_proxy_matches_names_suffixes_ips_ranges_and_ports() {
    let m = no_proxy_matches;
    assert!(m("*", "anything.example", 80));
    assert!(m("a, *", "anything.example", 80));
    assert!(!m("", "h", 80));
    // Names match themselves and subdomains, never a mere string suffix.
    assert!(m("example.com", "example.com", 80));
    assert!(m("example.com", "ws.Example.com", 80) || m("example.com", "ws.example.com", 80));
    assert!(m(".example.com", "ws.example.com", 80));
    assert!(m("*.example.com", "ws.example.com", 80));
    assert!(m(".example.com", "example.com", 80));
    assert!(!m("example.com", "badexample.com", 80));
    assert!(!m("ws.example.com", "example.com", 80));
    assert!(m("EXAMPLE.com.", "example.com.", 80));
    assert!(m(" other , example.com ", "example.com", 80));
    // Ports limit an entry.
    assert!(m("example.com:9001", "example.com", 9001));
    assert!(!m("example.com:9001", "example.com", 80));
    // IP addresses, IPv6 with or without brackets, and ranges.
    assert!(m("127.0.0.1", "127.0.0.1", 80));
    assert!(!m("127.0.0.1", "127.0.0.2", 80));
    assert!(m("::1", "::1", 80));
    assert!(m("[::1]", "::1", 80));
    assert!(m("[0:0::1]:9001", "::1", 9001));
    assert!(!m("[::1]:9001", "::1", 80));
    assert!(m("127.0.0.0/8", "127.1.2.3", 80));
    assert!(!m("10.0.0.0/8", "127.1.2.3", 80));
    assert!(m("fd00::/8", "fd12::1", 80));
    assert!(m("0.0.0.0/0", "8.8.8.8", 80));
    assert!(!m("127.0.0.0/8", "localhost", 80));
    assert!(!m("127.0.0.1", "localhost", 80));
}

#[test]
fn connect_responses_parse_or_ask_for_more() {
    let ok = b"HTTP/1.0 200 Connection established\r\nProxy-agent: x\r\n\r\n";
    assert!(matches!(
        parse_connect_response(ok),
        Ok(Some((200, ref r, n))) if r == "Connection established" && n == ok.len()
    ));
    assert!(matches!(parse_connect_response(&ok[..20]), Ok(None)));
    assert!(matches!(parse_connect_response(b"SSH-2.0-OpenSSH\r\n"), Err(Fault::Kind(_))));
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("a%20b%2fc%zz%"), Some("a b/c%zz%".to_owned()));
    assert_eq!(percent_decode("%C3%A9"), Some("é".to_owned()));
    assert_eq!(percent_decode("%ff"), None);
}

/// A proxy played by the test: for each step reads that many bytes and writes the answer,
/// then keeps the connection open until the client is done. Returns the proxy and what the
/// client sent.
async fn scripted_proxy(
    scheme: &str,
    steps: Vec<(usize, Vec<u8>)>,
) -> (Proxy, tokio::task::JoinHandle<Vec<u8>>) {
    scripted_proxy_then(scheme, steps, false).await
}

/// As [`scripted_proxy`]; with `close`, the proxy closes the connection after the steps.
async fn scripted_proxy_then(
    scheme: &str,
    steps: Vec<(usize, Vec<u8>)>,
    close: bool,
) -> (Proxy, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        for (want, answer) in steps {
            let mut buf = vec![0u8; want];
            if want > 0 {
                tcp.read_exact(&mut buf).await.unwrap();
            }
            seen.extend_from_slice(&buf);
            tcp.write_all(&answer).await.unwrap();
        }
        if close {
            return seen;
        }
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest).await;
        seen
    });
    (Proxy::parse(&format!("{scheme}{addr}")).unwrap(), task)
}

async fn tunnel_error(proxy: &Proxy, dest: Destination<'_>) -> ProxyError {
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), proxy.tunnel(dest))
        .await
        .expect("the tunnel attempt ends");
    match result {
        Err(Error::Proxy(e)) => *e,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_endless_connect_answer_is_an_error_not_an_allocation() {
    let request = b"CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n".to_vec();
    let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
    while answer.len() < 64 << 10 {
        answer.extend_from_slice(
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    let (proxy, seen) = scripted_proxy("http://", vec![(request.len(), answer)]).await;
    let e = tunnel_error(&proxy, Destination::Name("example.com", 80)).await;
    assert!(
        matches!(&e.kind, ProxyErrorKind::Protocol(m) if m.contains("8192 bytes") || m.contains("not HTTP")),
        "{e}"
    );
    drop(e);
    assert_eq!(seen.await.unwrap(), request);
}

#[tokio::test]
async fn connect_statuses_become_kinds_and_basic_auth_is_sent() {
    // RFC 7617: base64("u@x:p w") = "dUB4OnAgdw==".
    let request = b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\
                    Proxy-Authorization: Basic dUB4OnAgdw==\r\n\r\n"
        .to_vec();
    let answer = b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n".to_vec();
    let (proxy, seen) = scripted_proxy("http://u%40x:p%20w@", vec![(request.len(), answer)]).await;
    let e = tunnel_error(&proxy, Destination::Name("::1", 443)).await;
    assert!(matches!(e.kind, ProxyErrorKind::AuthRequired { rejected: true }), "{e}");
    assert_eq!(e.target, "[::1]:443");
    assert!(!e.to_string().contains("p w") && !e.to_string().contains("%20w"), "{e}");
    assert_eq!(seen.await.unwrap(), request);

    let request = b"CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n".to_vec();
    let answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!".to_vec();
    let (proxy, _) = scripted_proxy("http://", vec![(request.len(), answer)]).await;
    let e = tunnel_error(&proxy, Destination::Name("h", 1)).await;
    let refusal = ProxyRefusal::Http { status: 403, reason: "Forbidden".into() };
    assert!(matches!(&e.kind, ProxyErrorKind::Refused(r) if *r == refusal), "{e}");

    let answer = b"HTTP/1.1 200 OK\r\n\r\nsurprise".to_vec();
    let (proxy, _) = scripted_proxy("http://", vec![(request.len(), answer)]).await;
    let e = tunnel_error(&proxy, Destination::Name("h", 1)).await;
    assert!(matches!(&e.kind, ProxyErrorKind::Protocol(m) if m.contains("after its CONNECT")));

    let (proxy, _) = scripted_proxy_then("http://", vec![(request.len(), Vec::new())], true).await;
    let e = tunnel_error(&proxy, Destination::Name("h", 1)).await;
    assert!(matches!(&e.kind, ProxyErrorKind::Protocol(m) if m.contains("closed")), "{e}");
}

#[tokio::test]
async fn socks5_dialogue_with_auth_and_a_domain_reply() {
    let steps = vec![
        // Greeting: version 5, two methods, none and user/password; the proxy picks 0x02.
        (4, vec![0x05, 0x02]),
        // RFC 1929: version 1, "me", "pw"; success.
        (7, vec![0x01, 0x00]),
        // CONNECT to the domain "localhost" port 9001; success, bound to a domain name.
        (3 + 1 + 1 + 9 + 2, [&[0x05, 0x00, 0x00, 0x03, 0x04][..], b"bind", &[0x23, 0x29]].concat()),
    ];
    let (proxy, seen) = scripted_proxy("socks5h://me:pw@", steps).await;
    let tcp = proxy.tunnel(Destination::Name("localhost", 9001)).await.unwrap();
    drop(tcp);
    let expect = [
        &[0x05, 0x02, 0x00, 0x02][..],
        &[0x01, 0x02, b'm', b'e', 0x02, b'p', b'w'],
        &[0x05, 0x01, 0x00, 0x03, 0x09],
        b"localhost",
        &[0x23, 0x29],
    ]
    .concat();
    assert_eq!(seen.await.unwrap(), expect);
}

#[tokio::test]
async fn socks5_failures_become_kinds() {
    // No acceptable method without credentials: authentication required.
    let (proxy, _) = scripted_proxy("socks5://", vec![(3, vec![0x05, 0xff])]).await;
    let e = tunnel_error(&proxy, Destination::Addr("127.0.0.1:1".parse().unwrap())).await;
    assert!(matches!(e.kind, ProxyErrorKind::AuthRequired { rejected: false }), "{e}");
    // Credentials refused.
    let steps = vec![(4, vec![0x05, 0x02]), (5, vec![0x01, 0x01])];
    let (proxy, _) = scripted_proxy("socks5://a:b@", steps).await;
    let e = tunnel_error(&proxy, Destination::Addr("127.0.0.1:1".parse().unwrap())).await;
    assert!(matches!(e.kind, ProxyErrorKind::AuthRequired { rejected: true }), "{e}");
    // Reply 0x05: connection refused, with its RFC 1928 meaning.
    let steps = vec![(3, vec![0x05, 0x00]), (10, vec![0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0])];
    let (proxy, _) = scripted_proxy("socks5://", steps).await;
    let e = tunnel_error(&proxy, Destination::Addr("127.0.0.1:1".parse().unwrap())).await;
    assert!(matches!(&e.kind, ProxyErrorKind::Refused(ProxyRefusal::Socks { reply: 0x05 })));
    assert!(e.to_string().contains("reply 0x05, connection refused"), "{e}");
    // Not a SOCKS5 proxy at all.
    let (proxy, _) = scripted_proxy("socks5://", vec![(3, b"HTTP/1.1 400".to_vec())]).await;
    let e = tunnel_error(&proxy, Destination::Addr("[::1]:1".parse().unwrap())).await;
    assert!(matches!(&e.kind, ProxyErrorKind::Protocol(m) if m.contains("SOCKS5 proxy?")), "{e}");
    // A reply cut short.
    let steps = vec![(3, vec![0x05, 0x00]), (22, vec![0x05, 0x00, 0x00, 0x04, 0, 0])];
    let (proxy, _) = scripted_proxy_then("socks5://", steps, true).await;
    let e = tunnel_error(&proxy, Destination::Addr("[::1]:1".parse().unwrap())).await;
    assert!(matches!(&e.kind, ProxyErrorKind::Protocol(m) if m.contains("middle")), "{e}");
}

#[tokio::test]
async fn an_unreachable_proxy_says_so() {
    // Bind then drop: nothing listens on that port now.
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let proxy = Proxy::parse(&format!("http://{addr}")).unwrap();
    let e = tunnel_error(&proxy, Destination::Name("h", 1)).await;
    assert!(
        matches!(&e.kind, ProxyErrorKind::Unreachable(io) if io.kind() == io::ErrorKind::ConnectionRefused)
    );
    assert!(e.to_string().starts_with(&format!("cannot reach the proxy http://{addr}: ")), "{e}");
}

#[tokio::test]
async fn socks5_tries_the_next_address_when_one_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut asked = Vec::new();
        // The first address: reply 0x05 (connection refused); the second: success.
        for reply in [0x05, 0x00] {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut greeting = [0u8; 3];
            tcp.read_exact(&mut greeting).await.unwrap();
            tcp.write_all(&[0x05, 0x00]).await.unwrap();
            let mut request = [0u8; 10];
            tcp.read_exact(&mut request).await.unwrap();
            asked.push(u16::from_be_bytes([request[8], request[9]]));
            tcp.write_all(&[0x05, reply, 0x00, 0x01, 0, 0, 0, 0, 0, 0]).await.unwrap();
        }
        asked
    });
    let proxy = Proxy::parse(&format!("socks5://{addr}")).unwrap();
    let addrs = ["127.0.0.1:7001".parse().unwrap(), "127.0.0.1:7002".parse().unwrap()];
    let tunnel =
        tokio::time::timeout(std::time::Duration::from_secs(10), proxy.tunnel_to_any(&addrs));
    tunnel.await.unwrap().unwrap();
    assert_eq!(task.await.unwrap(), [7001, 7002]);

    // Other failures end the attempt at once.
    let e = tokio::time::timeout(std::time::Duration::from_secs(10), proxy.tunnel_to_any(&addrs))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(&e, Error::Proxy(p) if matches!(p.kind, ProxyErrorKind::Unreachable(_))));
}
