//! The RFC 6455 §4 opening handshake, as pure functions on bytes.
//!
//! Nothing here reads a socket or a clock. The caller feeds what it has received to a head
//! parser ([`parse_request`], [`ClientHandshake::parse_response`]), which answers
//! [`Parsed::Partial`] ("read more and call again with everything so far") or
//! [`Parsed::Complete`] with the parsed head and how many bytes it used; the bytes after the
//! head already belong to the WebSocket stream and must be kept. Validation is a separate step
//! ([`validate_request`], [`ClientHandshake::validate`]), so a server can also serve plain HTTP
//! on the same port.
//!
//! Client: [`ClientHandshake::new`] writes the request, then `parse_response` and `validate`.
//! Server: `parse_request`, `validate_request`, then [`write_accept`] or [`write_reject`] with
//! [`HandshakeError::status`].
//!
//! # Examples
//!
//! ```
//! use wschannel_proto::Config;
//! use wschannel_proto::handshake::{
//!     parse_request, validate_request, write_accept, ClientHandshake, ClientRequest, Parsed,
//! };
//!
//! let config = Config::default();
//! let req = ClientRequest {
//!     host: "example.com".into(),
//!     path: "/chat".into(),
//!     protocols: vec!["chat".into()],
//!     ..Default::default()
//! };
//! let mut to_server = Vec::new();
//! let client = ClientHandshake::new(&req, config.random, &mut to_server)?;
//!
//! // Server side.
//! let Parsed::Complete { value: request, .. } = parse_request(&to_server, &config)? else {
//!     unreachable!("the whole head is there");
//! };
//! let upgrade = validate_request(&request)?;
//! let mut to_client = Vec::new();
//! write_accept(&upgrade, Some("chat"), &[], &mut to_client);
//!
//! // Client side.
//! let Parsed::Complete { value: response, consumed } = client.parse_response(&to_client, &config)?
//! else {
//!     unreachable!("the whole head is there");
//! };
//! assert_eq!(consumed, to_client.len());
//! let accepted = client.validate(&response)?;
//! assert_eq!(accepted.protocol.as_deref(), Some("chat"));
//! # Ok::<(), wschannel_proto::HandshakeError>(())
//! ```

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::config::Config;
use crate::error::HandshakeError;
use crate::random::SecureRandom;

/// RFC 6455 §1.3: the GUID appended to the key before hashing.
const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Result of feeding bytes to a head parser.
///
/// Either not enough bytes yet, or the parsed value and how many bytes of the input the head
/// used. Bytes after `consumed` belong to the WebSocket stream and must be kept by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The head is not complete yet: read more and call again with all bytes so far.
    Partial,
    /// The head is complete.
    Complete {
        /// The parsed head.
        value: T,
        /// Bytes of the input the head used, including the final empty line.
        consumed: usize,
    },
}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
///
/// RFC 6455 §4.2.2 item 5.4: base64(SHA-1(key ++ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
///
/// # Examples
///
/// ```
/// use wschannel_proto::handshake::accept_key;
/// // RFC 6455 §1.3
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(WS_GUID);
    BASE64.encode(sha1.finalize())
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

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

    /// Parses the server's response head, bounded by `config.max_handshake_bytes` and
    /// `config.max_headers`. Does not validate it: see [`ClientHandshake::validate`].
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
        let limit = config.max_handshake_bytes;
        let window = &buf[..buf.len().min(limit)];
        let mut headers = vec![httparse::EMPTY_HEADER; config.max_headers];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(window) {
            Ok(httparse::Status::Complete(consumed)) => Ok(Parsed::Complete {
                // httparse fills version, code and reason on Complete; the defaults are
                // unreachable.
                value: Response {
                    version: resp.version.unwrap_or_default(),
                    status: resp.code.unwrap_or_default(),
                    reason: resp.reason.unwrap_or_default().to_owned(),
                    headers: owned_headers(resp.headers),
                },
                consumed,
            }),
            Ok(httparse::Status::Partial) => partial_or_too_large(buf, limit),
            Err(e) => Err(map_httparse(e, config)),
        }
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
        require_token(&resp.headers, "Upgrade", "websocket")?;
        require_token(&resp.headers, "Connection", "upgrade")?;

        // RFC 6455 §4.1 item 4 (client's checks), §11.3.3: exactly one Sec-WebSocket-Accept,
        // equal to base64(SHA-1(key ++ GUID)) after trimming whitespace.
        let accept = single_header(&resp.headers, "Sec-WebSocket-Accept")?;
        if trim_ows(accept) != self.accept.as_bytes() {
            return Err(HandshakeError::AcceptMismatch);
        }

        // RFC 6455 §4.1 item 5 (client's checks): every extension in the response must have
        // been offered.
        let extensions = joined(&resp.headers, "Sec-WebSocket-Extensions");
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
        let protocol = match joined_opt(&resp.headers, "Sec-WebSocket-Protocol") {
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
    /// Headers in the order received; values as sent (not trimmed).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Response {
    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        header_values(&self.headers, name).next()
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

// ---------------------------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------------------------

/// A parsed HTTP/1.x request head; it may or may not be a WebSocket upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, e.g. "GET".
    pub method: String,
    /// Request target as sent, e.g. "/chat?x=1".
    pub path: String,
    /// Minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// Headers in the order received; values as sent (not trimmed).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Request {
    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        header_values(&self.headers, name).next()
    }

    /// True when the request asks to upgrade to WebSocket: an Upgrade header holds the token
    /// `websocket` (case-insensitive). A plain GET for a web page is false.
    ///
    /// This only routes the request; [`validate_request`] does the full RFC 6455 §4.2.1 checks.
    pub fn is_websocket_upgrade(&self) -> bool {
        has_token(&self.headers, "Upgrade", "websocket")
    }

    /// The Origin header, when present and UTF-8.
    pub fn origin(&self) -> Option<&str> {
        self.header("Origin").and_then(|v| std::str::from_utf8(trim_ows(v)).ok())
    }

    /// Offered subprotocols from all Sec-WebSocket-Protocol headers, comma lists split and
    /// trimmed, empty items skipped, in the order sent.
    pub fn protocols(&self) -> Vec<String> {
        header_values(&self.headers, "Sec-WebSocket-Protocol")
            .flat_map(list_items)
            .map(lossy)
            .collect()
    }
}

/// Parses any HTTP/1.x request head (so a server can also serve plain HTTP on the same port).
///
/// Bounded by `config.max_handshake_bytes` and `config.max_headers`. Does not check that it is
/// a WebSocket upgrade: see [`Request::is_websocket_upgrade`] and [`validate_request`].
///
/// # Errors
///
/// [`HandshakeError::HeadTooLarge`] when no complete head is found within
/// `max_handshake_bytes` bytes (even if more could still arrive),
/// [`HandshakeError::TooManyHeaders`], or [`HandshakeError::Http`] for malformed HTTP.
pub fn parse_request(buf: &[u8], config: &Config) -> Result<Parsed<Request>, HandshakeError> {
    let limit = config.max_handshake_bytes;
    let window = &buf[..buf.len().min(limit)];
    let mut headers = vec![httparse::EMPTY_HEADER; config.max_headers];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(window) {
        Ok(httparse::Status::Complete(consumed)) => Ok(Parsed::Complete {
            // httparse fills method, path and version on Complete; the defaults are
            // unreachable.
            value: Request {
                method: req.method.unwrap_or_default().to_owned(),
                path: req.path.unwrap_or_default().to_owned(),
                version: req.version.unwrap_or_default(),
                headers: owned_headers(req.headers),
            },
            consumed,
        }),
        Ok(httparse::Status::Partial) => partial_or_too_large(buf, limit),
        Err(e) => Err(map_httparse(e, config)),
    }
}

/// Checks that a request is a valid WebSocket opening handshake (RFC 6455 §4.2.1).
///
/// # Errors
///
/// In the order checked: [`HandshakeError::Method`] (not GET), [`HandshakeError::Version`]
/// (not HTTP/1.1), [`HandshakeError::MissingHeader`] or [`HandshakeError::InvalidHeader`] for
/// Host, Upgrade (token `websocket`) and Connection (token `upgrade`),
/// [`HandshakeError::UnsupportedVersion`] (Sec-WebSocket-Version not 13; a missing header is
/// `MissingHeader`), then Sec-WebSocket-Key (exactly one, base64 of 16 bytes), and
/// Sec-WebSocket-Protocol items that are not tokens. Answer with
/// [`write_reject`]`(err.status(), ..)`.
pub fn validate_request(req: &Request) -> Result<Upgrade, HandshakeError> {
    // RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    if req.method != "GET" {
        return Err(HandshakeError::Method(req.method.clone()));
    }
    if req.version != 1 {
        return Err(HandshakeError::Version);
    }
    // RFC 6455 §4.2.1 item 2: a |Host| header field; RFC 9112 §3.2: exactly one.
    single_header(&req.headers, "Host")?;
    // RFC 6455 §4.2.1 items 3 and 4: Upgrade holds "websocket", Connection holds "Upgrade",
    // ASCII case-insensitive, each possibly in a list ("keep-alive, Upgrade").
    require_token(&req.headers, "Upgrade", "websocket")?;
    require_token(&req.headers, "Connection", "upgrade")?;

    // RFC 6455 §4.2.1 item 6: Sec-WebSocket-Version must be 13. Checked before the key so a
    // client speaking another version gets 426 with the versions we speak (§4.4).
    let version = joined_opt(&req.headers, "Sec-WebSocket-Version")
        .ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Version"))?;
    if trim_ows(&version) != b"13" {
        return Err(HandshakeError::UnsupportedVersion(lossy(trim_ows(&version))));
    }

    // RFC 6455 §4.2.1 item 5, §11.3.1: exactly one Sec-WebSocket-Key, base64 of 16 bytes.
    let key = trim_ows(single_header(&req.headers, "Sec-WebSocket-Key")?);
    let decodes_to_16 = BASE64.decode(key).is_ok_and(|nonce| nonce.len() == 16);
    if !decodes_to_16 {
        return Err(invalid("Sec-WebSocket-Key", key));
    }

    // RFC 6455 §4.1 item 10: subprotocols are tokens.
    let protocols = req.protocols();
    if let Some(bad) = protocols.iter().find(|p| !is_token(p)) {
        return Err(invalid("Sec-WebSocket-Protocol", bad.as_bytes()));
    }

    // RFC 6455 §4.2.1 item 9, §11.3.2: the extension offer may span several headers.
    let extensions = joined(&req.headers, "Sec-WebSocket-Extensions");
    if !is_field_value(&extensions) {
        return Err(invalid("Sec-WebSocket-Extensions", &extensions));
    }
    let extensions =
        if list_items(&extensions).next().is_some() { Some(lossy(&extensions)) } else { None };

    Ok(Upgrade {
        // base64 decoded, so ASCII
        key: lossy(key),
        protocols,
        extensions,
    })
}

/// A validated WebSocket upgrade request: what the server needs to answer it.
#[derive(Debug, Clone)]
pub struct Upgrade {
    /// The client's Sec-WebSocket-Key (trimmed).
    pub key: String,
    /// Offered subprotocols in the client's preference order.
    pub protocols: Vec<String>,
    /// The client's raw Sec-WebSocket-Extensions offer (all headers joined with ", ").
    pub extensions: Option<String>,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with, for [`write_reject`].
    ///
    /// - 426 Upgrade Required for [`HandshakeError::UnsupportedVersion`] (RFC 6455 §4.4);
    /// - 431 Request Header Fields Too Large for [`HandshakeError::HeadTooLarge`] and
    ///   [`HandshakeError::TooManyHeaders`] (RFC 6585 §5);
    /// - 400 Bad Request for every other fault in the request, including a method other than
    ///   GET: RFC 6455 §4.2.1 names 400 for a request that is not a valid handshake, and a 405
    ///   would oblige an `Allow` header listing the methods of a resource this crate does not
    ///   know;
    /// - 502 Bad Gateway for the errors only a client sees (a bad response from a server), as a
    ///   proxy relaying the handshake would answer;
    /// - 500 Internal Server Error for [`HandshakeError::InvalidRequestHeader`] and
    ///   [`HandshakeError::Random`], which are local faults.
    pub fn status(&self) -> u16 {
        use HandshakeError::*;
        match self {
            UnsupportedVersion(_) => 426,
            HeadTooLarge(_) | TooManyHeaders(_) => 431,
            Http(_) | Method(_) | Version | MissingHeader(_) | InvalidHeader { .. } => 400,
            Status { .. }
            | AcceptMismatch
            | UnofferedSubprotocol(_)
            | UnofferedExtension(_)
            | ExtensionResponse { .. } => 502,
            InvalidRequestHeader { .. } | Random(_) => 500,
        }
    }
}

/// Writes the server's 101 response (RFC 6455 §4.2.2 item 5).
///
/// `protocol` is the chosen subprotocol and must be one the client offered; the caller checks
/// that. Extensions are never echoed from the offer: a caller that negotiated one passes the
/// response's `Sec-WebSocket-Extensions` in `extra_headers`.
///
/// An extra header whose name is not a token or whose value holds CR, LF or another control
/// byte is skipped, as are the headers this function writes itself (Upgrade, Connection,
/// Sec-WebSocket-Accept, Sec-WebSocket-Protocol) and a body framing header (Content-Length,
/// Transfer-Encoding), so no caller string can break the head. Check headers beforehand with
/// [`check_header`]. A `protocol` that is not a token is not written.
pub fn write_accept(
    upgrade: &Upgrade,
    protocol: Option<&str>,
    extra_headers: &[(String, String)],
    out: &mut Vec<u8>,
) {
    const OWN: &[&str] = &[
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Protocol",
        "Content-Length",
        "Transfer-Encoding",
    ];
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    // RFC 6455 §4.2.2 item 5.2 and 5.3.
    put_header(out, "Upgrade", b"websocket");
    put_header(out, "Connection", b"Upgrade");
    // RFC 6455 §4.2.2 item 5.4.
    put_header(out, "Sec-WebSocket-Accept", accept_key(upgrade.key.as_bytes()).as_bytes());
    // RFC 6455 §4.2.2 item 5.5: the one subprotocol chosen.
    if let Some(p) = protocol.filter(|p| is_token(p)) {
        put_header(out, "Sec-WebSocket-Protocol", p.as_bytes());
    }
    put_extra_headers(out, extra_headers, OWN);
    out.extend_from_slice(b"\r\n");
}

/// Writes a rejection: the status line with its reason phrase, `Content-Type: text/plain;
/// charset=utf-8`, `Content-Length`, `Connection: close`, for 426 also `Upgrade: websocket` and
/// `Sec-WebSocket-Version: 13`, the extra headers, then `body`.
///
/// Reason phrases: 400 Bad Request, 403 Forbidden, 404 Not Found, 405 Method Not Allowed,
/// 426 Upgrade Required, 431 Request Header Fields Too Large, 500 Internal Server Error,
/// 503 Service Unavailable; others "Error". A status outside 300..=599 is written as 500 (a
/// rejection is never 1xx or 2xx). Extra headers are filtered as in [`write_accept`]; the
/// headers written here (Content-Type, Content-Length, Connection, Transfer-Encoding, and for
/// 426 Upgrade and Sec-WebSocket-Version) are skipped.
pub fn write_reject(
    status: u16,
    body: &str,
    extra_headers: &[(String, String)],
    out: &mut Vec<u8>,
) {
    const OWN: &[&str] = &["Content-Type", "Content-Length", "Connection", "Transfer-Encoding"];
    const OWN_426: &[&str] = &[
        "Content-Type",
        "Content-Length",
        "Connection",
        "Transfer-Encoding",
        "Upgrade",
        "Sec-WebSocket-Version",
    ];
    let status = if (300..=599).contains(&status) { status } else { 500 };
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    put_header(out, "Content-Type", b"text/plain; charset=utf-8");
    put_header(out, "Content-Length", body.len().to_string().as_bytes());
    if status == 426 {
        // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to, and §7.8 wants the
        // "upgrade" connection option beside it. RFC 6455 §4.4: list the versions we speak.
        put_header(out, "Connection", b"Upgrade, close");
        put_header(out, "Upgrade", b"websocket");
        put_header(out, "Sec-WebSocket-Version", b"13");
        put_extra_headers(out, extra_headers, OWN_426);
    } else {
        put_header(out, "Connection", b"close");
        put_extra_headers(out, extra_headers, OWN);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
}

/// Checks that a header name is an HTTP token and its value holds no CR, LF or other control
/// byte (horizontal tab allowed), so it can be written into a head as one line.
///
/// # Errors
///
/// [`HandshakeError::InvalidRequestHeader`] naming the header and the reason.
pub fn check_header(name: &str, value: &str) -> Result<(), HandshakeError> {
    // RFC 9110 §5.1: field-name = token.
    if !is_token(name) {
        return Err(bad_request_header(name, "the name is not an HTTP token"));
    }
    // RFC 9110 §5.5: field-value is visible characters, SP and HTAB; CR and LF would end the
    // line and let the value inject headers.
    if !is_field_value(value.as_bytes()) {
        return Err(bad_request_header(
            name,
            "the value contains CR, LF or another control character",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Headers a [`ClientRequest`] may not set through `headers`: the handshake writes them itself,
/// or (Content-Length, Transfer-Encoding) they would make the server read the WebSocket stream
/// as a request body.
const CLIENT_OWN_HEADERS: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Origin",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
    "Transfer-Encoding",
];

fn check_request(req: &ClientRequest, key: &str) -> Result<(), HandshakeError> {
    // RFC 6455 §4.1 item 7: the key is base64 of 16 bytes.
    if !BASE64.decode(key).is_ok_and(|k| k.len() == 16) {
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
        if CLIENT_OWN_HEADERS.iter().any(|own| own.eq_ignore_ascii_case(name)) {
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

fn put_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes the extra headers that are valid and not in `own`.
fn put_extra_headers(out: &mut Vec<u8>, extra: &[(String, String)], own: &[&str]) {
    for (name, value) in extra {
        let reserved = own.iter().any(|o| o.eq_ignore_ascii_case(name));
        if !reserved && check_header(name, value).is_ok() {
            put_header(out, name, value.as_bytes());
        }
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, Vec<u8>)> {
    headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect()
}

/// An incomplete head: fine while under the limit, too large once `limit` bytes are buffered.
fn partial_or_too_large<T>(buf: &[u8], limit: usize) -> Result<Parsed<T>, HandshakeError> {
    if buf.len() >= limit {
        Err(HandshakeError::HeadTooLarge(limit))
    } else {
        Ok(Parsed::Partial)
    }
}

fn map_httparse(e: httparse::Error, config: &Config) -> HandshakeError {
    match e {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders(config.max_headers),
        other => HandshakeError::Http(other.to_string()),
    }
}

fn header_values<'a: 'n, 'n>(
    headers: &'a [(String, Vec<u8>)],
    name: &'n str,
) -> impl Iterator<Item = &'a [u8]> + 'n {
    headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
}

/// The header's value when it appears exactly once.
fn single_header<'a>(
    headers: &'a [(String, Vec<u8>)],
    name: &'static str,
) -> Result<&'a [u8], HandshakeError> {
    let mut values = header_values(headers, name);
    let first = values.next().ok_or(HandshakeError::MissingHeader(name))?;
    if values.next().is_some() {
        return Err(invalid(name, &joined(headers, name)));
    }
    Ok(first)
}

/// All values of a header joined with ", " (RFC 9110 §5.3), or `None` when absent.
fn joined_opt(headers: &[(String, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
    let mut values = header_values(headers, name);
    let mut all = values.next()?.to_vec();
    for v in values {
        all.extend_from_slice(b", ");
        all.extend_from_slice(v);
    }
    Some(all)
}

fn joined(headers: &[(String, Vec<u8>)], name: &str) -> Vec<u8> {
    joined_opt(headers, name).unwrap_or_default()
}

/// True when some `name` header holds `token` in its comma list (ASCII case-insensitive).
fn has_token(headers: &[(String, Vec<u8>)], name: &str, token: &str) -> bool {
    header_values(headers, name)
        .flat_map(list_items)
        .any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
}

fn require_token(
    headers: &[(String, Vec<u8>)],
    name: &'static str,
    token: &str,
) -> Result<(), HandshakeError> {
    if has_token(headers, name, token) {
        return Ok(());
    }
    match joined_opt(headers, name) {
        None => Err(HandshakeError::MissingHeader(name)),
        Some(v) => Err(invalid(name, &v)),
    }
}

/// Items of an HTTP comma list (RFC 9110 §5.6.1), trimmed, empty items skipped. Commas inside
/// quoted strings (extension parameters) do not split.
pub(crate) fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = value;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let mut in_quotes = false;
        let mut escaped = false;
        let mut end = rest.len();
        for (i, &b) in rest.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if in_quotes && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = !in_quotes;
            } else if b == b',' && !in_quotes {
                end = i;
                break;
            }
        }
        let item = trim_ows(&rest[..end]);
        rest = rest.get(end + 1..).unwrap_or_default();
        if !item.is_empty() {
            return Some(item);
        }
    })
}

/// The extension name of one Sec-WebSocket-Extensions item (RFC 6455 §9.1): before any ';'.
pub(crate) fn extension_name(item: &[u8]) -> &[u8] {
    let end = item.iter().position(|&b| b == b';').unwrap_or(item.len());
    trim_ows(&item[..end])
}

/// Trims optional whitespace, SP and HTAB (RFC 9110 §5.6.3).
pub(crate) fn trim_ows(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    &v[start..end]
}

/// RFC 9110 §5.6.2: token = 1*tchar.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 9110 §5.5: visible characters, obs-text, SP and HTAB; no CR, LF, NUL or other controls.
fn is_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn invalid(name: &'static str, value: &[u8]) -> HandshakeError {
    HandshakeError::InvalidHeader { name, value: lossy(value) }
}

fn bad_request_header(name: &str, reason: &'static str) -> HandshakeError {
    HandshakeError::InvalidRequestHeader { name: name.to_owned(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn req() -> ClientRequest {
        ClientRequest {
            host: "example.com:9001".into(),
            path: "/chat?x=1".into(),
            ..Default::default()
        }
    }

    fn complete<T: std::fmt::Debug>(p: Result<Parsed<T>, HandshakeError>) -> (T, usize) {
        match p {
            Ok(Parsed::Complete { value, consumed }) => (value, consumed),
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    fn server_parse(bytes: &[u8]) -> Request {
        complete(parse_request(bytes, &Config::default())).0
    }

    fn request_with(lines: &[&str]) -> Request {
        let mut head = String::new();
        for l in lines {
            head.push_str(l);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        server_parse(head.as_bytes())
    }

    const GOOD: &[&str] = &[
        "GET /chat HTTP/1.1",
        "Host: example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ];

    /// GOOD with line `i` replaced (or removed when `with` is None).
    fn good_but(i: usize, with: Option<&str>) -> Request {
        let mut lines: Vec<&str> = GOOD.to_vec();
        match with {
            Some(l) => lines[i] = l,
            None => {
                lines.remove(i);
            }
        }
        request_with(&lines)
    }

    fn response_with(lines: &[&str]) -> Response {
        let mut head = String::new();
        for l in lines {
            head.push_str(l);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let client = client_with(&[], None);
        complete(client.parse_response(head.as_bytes(), &Config::default())).0
    }

    fn client_with(protocols: &[&str], extensions: Option<&str>) -> ClientHandshake {
        let r = ClientRequest {
            protocols: protocols.iter().map(|p| p.to_string()).collect(),
            extensions: extensions.map(str::to_owned),
            ..req()
        };
        ClientHandshake::with_key(&r, KEY.into(), &mut Vec::new()).unwrap()
    }

    fn accept_lines() -> Vec<String> {
        vec![
            "HTTP/1.1 101 Switching Protocols".into(),
            "Upgrade: websocket".into(),
            "Connection: Upgrade".into(),
            format!("Sec-WebSocket-Accept: {ACCEPT}"),
        ]
    }

    fn response_plus(extra: &[&str]) -> Response {
        let mut lines = accept_lines();
        lines.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        response_with(&refs)
    }

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
        assert_eq!(
            upgrade.extensions.as_deref(),
            Some("permessage-deflate; client_max_window_bits")
        );
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
            (
                &offered,
                &["Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: chat"],
                "chat, chat",
            ),
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
        let with_params = response_plus(&[
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10",
        ]);
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
            assert_eq!(
                client.parse_response(&wire[..end], &config),
                Ok(Parsed::Partial),
                "at {end}"
            );
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
        assert_eq!(
            client.parse_response(&endless, &config),
            Err(HandshakeError::HeadTooLarge(limit))
        );
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
    fn list_items_respect_quotes_and_skip_empties() {
        let items: Vec<&[u8]> = list_items(b" a , ,b;x=\"1,2\",\t c\\,d ,").collect();
        assert_eq!(items, [&b"a"[..], b"b;x=\"1,2\"", b"c\\", b"d"]);
        assert_eq!(list_items(b"").count(), 0);
        assert_eq!(list_items(b" , ").count(), 0);
        assert_eq!(extension_name(b" permessage-deflate ; a=1"), b"permessage-deflate");
        assert_eq!(trim_ows(b" \t "), b"");
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
}
