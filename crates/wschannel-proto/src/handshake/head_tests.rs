//! Tests of head parsing: splitting, limits, list grammar.

use crate::config::Config;
use crate::error::HandshakeError;

use super::headers::*;
use super::test_util::*;
use super::*;

// ---- parsing limits and splitting -------------------------------------------------------

#[test]
fn request_split_at_every_offset() {
    let mut head = Vec::new();
    ClientHandshake::with_key(
        &ClientRequest { protocols: vec!["chat".into()], ..req() },
        KEY.into(),
        &mut head,
    )
    .unwrap();
    let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    let mut wire = head.clone();
    wire.extend_from_slice(&frame);
    let config = Config::default();
    for end in 0..head.len() {
        assert_eq!(parse_request(&wire[..end], &config), Ok(Parsed::Partial), "at {end}");
    }
    for end in head.len()..=wire.len() {
        let (r, consumed) = complete(parse_request(&wire[..end], &config));
        assert_eq!(consumed, head.len(), "at {end}");
        assert_eq!(&wire[consumed..end], &frame[..end - head.len()]);
        assert_eq!(r.protocols(), ["chat"]);
    }
}

#[test]
fn response_split_at_every_offset() {
    let upgrade = Upgrade { key: KEY.into(), protocols: vec![], extensions: None };
    let mut head = Vec::new();
    write_accept(&upgrade, None, &[], &mut head);
    let frame = [0x81, 0x05, b'H', b'e', b'l', b'l', b'o'];
    let mut wire = head.clone();
    wire.extend_from_slice(&frame);
    let client = client_with(&[], None);
    let config = Config::default();
    for end in 0..head.len() {
        assert_eq!(client.parse_response(&wire[..end], &config), Ok(Parsed::Partial), "at {end}");
    }
    for end in head.len()..=wire.len() {
        let (resp, consumed) = complete(client.parse_response(&wire[..end], &config));
        assert_eq!(consumed, head.len(), "at {end}");
        assert!(client.validate(&resp).is_ok());
    }
}

/// A request head of exactly `len` bytes.
fn head_of_len(len: usize) -> Vec<u8> {
    let fixed = b"GET / HTTP/1.1\r\nX-Pad: \r\n\r\n".len();
    let mut head = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
    head.extend_from_slice(&vec![b'a'; len - fixed]);
    head.extend_from_slice(b"\r\n\r\n");
    assert_eq!(head.len(), len);
    head
}

#[test]
fn head_over_the_byte_limit() {
    let config = Config::default().max_handshake_bytes(1024);
    let limit = config.max_handshake_bytes;
    // Exactly at the limit: complete, even with stream bytes after it.
    let mut at_limit = head_of_len(limit);
    assert_eq!(complete(parse_request(&at_limit, &config)).1, limit);
    at_limit.extend_from_slice(&[0x81, 0x80, 0, 0, 0, 0]);
    assert_eq!(complete(parse_request(&at_limit, &config)).1, limit);

    // One byte over: too large once the limit is buffered, even though incomplete.
    let over = head_of_len(limit + 1);
    assert_eq!(parse_request(&over[..limit - 1], &config), Ok(Parsed::Partial));
    for end in [limit, limit + 1] {
        let err = parse_request(&over[..end], &config).unwrap_err();
        assert_eq!(err, HandshakeError::HeadTooLarge(limit));
        assert_eq!(err.status(), 431);
    }
    // A client sending endless header bytes is cut off at the limit.
    let endless: Vec<u8> =
        b"GET / HTTP/1.1\r\nX: ".iter().copied().chain(vec![b'a'; 4 * limit]).collect();
    assert_eq!(parse_request(&endless, &config), Err(HandshakeError::HeadTooLarge(limit)));
    // Same for responses.
    let client = client_with(&[], None);
    let endless: Vec<u8> = b"HTTP/1.1 101 Switching Protocols\r\nX: "
        .iter()
        .copied()
        .chain(vec![b'a'; limit])
        .collect();
    assert_eq!(client.parse_response(&endless, &config), Err(HandshakeError::HeadTooLarge(limit)));
    // A complete response one byte over the limit is too large; at the limit it is fine.
    let response_of_len = |len: usize| {
        let fixed = b"HTTP/1.1 101 Switching Protocols\r\nX: \r\n\r\n".len();
        format!("HTTP/1.1 101 Switching Protocols\r\nX: {}\r\n\r\n", "a".repeat(len - fixed))
    };
    let at_limit = response_of_len(limit);
    assert_eq!(complete(client.parse_response(at_limit.as_bytes(), &config)).1, limit);
    let over = response_of_len(limit + 1);
    assert_eq!(
        client.parse_response(over.as_bytes(), &config),
        Err(HandshakeError::HeadTooLarge(limit))
    );
}

#[test]
fn too_many_headers() {
    let config = Config::default().max_headers(8);
    let mut lines = vec!["GET / HTTP/1.1".to_string()];
    lines.extend((0..8).map(|i| format!("X-{i}: v")));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let head = format!("{}\r\n\r\n", refs.join("\r\n"));
    let (r, _) = complete(parse_request(head.as_bytes(), &config));
    assert_eq!(r.headers.len(), 8);
    assert_eq!(r.header("x-7"), Some(&b"v"[..]));

    let head = format!("{}\r\nX-8: v\r\n\r\n", refs.join("\r\n"));
    let err = parse_request(head.as_bytes(), &config).unwrap_err();
    assert_eq!(err, HandshakeError::TooManyHeaders(8));
    assert_eq!(err.status(), 431);
    // Reported as soon as the ninth header is seen, before the head is complete.
    let partial = &head.as_bytes()[..head.len() - 2];
    assert_eq!(parse_request(partial, &config), Err(HandshakeError::TooManyHeaders(8)));

    let client = client_with(&[], None);
    let mut resp = "HTTP/1.1 101 Switching Protocols\r\n".to_string();
    for i in 0..9 {
        resp.push_str(&format!("X-{i}: v\r\n"));
    }
    resp.push_str("\r\n");
    assert_eq!(
        client.parse_response(resp.as_bytes(), &config),
        Err(HandshakeError::TooManyHeaders(8))
    );
}

#[test]
fn malformed_http_is_400() {
    let config = Config::default();
    for bad in [
        &b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"[..],
        b"GET / HTTP/2.0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ] {
        let err = parse_request(bad, &config).unwrap_err();
        assert!(matches!(err, HandshakeError::Http(_)), "{bad:?}: {err:?}");
        assert_eq!(err.status(), 400);
    }
    let client = client_with(&[], None);
    assert!(matches!(
        client.parse_response(b"HTTP/1.1 abc OK\r\n\r\n", &config),
        Err(HandshakeError::Http(_))
    ));
}

#[test]
fn list_items_respect_quotes_and_skip_empties() {
    let items: Vec<&[u8]> = list_items(b" a , ,b;x=\"1,2\",\t c\\,d ,").collect();
    assert_eq!(items, [&b"a"[..], b"b;x=\"1,2\"", b"c\\", b"d"]);
    assert_eq!(list_items(b"").count(), 0);
    assert_eq!(list_items(b" , ").count(), 0);
    assert_eq!(extension_name(b" permessage-deflate ; a=1"), b"permessage-deflate");
    assert_eq!(trim_ows(b" \t "), b"");
}
