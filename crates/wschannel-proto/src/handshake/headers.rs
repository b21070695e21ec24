//! Helpers shared by both sides: header lookups, HTTP list and token grammar, writers.

use crate::config::Config;
use crate::error::HandshakeError;

use super::Parsed;

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

/// Writes the extra headers that are valid and not in `own`.
pub(crate) fn put_extra_headers(out: &mut Vec<u8>, extra: &[(String, String)], own: &[&str]) {
    for (name, value) in extra {
        let reserved = own.iter().any(|o| o.eq_ignore_ascii_case(name));
        if !reserved && check_header(name, value).is_ok() {
            put_header(out, name, value.as_bytes());
        }
    }
}

pub(crate) fn reason_phrase(status: u16) -> &'static str {
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

pub(crate) fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, Vec<u8>)> {
    headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect()
}

/// An incomplete head: fine while under the limit, too large once `limit` bytes are buffered.
pub(crate) fn partial_or_too_large<T>(
    buf: &[u8],
    limit: usize,
) -> Result<Parsed<T>, HandshakeError> {
    if buf.len() >= limit {
        Err(HandshakeError::HeadTooLarge(limit))
    } else {
        Ok(Parsed::Partial)
    }
}

pub(crate) fn map_httparse(e: httparse::Error, config: &Config) -> HandshakeError {
    match e {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders(config.max_headers),
        other => HandshakeError::Http(other.to_string()),
    }
}

pub(crate) fn header_values<'a: 'n, 'n>(
    headers: &'a [(String, Vec<u8>)],
    name: &'n str,
) -> impl Iterator<Item = &'a [u8]> + 'n {
    headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
}

/// The header's value when it appears exactly once.
pub(crate) fn single_header<'a>(
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
pub(crate) fn joined_opt(headers: &[(String, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
    let mut values = header_values(headers, name);
    let mut all = values.next()?.to_vec();
    for v in values {
        all.extend_from_slice(b", ");
        all.extend_from_slice(v);
    }
    Some(all)
}

pub(crate) fn joined(headers: &[(String, Vec<u8>)], name: &str) -> Vec<u8> {
    joined_opt(headers, name).unwrap_or_default()
}

/// True when some `name` header holds `token` in its comma list (ASCII case-insensitive).
pub(crate) fn has_token(headers: &[(String, Vec<u8>)], name: &str, token: &str) -> bool {
    header_values(headers, name)
        .flat_map(list_items)
        .any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
}

pub(crate) fn require_token(
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
