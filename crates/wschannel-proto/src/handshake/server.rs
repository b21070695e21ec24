//! The server's side of the opening handshake (RFC 6455 §4.2): parse and validate the
//! client's request, write the 101 or a rejection.

use crate::config::Config;
use crate::error::HandshakeError;

use super::headers::*;
use super::{accept_key, Parsed, RequestReader};

/// A parsed HTTP/1.x request head; it may or may not be a WebSocket upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, e.g. "GET".
    pub method: String,
    /// Request target as sent, e.g. "/chat?x=1".
    pub path: String,
    /// Minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// Headers in the order received; values as sent, without the whitespace around them.
    pub headers: Headers,
}

impl Request {
    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name)
    }

    /// True when the request asks to upgrade to WebSocket: an Upgrade header holds the token
    /// `websocket` (case-insensitive). A plain GET for a web page is false.
    ///
    /// This only routes the request; [`validate_request`] does the full RFC 6455 §4.2.1 checks.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.headers.has_token("Upgrade", "websocket")
    }

    /// The Origin header, when present and UTF-8.
    pub fn origin(&self) -> Option<&str> {
        self.header("Origin").and_then(|v| std::str::from_utf8(trim_ows(v)).ok())
    }

    /// Offered subprotocols from all Sec-WebSocket-Protocol headers, comma lists split and
    /// trimmed, empty items skipped, in the order sent.
    pub fn protocols(&self) -> Vec<String> {
        self.headers.get_all("Sec-WebSocket-Protocol").flat_map(list_items).map(lossy).collect()
    }
}

/// Parses any HTTP/1.x request head from `buf` in one go (so a server can also serve plain
/// HTTP on the same port). A caller that reads the request in segments keeps one
/// [`RequestReader`] instead, which looks at each byte once.
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
    RequestReader::new(config).read(buf)
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
    req.headers.single("Host")?;
    // RFC 6455 §4.2.1 items 3 and 4: Upgrade holds "websocket", Connection holds "Upgrade",
    // ASCII case-insensitive, each possibly in a list ("keep-alive, Upgrade").
    req.headers.require_token("Upgrade", "websocket")?;
    req.headers.require_token("Connection", "upgrade")?;

    // RFC 6455 §4.2.1 item 6: Sec-WebSocket-Version must be 13. Checked before the key so a
    // client speaking another version gets 426 with the versions we speak (§4.4).
    let version = req
        .headers
        .joined("Sec-WebSocket-Version")
        .ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Version"))?;
    if trim_ows(&version) != b"13" {
        return Err(HandshakeError::UnsupportedVersion(lossy(trim_ows(&version))));
    }

    // RFC 6455 §4.2.1 item 5, §11.3.1: exactly one Sec-WebSocket-Key, base64 of 16 bytes.
    let key = trim_ows(req.headers.single("Sec-WebSocket-Key")?);
    if !is_valid_key(key) {
        return Err(invalid("Sec-WebSocket-Key", key));
    }

    // RFC 6455 §4.1 item 10: subprotocols are tokens.
    let protocols = req.protocols();
    if let Some(bad) = protocols.iter().find(|p| !is_token(p)) {
        return Err(invalid("Sec-WebSocket-Protocol", bad.as_bytes()));
    }

    // RFC 6455 §4.2.1 item 9, §11.3.2: the extension offer may span several headers.
    let extensions = req.headers.joined("Sec-WebSocket-Extensions").unwrap_or_default();
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
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    for (name, value) in accept_headers(upgrade, protocol) {
        put_header(out, name, value.as_bytes());
    }
    put_extra_headers(out, extra_headers, Heads::ACCEPT);
    out.extend_from_slice(b"\r\n");
}

/// The headers of the server's 101 response (RFC 6455 §4.2.2 item 5) in the order
/// [`write_accept`] writes them, for a server whose HTTP library writes the head itself:
/// Upgrade, Connection, Sec-WebSocket-Accept and, when `protocol` is a token,
/// Sec-WebSocket-Protocol. As in `write_accept`, `protocol` must be one the client offered.
///
/// # Examples
///
/// ```
/// use wschannel_proto::handshake::{accept_headers, Upgrade};
///
/// let upgrade = Upgrade {
///     key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
///     protocols: vec!["chat".into()],
///     extensions: None,
/// };
/// let headers = accept_headers(&upgrade, Some("chat"));
/// assert_eq!(headers[2], ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_owned()));
/// assert_eq!(headers[3], ("Sec-WebSocket-Protocol", "chat".to_owned()));
/// ```
pub fn accept_headers(upgrade: &Upgrade, protocol: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        // RFC 6455 §4.2.2 item 5.2 and 5.3.
        ("Upgrade", "websocket".to_owned()),
        ("Connection", "Upgrade".to_owned()),
        // RFC 6455 §4.2.2 item 5.4.
        ("Sec-WebSocket-Accept", accept_key(upgrade.key.as_bytes())),
    ];
    // RFC 6455 §4.2.2 item 5.5: the one subprotocol chosen.
    if let Some(p) = protocol.filter(|p| is_token(p)) {
        headers.push(("Sec-WebSocket-Protocol", p.to_owned()));
    }
    headers
}

/// The headers a rejection with `status` carries besides its body's, as [`write_reject`]
/// writes them: for 426 Upgrade Required, `Upgrade: websocket` and `Sec-WebSocket-Version: 13`
/// (RFC 9110 §15.5.22, RFC 6455 §4.4); none for any other status. For a server whose HTTP
/// library writes the head itself.
pub fn reject_headers(status: u16) -> &'static [(&'static str, &'static str)] {
    if status == 426 {
        &[("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]
    } else {
        &[]
    }
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
        for (name, value) in reject_headers(status) {
            put_header(out, name, value.as_bytes());
        }
        put_extra_headers(out, extra_headers, Heads::REJECT_426);
    } else {
        put_header(out, "Connection", b"close");
        put_extra_headers(out, extra_headers, Heads::REJECT);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
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
