//! Tests of the client side and of client<->server round trips.

use crate::config::Config;
use crate::error::HandshakeError;
use crate::random::OsRandom;

use super::headers::*;
use super::test_util::*;
use super::*;

// ---- accept key -------------------------------------------------------------------------

#[test]
fn accept_key_rfc_1_3() {
    assert_eq!(accept_key(KEY.as_bytes()), ACCEPT);
    assert_ne!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=!"), ACCEPT);
}

// ---- client request ---------------------------------------------------------------------

#[test]
fn client_writes_exact_request() {
    let r = ClientRequest {
        origin: Some("http://example.com".into()),
        protocols: vec!["chat".into(), "superchat".into()],
        extensions: Some("permessage-deflate".into()),
        headers: vec![("Authorization".into(), "Bearer abc".into())],
        ..req()
    };
    let mut out = b"keep".to_vec();
    let c = ClientHandshake::with_key(&r, KEY.into(), &mut out).unwrap();
    assert_eq!(c.key(), KEY);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "keepGET /chat?x=1 HTTP/1.1\r\n\
         Host: example.com:9001\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Origin: http://example.com\r\n\
         Sec-WebSocket-Protocol: chat, superchat\r\n\
         Sec-WebSocket-Extensions: permessage-deflate\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Authorization: Bearer abc\r\n\
         \r\n"
    );
}

#[test]
fn empty_path_means_root() {
    let mut out = Vec::new();
    let r = ClientRequest { path: String::new(), ..req() };
    ClientHandshake::with_key(&r, KEY.into(), &mut out).unwrap();
    assert!(out.starts_with(b"GET / HTTP/1.1\r\n"));
}

#[test]
fn new_uses_fresh_16_byte_keys() {
    let mut out = Vec::new();
    let a = ClientHandshake::new(&req(), &OsRandom, &mut out).unwrap();
    let b = ClientHandshake::new(&req(), &OsRandom, &mut Vec::new()).unwrap();
    assert_ne!(a.key(), b.key());
    for k in [a.key(), b.key()] {
        assert_eq!(BASE64.decode(k).unwrap().len(), 16);
    }
    let sent = validate_request(&server_parse(&out)).unwrap();
    assert_eq!(sent.key, a.key());
}

#[test]
fn with_key_rejects_bad_keys() {
    for key in [
        "",
        "not base64!",
        "AAAAAAAAAAAAAAAAAAAA",             // 15 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",     // 20 bytes
        "dGhlIHNhbXBsZSBub25jZQ==\r\nX: y", // injection
    ] {
        let mut out = Vec::new();
        let err = ClientHandshake::with_key(&req(), key.into(), &mut out).unwrap_err();
        assert!(
            matches!(err, HandshakeError::InvalidRequestHeader { ref name, .. } if name == "key"),
            "{key:?}: {err:?}"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn caller_strings_cannot_inject_lines() {
    let cases: Vec<(&str, ClientRequest)> = vec![
        ("host", ClientRequest { host: "a\r\nX-Evil: 1".into(), ..req() }),
        ("host", ClientRequest { host: String::new(), ..req() }),
        ("host", ClientRequest { host: "a b".into(), ..req() }),
        ("path", ClientRequest { path: "/a HTTP/1.1\r\nX: y".into(), ..req() }),
        ("path", ClientRequest { path: "chat".into(), ..req() }),
        ("origin", ClientRequest { origin: Some("o\nX: y".into()), ..req() }),
        ("subprotocol", ClientRequest { protocols: vec!["a\r\nb".into()], ..req() }),
        ("subprotocol", ClientRequest { protocols: vec!["a b".into()], ..req() }),
        ("subprotocol", ClientRequest { protocols: vec![String::new()], ..req() }),
        ("subprotocol", ClientRequest { protocols: vec!["a".into(), "a".into()], ..req() }),
        ("extensions", ClientRequest { extensions: Some("x\r\n".into()), ..req() }),
        (
            "X-Ok",
            ClientRequest { headers: vec![("X-Ok".into(), "1\r\nX-Evil: 2".into())], ..req() },
        ),
        ("X-Ok", ClientRequest { headers: vec![("X-Ok".into(), "nul\0".into())], ..req() }),
        ("X Bad", ClientRequest { headers: vec![("X Bad".into(), "1".into())], ..req() }),
        ("X:Bad", ClientRequest { headers: vec![("X:Bad".into(), "1".into())], ..req() }),
        ("", ClientRequest { headers: vec![(String::new(), "1".into())], ..req() }),
        (
            "sec-websocket-key",
            ClientRequest { headers: vec![("sec-websocket-key".into(), KEY.into())], ..req() },
        ),
        (
            "Content-Length",
            ClientRequest { headers: vec![("Content-Length".into(), "5".into())], ..req() },
        ),
    ];
    for (what, r) in cases {
        let mut out = Vec::new();
        let err = ClientHandshake::with_key(&r, KEY.into(), &mut out).unwrap_err();
        match &err {
            HandshakeError::InvalidRequestHeader { name, .. } => assert_eq!(name, what),
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(err.status(), 500);
        assert!(out.is_empty(), "{what}: wrote {out:?}");
    }
    // Tabs and non-ASCII are legal field values.
    let ok = ClientRequest { headers: vec![("X-Ok".into(), "a\tb é".into())], ..req() };
    assert!(ClientHandshake::with_key(&ok, KEY.into(), &mut Vec::new()).is_ok());
}

// ---- round trips ------------------------------------------------------------------------

#[test]
fn round_trip_with_chosen_subprotocol() {
    let config = Config::default();
    let r = ClientRequest {
        origin: Some("https://example.com".into()),
        protocols: vec!["v2.chat".into(), "chat".into()],
        ..req()
    };
    let mut wire = Vec::new();
    let client = ClientHandshake::new(&r, &OsRandom, &mut wire).unwrap();

    let (request, consumed) = complete(parse_request(&wire, &config));
    assert_eq!(consumed, wire.len());
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/chat?x=1");
    assert_eq!(request.version, 1);
    assert!(request.is_websocket_upgrade());
    assert_eq!(request.origin(), Some("https://example.com"));
    assert_eq!(request.header("host"), Some(&b"example.com:9001"[..]));
    let upgrade = validate_request(&request).unwrap();
    assert_eq!(upgrade.key, client.key());
    assert_eq!(upgrade.protocols, ["v2.chat", "chat"]);
    assert_eq!(upgrade.extensions, None);

    let mut back = Vec::new();
    write_accept(&upgrade, Some("chat"), &[("X-Server".into(), "t".into())], &mut back);
    let (response, consumed) = complete(client.parse_response(&back, &config));
    assert_eq!(consumed, back.len());
    assert_eq!(response.status, 101);
    assert_eq!(response.reason, "Switching Protocols");
    assert_eq!(response.header("x-server"), Some(&b"t"[..]));
    let accepted = client.validate(&response).unwrap();
    assert_eq!(accepted, Accepted { protocol: Some("chat".into()), extensions: None });
}

#[test]
fn round_trip_without_subprotocol_and_with_extension() {
    let config = Config::default();
    let r = ClientRequest {
        extensions: Some("permessage-deflate; client_max_window_bits".into()),
        ..req()
    };
    let mut wire = Vec::new();
    let client = ClientHandshake::new(&r, &OsRandom, &mut wire).unwrap();
    let upgrade = validate_request(&complete(parse_request(&wire, &config)).0).unwrap();
    assert!(upgrade.protocols.is_empty());
    assert_eq!(upgrade.extensions.as_deref(), Some("permessage-deflate; client_max_window_bits"));
    let mut back = Vec::new();
    let ext = ("Sec-WebSocket-Extensions".to_string(), "permessage-deflate".to_string());
    write_accept(&upgrade, None, &[ext], &mut back);
    let response = complete(client.parse_response(&back, &config)).0;
    assert_eq!(response.header("Sec-WebSocket-Protocol"), None);
    let accepted = client.validate(&response).unwrap();
    assert_eq!(accepted.protocol, None);
    assert_eq!(accepted.extensions.as_deref(), Some("permessage-deflate"));
}

// ---- client validation ------------------------------------------------------------------

#[test]
fn client_accepts_token_lists_in_any_case() {
    let client = client_with(&[], None);
    let resp = response_with(&[
        "HTTP/1.1 101 Switching Protocols",
        "upgrade: WebSocket",
        "CONNECTION: keep-alive, Upgrade",
        &format!("sec-websocket-accept:  {ACCEPT} "),
    ]);
    assert_eq!(client.validate(&resp).unwrap(), Accepted { protocol: None, extensions: None });
    // Connection split over two headers.
    let resp = response_with(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: keep-alive",
        "Connection: upgrade",
        &format!("Sec-WebSocket-Accept: {ACCEPT}"),
    ]);
    assert!(client.validate(&resp).is_ok());
}

#[test]
fn client_rejects_missing_or_wrong_upgrade_and_connection() {
    let client = client_with(&[], None);
    let accept = format!("Sec-WebSocket-Accept: {ACCEPT}");
    let cases: &[(&[&str], HandshakeError)] = &[
        (&["Connection: Upgrade"], HandshakeError::MissingHeader("Upgrade")),
        (&["Upgrade: websocket"], HandshakeError::MissingHeader("Connection")),
        (&["Upgrade: websockets", "Connection: Upgrade"], invalid("Upgrade", b"websockets")),
        (
            &["Upgrade: websocket", "Connection: upgrade-insecure-requests"],
            invalid("Connection", b"upgrade-insecure-requests"),
        ),
    ];
    for (lines, want) in cases {
        let mut all = vec!["HTTP/1.1 101 Switching Protocols", accept.as_str()];
        all.extend_from_slice(lines);
        assert_eq!(client.validate(&response_with(&all)).unwrap_err(), *want);
    }
}

#[test]
fn client_rejects_status_other_than_101() {
    let client = client_with(&[], None);
    let resp = response_with(&["HTTP/1.1 200 OK", "Content-Length: 0"]);
    let err = client.validate(&resp).unwrap_err();
    assert_eq!(err, HandshakeError::Status { status: 200 });
    assert_eq!(err.status(), 502);
}

#[test]
fn client_rejects_wrong_missing_or_duplicate_accept() {
    let client = client_with(&[], None);
    let wrong = response_with(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        // The accept for a different key.
        &format!("Sec-WebSocket-Accept: {}", accept_key(b"AAAAAAAAAAAAAAAAAAAAAA==")),
    ]);
    assert_eq!(client.validate(&wrong).unwrap_err(), HandshakeError::AcceptMismatch);
    // The key itself, not its accept.
    let echoed = response_with(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &format!("Sec-WebSocket-Accept: {KEY}"),
    ]);
    assert_eq!(client.validate(&echoed).unwrap_err(), HandshakeError::AcceptMismatch);
    let missing = response_with(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
    ]);
    assert_eq!(
        client.validate(&missing).unwrap_err(),
        HandshakeError::MissingHeader("Sec-WebSocket-Accept")
    );
    let twice = response_plus(&[&format!("Sec-WebSocket-Accept: {ACCEPT}")]);
    assert!(matches!(
        client.validate(&twice).unwrap_err(),
        HandshakeError::InvalidHeader { name: "Sec-WebSocket-Accept", .. }
    ));
}

#[test]
fn client_checks_subprotocol_was_offered() {
    let offered = client_with(&["chat", "superchat"], None);
    let ok = response_plus(&["Sec-WebSocket-Protocol: superchat"]);
    assert_eq!(offered.validate(&ok).unwrap().protocol.as_deref(), Some("superchat"));
    let none_chosen = response_plus(&[]);
    assert_eq!(offered.validate(&none_chosen).unwrap().protocol, None);

    let cases: &[(&ClientHandshake, &[&str], &str)] = &[
        (&offered, &["Sec-WebSocket-Protocol: mqtt"], "mqtt"),
        // Subprotocol names are compared exactly.
        (&offered, &["Sec-WebSocket-Protocol: Chat"], "Chat"),
        (&offered, &["Sec-WebSocket-Protocol: chat, superchat"], "chat, superchat"),
        (&offered, &["Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: chat"], "chat, chat"),
        (&offered, &["Sec-WebSocket-Protocol: "], ""),
    ];
    for (client, extra, want) in cases {
        assert_eq!(
            client.validate(&response_plus(extra)).unwrap_err(),
            HandshakeError::UnofferedSubprotocol(want.to_string()),
            "{extra:?}"
        );
    }
    let not_offered = client_with(&[], None);
    assert_eq!(
        not_offered.validate(&ok).unwrap_err(),
        HandshakeError::UnofferedSubprotocol("superchat".into())
    );
}

#[test]
fn client_checks_extensions_were_offered() {
    let none = client_with(&[], None);
    let deflate = response_plus(&["Sec-WebSocket-Extensions: permessage-deflate"]);
    let err = none.validate(&deflate).unwrap_err();
    assert_eq!(err, HandshakeError::UnofferedExtension("permessage-deflate".into()));
    assert_eq!(err.status(), 502);
    // An empty header carries no extension.
    let empty = response_plus(&["Sec-WebSocket-Extensions: "]);
    assert_eq!(none.validate(&empty).unwrap().extensions, None);

    let offered = client_with(&[], Some("permessage-deflate; client_max_window_bits, x-foo"));
    let with_params =
        response_plus(&["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10"]);
    assert_eq!(
        offered.validate(&with_params).unwrap().extensions.as_deref(),
        Some("permessage-deflate; server_max_window_bits=10")
    );
    let two = response_plus(&[
        "Sec-WebSocket-Extensions: permessage-deflate",
        "Sec-WebSocket-Extensions: X-Foo",
    ]);
    assert_eq!(
        offered.validate(&two).unwrap().extensions.as_deref(),
        Some("permessage-deflate, X-Foo")
    );
    let other = response_plus(&["Sec-WebSocket-Extensions: x-foo, x-bar; a=\"1,2\""]);
    assert_eq!(
        offered.validate(&other).unwrap_err(),
        HandshakeError::UnofferedExtension("x-bar; a=\"1,2\"".into())
    );
}
