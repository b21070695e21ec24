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

// ---- resumable reading: linear work however the bytes are cut (issue 11) ------------------

/// A valid upgrade request of at most `len` bytes (within 275 of it), padded with 273-byte
/// header lines (under 64 headers for 16 KiB).
fn big_request(len: usize) -> Vec<u8> {
    let mut head = String::from(
        "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n",
    );
    let mut i = 0;
    while head.len() + 2 + 273 <= len {
        head.push_str(&format!("X-Pad-{i:03}: {}\r\n", "a".repeat(260)));
        i += 1;
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// [`RequestReader::read`] or [`ResponseReader::read`].
type ReadFn<H> = fn(&mut HeadReader<H>, &[u8]) -> Result<Parsed<H>, HandshakeError>;

/// Feeds `wire` to one reader in segments of `step` bytes, as a server reading a socket would,
/// and answers the result after the last segment, the number of calls and the work done.
fn feed<H>(
    reader: &mut HeadReader<H>,
    wire: &[u8],
    step: usize,
    read: ReadFn<H>,
) -> (Result<Parsed<H>, HandshakeError>, usize) {
    let mut calls = 0;
    let mut end = 0;
    loop {
        end = (end + step).min(wire.len());
        calls += 1;
        let answer = read(reader, &wire[..end]);
        if !matches!(answer, Ok(Parsed::Partial)) || end == wire.len() {
            return (answer, calls);
        }
    }
}

#[test]
fn issue_11_a_16_kib_head_sent_one_byte_per_segment_is_scanned_linearly() {
    let config = Config::default();
    let wire = big_request(config.max_handshake_bytes);
    let n = wire.len();
    assert!(n > 15 << 10 && n <= config.max_handshake_bytes, "{n}");

    let mut reader = RequestReader::new(&config);
    let (answer, calls) = feed(&mut reader, &wire, 1, RequestReader::read);
    let (request, consumed) = complete(answer);
    assert_eq!((consumed, calls), (n, n));
    assert!(validate_request(&request).is_ok());
    assert!(request.headers.len() > 60);
    // Re-parsing from the start on every read would look at n(n+1)/2 bytes (~134 MB here).
    // The reader scans each byte once, parses the complete head once, and looks at an
    // incomplete head only when it has doubled (at most 2n).
    let reparse = n * (n + 1) / 2;
    println!(
        "{n}-byte head, 1 byte per segment: work {} bytes (re-parsing: {reparse})",
        reader.work
    );
    assert!(reader.work <= 4 * n, "work {} for a {n}-byte head", reader.work);
    assert!(reader.work >= 2 * n, "every byte scanned and parsed once");
}

#[test]
fn issue_11_a_response_sent_one_byte_per_segment_is_scanned_linearly() {
    let config = Config::default();
    let upgrade = Upgrade { key: KEY.into(), protocols: vec![], extensions: None };
    let pad: Vec<(String, String)> =
        (0..60).map(|i| (format!("X-Pad-{i}"), "b".repeat(200))).collect();
    let mut wire = Vec::new();
    write_accept(&upgrade, None, &pad, &mut wire);
    let n = wire.len();
    let client = client_with(&[], None);
    let mut reader = ResponseReader::new(&config);
    let (answer, calls) = feed(&mut reader, &wire, 1, ResponseReader::read);
    let (response, consumed) = complete(answer);
    assert_eq!((consumed, calls), (n, n));
    assert!(client.validate(&response).is_ok());
    assert!(reader.work <= 4 * n, "work {} for a {n}-byte head", reader.work);
}

#[test]
fn every_segment_size_gives_the_one_shot_answer() {
    let config = Config::default();
    let mut wire = big_request(3000);
    let head_len = wire.len();
    wire.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
    let one_shot = parse_request(&wire, &config);
    assert_eq!(complete(one_shot.clone()).1, head_len);
    for step in 1..=head_len + 6 {
        let mut reader = RequestReader::new(&config);
        let (answer, _) = feed(&mut reader, &wire, step, RequestReader::read);
        assert_eq!(answer, one_shot, "segments of {step}");
        assert!(reader.work <= 4 * wire.len(), "segments of {step}: work {}", reader.work);
    }
}

#[test]
fn empty_lines_before_the_request_line_do_not_end_the_head() {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    let config = Config::default();
    let wire = b"\r\n\n\r\nGET / HTTP/1.1\nHost: a\n\nrest";
    let mut reader = RequestReader::new(&config);
    let (answer, _) = feed(&mut reader, wire, 1, RequestReader::read);
    let (request, consumed) = complete(answer);
    assert_eq!(&wire[consumed..], b"rest");
    assert_eq!(request.header("host"), Some(&b"a"[..]));

    // A peer that sends nothing but empty lines is cut off at the limit, in linear work.
    let config = Config::default().max_handshake_bytes(4096);
    let flood = b"\r\n".repeat(4096);
    let mut reader = RequestReader::new(&config);
    let (answer, _) = feed(&mut reader, &flood, 1, RequestReader::read);
    assert_eq!(answer, Err(HandshakeError::HeadTooLarge(4096)));
    assert!(reader.work <= 4 * 4096, "work {}", reader.work);
}

#[test]
fn issue_11_bounds_hold_whatever_the_segments() {
    let config = Config::default().max_handshake_bytes(2048).max_headers(8);
    let limit = config.max_handshake_bytes;
    for step in [1, 7, 512, 4096] {
        // A block of headers larger than the limit: 431, once the limit is buffered.
        let mut reader = RequestReader::new(&config);
        let (answer, calls) =
            feed(&mut reader, &head_of_len(limit + 100), step, RequestReader::read);
        let err = answer.unwrap_err();
        assert_eq!((err.clone(), err.status()), (HandshakeError::HeadTooLarge(limit), 431));
        assert!(calls * step >= limit, "segments of {step}: refused before the limit");
        assert!(reader.work <= 4 * (limit + 100), "segments of {step}: work {}", reader.work);

        // One endless line (never a CR or LF): 431 at the limit too.
        let line: Vec<u8> = b"GET /".iter().copied().chain(vec![b'a'; 3 * limit]).collect();
        let mut reader = RequestReader::new(&config);
        let (answer, _) = feed(&mut reader, &line, step, RequestReader::read);
        assert_eq!(answer.map_err(|e| e.status()), Err(431), "segments of {step}");
        assert!(reader.work <= 4 * limit, "segments of {step}: work {}", reader.work);

        // Nine headers where eight are allowed: 431.
        let mut head = String::from("GET / HTTP/1.1\r\n");
        for i in 0..9 {
            head.push_str(&format!("X-{i}: v\r\n"));
        }
        head.push_str("\r\n");
        let mut reader = RequestReader::new(&config);
        let (answer, _) = feed(&mut reader, head.as_bytes(), step, RequestReader::read);
        let err = answer.unwrap_err();
        assert_eq!((err.clone(), err.status()), (HandshakeError::TooManyHeaders(8), 431));

        // Malformed: 400, and no later than the end of the head.
        let bad = b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n";
        let mut reader = RequestReader::new(&config);
        let (answer, calls) = feed(&mut reader, bad, step, RequestReader::read);
        let err = answer.unwrap_err();
        assert!(matches!(err, HandshakeError::Http(_)), "{err:?}");
        assert_eq!(err.status(), 400);
        assert!(calls <= bad.len().div_ceil(step), "segments of {step}: {calls} calls");
    }
}

#[test]
fn what_is_not_http_is_refused_from_its_first_segment() {
    // A TLS ClientHello on a plain port: refused at once, not when the head limit is reached.
    let config = Config::default();
    let hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    for first in 1..=hello.len() {
        let mut reader = RequestReader::new(&config);
        let err = reader.read(&hello[..first]).unwrap_err();
        assert_eq!(err.status(), 400, "first segment of {first} bytes");
    }
    // Garbage after a good start is found once the buffer has doubled, at the latest.
    let mut wire = b"GET / HTTP/1.1\r\nHost: a\r\nX-\x01: b\r\n".to_vec();
    wire.extend_from_slice(&[b'x'; 200]);
    let mut reader = RequestReader::new(&config);
    let (answer, calls) = feed(&mut reader, &wire, 1, RequestReader::read);
    assert_eq!(answer.map_err(|e| e.status()), Err(400));
    assert!(calls <= 2 * 40, "refused after {calls} bytes");
}

#[test]
fn a_shorter_buffer_starts_the_reader_over() {
    let config = Config::default();
    let mut reader = RequestReader::new(&config);
    assert_eq!(reader.read(b"GET / HTTP/1.1\r\nHost: a\r\n"), Ok(Parsed::Partial));
    let (request, consumed) = complete(reader.read(b"GET /b HTTP/1.1\r\n\r\n"));
    assert_eq!((request.path.as_str(), consumed), ("/b", 19));
}
