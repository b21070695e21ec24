//! Tests of the server side: validation, writers, status mapping.

use crate::error::HandshakeError;

use super::headers::*;
use super::test_util::*;
use super::*;

// ---- server validation ------------------------------------------------------------------

#[test]
fn server_accepts_the_minimal_handshake() {
    let u = validate_request(&request_with(GOOD)).unwrap();
    assert_eq!(u.key, KEY);
    assert!(u.protocols.is_empty());
    assert_eq!(u.extensions, None);
}

#[test]
fn server_accepts_token_lists_in_any_case() {
    for (upgrade, connection) in [
        ("Upgrade: WebSocket", "Connection: keep-alive, Upgrade"),
        ("upgrade: websocket", "connection: UPGRADE"),
        ("Upgrade: h2c, websocket", "Connection: Upgrade,keep-alive"),
    ] {
        let mut lines = GOOD.to_vec();
        lines[2] = upgrade;
        lines[3] = connection;
        let r = request_with(&lines);
        assert!(r.is_websocket_upgrade(), "{upgrade}");
        assert!(validate_request(&r).is_ok(), "{upgrade} / {connection}");
    }
    let mut lines = GOOD.to_vec();
    lines[3] = "Connection: keep-alive";
    lines.push("Connection: Upgrade");
    assert!(validate_request(&request_with(&lines)).is_ok());
}

#[test]
fn server_rejects_bad_upgrade_and_connection() {
    let cases = [
        (2, None, HandshakeError::MissingHeader("Upgrade")),
        (2, Some("Upgrade: websocket2"), invalid("Upgrade", b"websocket2")),
        (2, Some("Upgrade: h2c"), invalid("Upgrade", b"h2c")),
        (3, None, HandshakeError::MissingHeader("Connection")),
        (3, Some("Connection: keep-alive"), invalid("Connection", b"keep-alive")),
        (3, Some("Connection: upgrade-insecure"), invalid("Connection", b"upgrade-insecure")),
    ];
    for (i, line, want) in cases {
        let err = validate_request(&good_but(i, line)).unwrap_err();
        assert_eq!(err, want, "{line:?}");
        assert_eq!(err.status(), 400);
    }
    assert!(!good_but(2, Some("Upgrade: websocket2")).is_websocket_upgrade());
}

#[test]
fn version_8_gets_426_with_version_13() {
    let err = validate_request(&good_but(5, Some("Sec-WebSocket-Version: 8"))).unwrap_err();
    assert_eq!(err, HandshakeError::UnsupportedVersion("8".into()));
    assert_eq!(err.status(), 426);
    let mut out = Vec::new();
    write_reject(err.status(), &err.to_string(), &[], &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{text}");
    assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{text}");
    assert!(text.contains("\r\nUpgrade: websocket\r\n"), "{text}");

    // A list with 13 in it is still not exactly 13.
    let mut lines = GOOD.to_vec();
    lines.push("Sec-WebSocket-Version: 8");
    assert_eq!(
        validate_request(&request_with(&lines)).unwrap_err(),
        HandshakeError::UnsupportedVersion("13, 8".into())
    );
    // Checked before the key, so another version's key format still gets 426.
    let mut lines = GOOD.to_vec();
    lines[4] = "Sec-WebSocket-Key: short";
    lines[5] = "Sec-WebSocket-Version: 14";
    assert_eq!(validate_request(&request_with(&lines)).unwrap_err().status(), 426);

    let err = validate_request(&good_but(5, None)).unwrap_err();
    assert_eq!(err, HandshakeError::MissingHeader("Sec-WebSocket-Version"));
    assert_eq!(err.status(), 400);
}

#[test]
fn server_rejects_bad_keys() {
    for (line, value) in [
        // 15 bytes.
        ("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAA"),
        // 17 bytes.
        ("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAAA="),
        // Not base64.
        ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ!!", "dGhlIHNhbXBsZSBub25jZQ!!"),
        // Missing padding.
        ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ"),
    ] {
        let err = validate_request(&good_but(4, Some(line))).unwrap_err();
        assert_eq!(err, invalid("Sec-WebSocket-Key", value.as_bytes()), "{line}");
        assert_eq!(err.status(), 400);
    }
    assert_eq!(
        validate_request(&good_but(4, None)).unwrap_err(),
        HandshakeError::MissingHeader("Sec-WebSocket-Key")
    );
    let mut lines = GOOD.to_vec();
    lines.push("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==");
    assert!(matches!(
        validate_request(&request_with(&lines)).unwrap_err(),
        HandshakeError::InvalidHeader { name: "Sec-WebSocket-Key", .. }
    ));
}

#[test]
fn server_rejects_post_http_1_0_and_missing_host() {
    let err = validate_request(&good_but(0, Some("POST /chat HTTP/1.1"))).unwrap_err();
    assert_eq!(err, HandshakeError::Method("POST".into()));
    assert_eq!(err.status(), 400);
    // Methods are case-sensitive (RFC 9110 §9.1).
    assert_eq!(
        validate_request(&good_but(0, Some("get /chat HTTP/1.1"))).unwrap_err(),
        HandshakeError::Method("get".into())
    );

    let r = good_but(0, Some("GET /chat HTTP/1.0"));
    assert_eq!(r.version, 0);
    let err = validate_request(&r).unwrap_err();
    assert_eq!(err, HandshakeError::Version);
    assert_eq!(err.status(), 400);

    let err = validate_request(&good_but(1, None)).unwrap_err();
    assert_eq!(err, HandshakeError::MissingHeader("Host"));
    assert_eq!(err.status(), 400);
    let mut lines = GOOD.to_vec();
    lines.push("Host: evil.example");
    assert!(matches!(
        validate_request(&request_with(&lines)).unwrap_err(),
        HandshakeError::InvalidHeader { name: "Host", .. }
    ));
}

#[test]
fn server_collects_offers() {
    let mut lines = GOOD.to_vec();
    lines.extend([
        "Sec-WebSocket-Protocol: chat, ,superchat",
        "sec-websocket-protocol: v2",
        "Sec-WebSocket-Extensions: permessage-deflate",
        "Sec-WebSocket-Extensions: x-foo",
        "Origin: http://example.com",
    ]);
    let r = request_with(&lines);
    assert_eq!(r.protocols(), ["chat", "superchat", "v2"]);
    assert_eq!(r.origin(), Some("http://example.com"));
    let u = validate_request(&r).unwrap();
    assert_eq!(u.protocols, ["chat", "superchat", "v2"]);
    assert_eq!(u.extensions.as_deref(), Some("permessage-deflate, x-foo"));

    let mut lines = GOOD.to_vec();
    lines.push("Sec-WebSocket-Protocol: a/b");
    assert_eq!(
        validate_request(&request_with(&lines)).unwrap_err(),
        invalid("Sec-WebSocket-Protocol", b"a/b")
    );
}

#[test]
fn plain_get_is_not_an_upgrade() {
    let r = request_with(&["GET / HTTP/1.1", "Host: example.com", "Accept: text/html"]);
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/");
    assert!(!r.is_websocket_upgrade());
    assert_eq!(r.origin(), None);
    assert!(r.protocols().is_empty());
    assert_eq!(validate_request(&r).unwrap_err(), HandshakeError::MissingHeader("Upgrade"));
    // HTTP/1.0 without Host parses too.
    let r = request_with(&["GET /health HTTP/1.0"]);
    assert_eq!(r.version, 0);
    assert!(r.headers.is_empty());
}

// ---- writers ----------------------------------------------------------------------------

#[test]
fn write_reject_exact_bytes() {
    let mut out = Vec::new();
    write_reject(404, "no such path\n", &[("X-Trace".into(), "7".into())], &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 404 Not Found\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 13\r\n\
         Connection: close\r\n\
         X-Trace: 7\r\n\
         \r\n\
         no such path\n"
    );
}

#[test]
fn write_reject_reason_phrases_and_lengths() {
    for (status, line) in [
        (400, "HTTP/1.1 400 Bad Request\r\n"),
        (403, "HTTP/1.1 403 Forbidden\r\n"),
        (405, "HTTP/1.1 405 Method Not Allowed\r\n"),
        (426, "HTTP/1.1 426 Upgrade Required\r\n"),
        (431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        (500, "HTTP/1.1 500 Internal Server Error\r\n"),
        (503, "HTTP/1.1 503 Service Unavailable\r\n"),
        (429, "HTTP/1.1 429 Error\r\n"),
        (200, "HTTP/1.1 500 Internal Server Error\r\n"),
        (101, "HTTP/1.1 500 Internal Server Error\r\n"),
        (1000, "HTTP/1.1 500 Internal Server Error\r\n"),
    ] {
        let mut out = Vec::new();
        write_reject(status, "é", &[], &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(line), "{status}: {text}");
        assert!(text.contains("\r\nContent-Length: 2\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\né"), "{text}");
        assert_eq!(text.contains("Sec-WebSocket-Version: 13"), status == 426, "{text}");
    }
}

#[test]
fn writers_skip_unsafe_and_reserved_extra_headers() {
    let extra: Vec<(String, String)> = vec![
        ("X-Evil".into(), "1\r\nSet-Cookie: a=b".into()),
        ("Bad Name".into(), "1".into()),
        ("content-length".into(), "99".into()),
        ("Connection".into(), "keep-alive".into()),
        ("X-Good".into(), "yes".into()),
    ];
    let mut out = Vec::new();
    write_reject(400, "bad", &extra, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("Set-Cookie"), "{text}");
    assert!(!text.contains("Bad Name"), "{text}");
    assert!(!text.contains("99"), "{text}");
    assert!(!text.contains("keep-alive"), "{text}");
    assert!(text.contains("\r\nX-Good: yes\r\n"), "{text}");

    let upgrade = Upgrade { key: KEY.into(), protocols: vec![], extensions: None };
    let mut out = Vec::new();
    let mut extra = extra;
    extra.push(("Sec-WebSocket-Accept".into(), "forged".into()));
    write_accept(&upgrade, Some("bad\r\nX: y"), &extra, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        format!(
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\
             X-Good: yes\r\n\
             \r\n"
        )
    );
    assert!(check_header("X-Good", "yes").is_ok());
    assert!(check_header("X-Evil", "a\nb").is_err());
}

#[test]
fn status_mapping() {
    use HandshakeError::*;
    let cases = [
        (UnsupportedVersion("8".into()), 426),
        (HeadTooLarge(1), 431),
        (TooManyHeaders(1), 431),
        (Http(String::new()), 400),
        (Method("POST".into()), 400),
        (Version, 400),
        (MissingHeader("Host"), 400),
        (invalid("Upgrade", b""), 400),
        (Status { status: 200 }, 502),
        (AcceptMismatch, 502),
        (UnofferedSubprotocol(String::new()), 502),
        (UnofferedExtension(String::new()), 502),
        (ExtensionResponse { value: String::new(), reason: "" }, 502),
        (bad_request_header("host", ""), 500),
        (Random(String::new()), 500),
    ];
    for (err, status) in cases {
        assert_eq!(err.status(), status, "{err:?}");
    }
}

#[test]
fn headers_keep_order_and_compare_names_without_case() {
    let r = request_with(&[
        "GET / HTTP/1.1",
        "Host: a",
        "X-List: 1",
        "x-list: \t 2 \t",
        "Sec-WebSocket-Protocol: chat",
    ]);
    // RFC 9112 §5.1: the whitespace around a value is not part of it.
    assert_eq!(r.headers.len(), 4);
    assert!(!r.headers.is_empty());
    assert_eq!(r.headers.get("X-LIST"), Some(&b"1"[..]));
    assert_eq!(r.headers.get_all("x-list").collect::<Vec<_>>(), [&b"1"[..], b"2"]);
    assert_eq!(r.headers.joined("X-List"), Some(b"1, 2".to_vec()));
    assert_eq!(r.headers.get("X-None"), None);
    let names: Vec<&str> = r.headers.iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["Host", "X-List", "x-list", "Sec-WebSocket-Protocol"]);
    assert!(matches!(r.headers.single("X-List"), Err(HandshakeError::InvalidHeader { .. })));
    assert_eq!(r.headers.single("Host"), Ok(&b"a"[..]));
}

#[test]
fn one_key_check_for_both_sides() {
    // RFC 6455 §4.1 item 7: base64 of 16 bytes; the client refuses to send what the server
    // would refuse to accept.
    for (key, ok) in [
        (KEY, true),
        ("AAAAAAAAAAAAAAAAAAAAAA==", true),
        ("dGhlIHNhbXBsZSBub25jZQ", false),
        ("dGhlIHNhbXBsZSBub25jZQ==x", false),
        ("c2hvcnQ=", false),
        ("", false),
    ] {
        assert_eq!(is_valid_key(key.as_bytes()), ok, "{key:?}");
        let client = ClientHandshake::with_key(&req(), key.into(), &mut Vec::new());
        assert_eq!(client.is_ok(), ok, "{key:?}");
        let line = format!("Sec-WebSocket-Key: {key}");
        assert_eq!(validate_request(&good_but(4, Some(&line))).is_ok(), ok, "{key:?}");
    }
}

// ---- heads parsed elsewhere (an HTTP library's request, issue 9) ---------------------------

#[test]
fn a_request_built_from_header_pairs_validates_as_the_parsed_one() {
    let parsed = request_with(GOOD);
    let built = Request {
        method: parsed.method.clone(),
        path: parsed.path.clone(),
        version: parsed.version,
        headers: parsed.headers.iter().map(|(n, v)| (n.to_owned(), v.to_vec())).collect(),
    };
    assert_eq!(built, parsed);
    assert_eq!(validate_request(&built).unwrap().key, KEY);
    let mut pushed = Headers::default();
    for (n, v) in parsed.headers.iter() {
        pushed.push(n, v);
    }
    assert_eq!(pushed, parsed.headers);
}

#[test]
fn accept_headers_are_the_lines_write_accept_writes() {
    let upgrade = validate_request(&request_with(GOOD)).unwrap();
    for protocol in [None, Some("chat"), Some("not a token")] {
        let mut out = Vec::new();
        write_accept(&upgrade, protocol, &[], &mut out);
        let mut lines = String::from("HTTP/1.1 101 Switching Protocols\r\n");
        for (n, v) in accept_headers(&upgrade, protocol) {
            lines.push_str(&format!("{n}: {v}\r\n"));
        }
        lines.push_str("\r\n");
        assert_eq!(String::from_utf8(out).unwrap(), lines, "{protocol:?}");
    }
    let names: Vec<_> =
        accept_headers(&upgrade, Some("chat")).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["Upgrade", "Connection", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol"]);
}

#[test]
fn reject_headers_are_those_of_a_426_only() {
    let mut out = Vec::new();
    write_reject(426, "", &[], &mut out);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(reject_headers(426).len(), 2);
    for (n, v) in reject_headers(426) {
        assert!(out.contains(&format!("\r\n{n}: {v}\r\n")), "{out}");
    }
    assert!(reject_headers(400).is_empty() && reject_headers(403).is_empty());
}
