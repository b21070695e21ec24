//! Header fields: the [`Headers`] of a parsed head, the HTTP list and token grammar, the one
//! list of headers the handshake writes itself, and the writers.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::error::HandshakeError;

/// The header fields of a parsed head, in the order received; each value as sent, without the
/// whitespace around it (RFC 9112 §5.1).
///
/// Names compare ASCII case-insensitively (RFC 9110 §5.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, Vec<u8>)>);

impl Headers {
    /// The first value of the header `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// Every value of the header `name`, in the order received.
    pub fn get_all<'a: 'n, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n {
        self.0.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    /// Every header as (name, value), in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// How many header lines the head had.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the head had no header lines.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends a header, as received (for a request head parsed by something else, such as
    /// an HTTP server library, before [`validate_request`](super::validate_request)).
    ///
    /// # Examples
    ///
    /// ```
    /// use wschannel_proto::handshake::Headers;
    ///
    /// let headers: Headers = [("Upgrade", &b"websocket"[..])].into_iter().collect();
    /// assert_eq!(headers.get("upgrade"), Some(&b"websocket"[..]));
    /// ```
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.0.push((name.into(), value.into()));
    }

    /// The header's value when it appears exactly once.
    pub(crate) fn single(&self, name: &'static str) -> Result<&[u8], HandshakeError> {
        let mut values = self.get_all(name);
        let first = values.next().ok_or(HandshakeError::MissingHeader(name))?;
        if values.next().is_some() {
            return Err(invalid(name, &self.joined(name).unwrap_or_default()));
        }
        Ok(first)
    }

    /// All values of a header joined with ", " (RFC 9110 §5.3), or `None` when absent.
    pub(crate) fn joined(&self, name: &str) -> Option<Vec<u8>> {
        let mut values = self.get_all(name);
        let mut all = values.next()?.to_vec();
        for v in values {
            all.extend_from_slice(b", ");
            all.extend_from_slice(v);
        }
        Some(all)
    }

    /// True when some `name` header holds `token` in its comma list (ASCII case-insensitive).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(list_items)
            .any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// `Ok` when some `name` header holds `token`; else `MissingHeader` or `InvalidHeader`.
    pub(crate) fn require_token(
        &self,
        name: &'static str,
        token: &str,
    ) -> Result<(), HandshakeError> {
        if self.has_token(name, token) {
            return Ok(());
        }
        match self.joined(name) {
            None => Err(HandshakeError::MissingHeader(name)),
            Some(v) => Err(invalid(name, &v)),
        }
    }
}

impl From<Vec<(String, Vec<u8>)>> for Headers {
    fn from(headers: Vec<(String, Vec<u8>)>) -> Self {
        Headers(headers)
    }
}

impl From<&[httparse::Header<'_>]> for Headers {
    fn from(headers: &[httparse::Header<'_>]) -> Self {
        Headers(headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect())
    }
}

impl<N: Into<String>, V: Into<Vec<u8>>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Headers(iter.into_iter().map(|(n, v)| (n.into(), v.into())).collect())
    }
}

/// The heads the handshake writes, as a bit set: where a header in [`OWN_HEADERS`] is the
/// handshake's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Heads(u8);

impl Heads {
    /// The client's request (RFC 6455 §4.1).
    pub(crate) const REQUEST: Heads = Heads(1);
    /// The server's 101 (RFC 6455 §4.2.2).
    pub(crate) const ACCEPT: Heads = Heads(2);
    /// A rejection other than 426.
    pub(crate) const REJECT: Heads = Heads(4);
    /// A 426 Upgrade Required (RFC 6455 §4.4).
    pub(crate) const REJECT_426: Heads = Heads(8);
    const ALL: Heads = Heads(15);

    const fn or(self, other: Heads) -> Heads {
        Heads(self.0 | other.0)
    }
}

/// The one list of headers the handshake writes itself, and in which heads; a caller's extra
/// header of the same name is refused ([`ClientRequest`](super::ClientRequest)) or skipped
/// ([`write_accept`](super::write_accept), [`write_reject`](super::write_reject)). The body
/// framing headers are reserved everywhere: a caller's Content-Length or Transfer-Encoding
/// would make the peer read the WebSocket stream as a body (RFC 9112 §6).
const OWN_HEADERS: &[(&str, Heads)] = &[
    ("Host", Heads::REQUEST),
    ("Origin", Heads::REQUEST),
    ("Upgrade", Heads::REQUEST.or(Heads::ACCEPT).or(Heads::REJECT_426)),
    ("Connection", Heads::ALL),
    ("Sec-WebSocket-Key", Heads::REQUEST),
    ("Sec-WebSocket-Version", Heads::REQUEST.or(Heads::REJECT_426)),
    ("Sec-WebSocket-Protocol", Heads::REQUEST.or(Heads::ACCEPT)),
    // A server passes its negotiated answer as an extra header, so only the request owns it.
    ("Sec-WebSocket-Extensions", Heads::REQUEST),
    ("Sec-WebSocket-Accept", Heads::ACCEPT),
    ("Content-Type", Heads::REJECT.or(Heads::REJECT_426)),
    ("Content-Length", Heads::ALL),
    ("Transfer-Encoding", Heads::ALL),
];

/// True when the handshake writes `name` itself in `head`.
pub(crate) fn is_own_header(name: &str, head: Heads) -> bool {
    OWN_HEADERS.iter().any(|(own, heads)| heads.0 & head.0 != 0 && own.eq_ignore_ascii_case(name))
}

/// RFC 6455 §4.1 item 7, §4.2.1 item 5: a Sec-WebSocket-Key is base64 of 16 bytes.
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    BASE64.decode(key).is_ok_and(|nonce| nonce.len() == 16)
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

pub(crate) fn put_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes the extra headers that are valid and not the handshake's own in `head`.
pub(crate) fn put_extra_headers(out: &mut Vec<u8>, extra: &[(String, String)], head: Heads) {
    for (name, value) in extra {
        if !is_own_header(name, head) && check_header(name, value).is_ok() {
            put_header(out, name, value.as_bytes());
        }
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
pub(crate) fn is_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

pub(crate) fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

pub(crate) fn invalid(name: &'static str, value: &[u8]) -> HandshakeError {
    HandshakeError::InvalidHeader { name, value: lossy(value) }
}

pub(crate) fn bad_request_header(name: &str, reason: &'static str) -> HandshakeError {
    HandshakeError::InvalidRequestHeader { name: name.to_owned(), reason }
}
