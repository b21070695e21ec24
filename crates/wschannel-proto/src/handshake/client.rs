//! The client's side of the opening handshake (RFC 6455 §4.1): write the request, parse and
//! validate the server's response.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::config::Config;
use crate::error::HandshakeError;
use crate::random::SecureRandom;

use super::headers::*;
use super::{accept_key, Parsed, ResponseReader};

/// What a client asks for in its opening handshake.
///
/// Every string here is checked before anything is written: a CR, LF or other control byte, a
/// header name that is not an HTTP token, or an extra header that the handshake writes itself
/// makes [`ClientHandshake::new`] fail with [`HandshakeError::InvalidRequestHeader`].
#[derive(Debug, Clone, Default)]
pub struct ClientRequest {
    /// Value of the Host header, including ":port" when the port is not the default.
    pub host: String,
    /// Path and query, e.g. "/chat?x=1"; empty means "/".
    pub path: String,
    /// Value of the Origin header, if any.
    pub origin: Option<String>,
    /// Sec-WebSocket-Protocol offers, in preference order; each an HTTP token, no duplicates.
    pub protocols: Vec<String>,
    /// Raw Sec-WebSocket-Extensions offer.
    pub extensions: Option<String>,
    /// Extra headers, sent as given after the handshake headers.
    pub headers: Vec<(String, String)>,
}

/// A client's side of one opening handshake: the key it sent and what it offered.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    key: String,
    accept: String,
    protocols: Vec<String>,
    extensions: Option<String>,
}

impl ClientHandshake {
    /// Draws a 16-byte key from `random` (usually [`Config::random`]) and writes the request
    /// head into `out`.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::InvalidRequestHeader`] when a string in `req` is not valid in an HTTP
    /// head (nothing is written), [`HandshakeError::Random`] when `random` cannot supply bytes.
    pub fn new(
        req: &ClientRequest,
        random: &dyn SecureRandom,
        out: &mut Vec<u8>,
    ) -> Result<Self, HandshakeError> {
        // RFC 6455 §4.1 item 7: a nonce of 16 random bytes, base64-encoded, new for each
        // connection.
        let mut nonce = [0u8; 16];
        random.fill(&mut nonce).map_err(|e| HandshakeError::Random(e.0))?;
        Self::with_key(req, BASE64.encode(nonce), out)
    }

    /// Like [`ClientHandshake::new`] with a fixed key (base64 of 16 bytes), for tests.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::InvalidRequestHeader`] when `key` does not decode to 16 bytes or a
    /// string in `req` is not valid in an HTTP head; nothing is written.
    pub fn with_key(
        req: &ClientRequest,
        key: String,
        out: &mut Vec<u8>,
    ) -> Result<Self, HandshakeError> {
        check_request(req, &key)?;
        write_request(req, &key, out);
        Ok(ClientHandshake {
            accept: accept_key(key.as_bytes()),
            key,
            protocols: req.protocols.clone(),
            extensions: req.extensions.clone(),
        })
    }

    /// The Sec-WebSocket-Key sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Parses the server's response head from `buf` in one go, bounded by
    /// `config.max_handshake_bytes` and `config.max_headers`. Does not validate it: see
    /// [`ClientHandshake::validate`]. A caller that reads the response in segments keeps one
    /// [`ResponseReader`] instead, which looks at each byte once.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::HeadTooLarge`] when no complete head is found within
    /// `max_handshake_bytes` bytes, [`HandshakeError::TooManyHeaders`], or
    /// [`HandshakeError::Http`] for malformed HTTP.
    pub fn parse_response(
        &self,
        buf: &[u8],
        config: &Config,
    ) -> Result<Parsed<Response>, HandshakeError> {
        ResponseReader::new(config).read(buf)
    }

    /// Validates a parsed response (RFC 6455 §4.1, the client's checks of the server's
    /// handshake).
    ///
    /// # Errors
    ///
    /// - [`HandshakeError::Status`] when the status is not 101;
    /// - [`HandshakeError::MissingHeader`] / [`HandshakeError::InvalidHeader`] when Upgrade does
    ///   not hold the token `websocket` or Connection the token `upgrade`;
    /// - [`HandshakeError::MissingHeader`] / [`HandshakeError::AcceptMismatch`] for
    ///   Sec-WebSocket-Accept;
    /// - [`HandshakeError::UnofferedSubprotocol`] when the server chose a subprotocol the client
    ///   did not offer, or more than one;
    /// - [`HandshakeError::UnofferedExtension`] when the server chose an extension the client
    ///   did not offer.
    pub fn validate(&self, resp: &Response) -> Result<Accepted, HandshakeError> {
        // RFC 6455 §4.1: "If the status code received from the server is not 101, the client
        // handles the response per HTTP procedures".
        if resp.status != 101 {
            return Err(HandshakeError::Status { status: resp.status });
        }
        // RFC 6455 §4.1 items 2 and 3 (client's checks): Upgrade is "websocket" and
        // Connection holds "Upgrade", both ASCII case-insensitive.
        resp.headers.require_token("Upgrade", "websocket")?;
        resp.headers.require_token("Connection", "upgrade")?;

        // RFC 6455 §4.1 item 4 (client's checks), §11.3.3: exactly one Sec-WebSocket-Accept,
        // equal to base64(SHA-1(key ++ GUID)) after trimming whitespace.
        let accept = resp.headers.single("Sec-WebSocket-Accept")?;
        if trim_ows(accept) != self.accept.as_bytes() {
            return Err(HandshakeError::AcceptMismatch);
        }

        // RFC 6455 §4.1 item 5 (client's checks): every extension in the response must have
        // been offered.
        let extensions = resp.headers.joined("Sec-WebSocket-Extensions").unwrap_or_default();
        let offered: Vec<&[u8]> = self
            .extensions
            .as_deref()
            .map(|o| list_items(o.as_bytes()).map(extension_name).collect())
            .unwrap_or_default();
        for item in list_items(&extensions) {
            let name = extension_name(item);
            if !offered.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                return Err(HandshakeError::UnofferedExtension(lossy(item)));
            }
        }
        let extensions =
            if list_items(&extensions).next().is_some() { Some(lossy(&extensions)) } else { None };

        // RFC 6455 §4.1 item 6 (client's checks), §11.3.4: at most one Sec-WebSocket-Protocol,
        // holding one of the offered values. Several values (two headers, or a comma list)
        // never equal a single offer, so they fail the same way.
        let protocol = match resp.headers.joined("Sec-WebSocket-Protocol") {
            None => None,
            Some(chosen) => {
                let chosen = trim_ows(&chosen);
                match self.protocols.iter().find(|p| p.as_bytes() == chosen) {
                    Some(p) => Some(p.clone()),
                    None => return Err(HandshakeError::UnofferedSubprotocol(lossy(chosen))),
                }
            }
        };

        Ok(Accepted { protocol, extensions })
    }
}

/// A parsed HTTP response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in the order received; values as sent, without the whitespace around them.
    pub headers: Headers,
}

impl Response {
    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name)
    }
}

/// What the server agreed to in a valid response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The subprotocol the server chose, one the client offered.
    pub protocol: Option<String>,
    /// The Sec-WebSocket-Extensions the server returned (all headers joined with ", ").
    pub extensions: Option<String>,
}

fn check_request(req: &ClientRequest, key: &str) -> Result<(), HandshakeError> {
    // RFC 6455 §4.1 item 7: the key is base64 of 16 bytes.
    if !is_valid_key(key.as_bytes()) {
        return Err(bad_request_header("key", "Sec-WebSocket-Key must be base64 of 16 bytes"));
    }
    // RFC 6455 §4.1 item 4: Host is required; RFC 3986 host[:port] has no spaces or controls.
    if req.host.is_empty() || !req.host.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad_request_header("host", "must be non-empty visible ASCII without spaces"));
    }
    // RFC 6455 §4.1 item 3 / RFC 9112 §3.2: origin-form starts with "/" and, being one
    // token of the request line, has no spaces or controls.
    let path_ok = req.path.starts_with('/') && req.path.bytes().all(|b| b.is_ascii_graphic());
    if !req.path.is_empty() && !path_ok {
        return Err(bad_request_header(
            "path",
            "must start with '/' and be visible ASCII without spaces",
        ));
    }
    if let Some(origin) = &req.origin {
        if !is_field_value(origin.as_bytes()) {
            return Err(bad_request_header(
                "origin",
                "contains CR, LF or another control character",
            ));
        }
    }
    // RFC 6455 §4.1 item 10: subprotocols are non-empty tokens and unique.
    for (i, p) in req.protocols.iter().enumerate() {
        if !is_token(p) {
            return Err(bad_request_header("subprotocol", "must be a non-empty HTTP token"));
        }
        if req.protocols[..i].contains(p) {
            return Err(bad_request_header("subprotocol", "offered twice"));
        }
    }
    if let Some(ext) = &req.extensions {
        if !is_field_value(ext.as_bytes()) {
            return Err(bad_request_header(
                "extensions",
                "contains CR, LF or another control character",
            ));
        }
    }
    for (name, value) in &req.headers {
        check_header(name, value)?;
        if is_own_header(name, Heads::REQUEST) {
            return Err(bad_request_header(
                name,
                "set by the handshake itself; use the ClientRequest field",
            ));
        }
    }
    Ok(())
}

/// Writes the request head; `req` and `key` have passed [`check_request`].
fn write_request(req: &ClientRequest, key: &str, out: &mut Vec<u8>) {
    // RFC 6455 §4.1 items 1–2: a GET request, HTTP/1.1 or higher.
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(if req.path.is_empty() { b"/" } else { req.path.as_bytes() });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    // Header order follows the RFC 6455 §1.3 example.
    put_header(out, "Host", req.host.as_bytes()); // §4.1 item 4
    put_header(out, "Upgrade", b"websocket"); // §4.1 item 5
    put_header(out, "Connection", b"Upgrade"); // §4.1 item 6
    put_header(out, "Sec-WebSocket-Key", key.as_bytes()); // §4.1 item 7
    if let Some(origin) = &req.origin {
        put_header(out, "Origin", origin.as_bytes()); // §4.1 item 8
    }
    if !req.protocols.is_empty() {
        // §4.1 item 10: one header, values in preference order, comma-separated.
        put_header(out, "Sec-WebSocket-Protocol", req.protocols.join(", ").as_bytes());
    }
    if let Some(ext) = &req.extensions {
        put_header(out, "Sec-WebSocket-Extensions", ext.as_bytes()); // §4.1 item 11
    }
    put_header(out, "Sec-WebSocket-Version", b"13"); // §4.1 item 9
    for (name, value) in &req.headers {
        put_header(out, name, value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}
