//! Fixtures shared by the handshake tests.

use crate::config::Config;
use crate::error::HandshakeError;

use super::*;

pub(super) const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub(super) const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub(super) fn req() -> ClientRequest {
    ClientRequest {
        host: "example.com:9001".into(),
        path: "/chat?x=1".into(),
        ..Default::default()
    }
}

pub(super) fn complete<T: std::fmt::Debug>(p: Result<Parsed<T>, HandshakeError>) -> (T, usize) {
    match p {
        Ok(Parsed::Complete { value, consumed }) => (value, consumed),
        other => panic!("expected a complete head, got {other:?}"),
    }
}

pub(super) fn server_parse(bytes: &[u8]) -> Request {
    complete(parse_request(bytes, &Config::default())).0
}

pub(super) fn request_with(lines: &[&str]) -> Request {
    let mut head = String::new();
    for l in lines {
        head.push_str(l);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    server_parse(head.as_bytes())
}

pub(super) const GOOD: &[&str] = &[
    "GET /chat HTTP/1.1",
    "Host: example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
];

/// GOOD with line `i` replaced (or removed when `with` is None).
pub(super) fn good_but(i: usize, with: Option<&str>) -> Request {
    let mut lines: Vec<&str> = GOOD.to_vec();
    match with {
        Some(l) => lines[i] = l,
        None => {
            lines.remove(i);
        }
    }
    request_with(&lines)
}

pub(super) fn response_with(lines: &[&str]) -> Response {
    let mut head = String::new();
    for l in lines {
        head.push_str(l);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let client = client_with(&[], None);
    complete(client.parse_response(head.as_bytes(), &Config::default())).0
}

pub(super) fn client_with(protocols: &[&str], extensions: Option<&str>) -> ClientHandshake {
    let r = ClientRequest {
        protocols: protocols.iter().map(|p| p.to_string()).collect(),
        extensions: extensions.map(str::to_owned),
        ..req()
    };
    ClientHandshake::with_key(&r, KEY.into(), &mut Vec::new()).unwrap()
}

pub(super) fn accept_lines() -> Vec<String> {
    vec![
        "HTTP/1.1 101 Switching Protocols".into(),
        "Upgrade: websocket".into(),
        "Connection: Upgrade".into(),
        format!("Sec-WebSocket-Accept: {ACCEPT}"),
    ]
}

pub(super) fn response_plus(extra: &[&str]) -> Response {
    let mut lines = accept_lines();
    lines.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    response_with(&refs)
}
