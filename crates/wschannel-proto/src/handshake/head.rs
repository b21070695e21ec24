//! The one HTTP/1.x head parser, for requests and responses alike.
//!
//! RFC 9112 §2.1: a head is a start line, header lines, then an empty line. A [`HeadReader`]
//! remembers how far it has looked for that empty line, so a head that arrives in many small
//! segments is scanned once, not once per segment; httparse then parses the complete head once.
//! To refuse early what cannot be HTTP (a TLS ClientHello on a plain port), httparse also
//! looks at an incomplete head, but only when the bytes buffered have doubled since its last
//! look: those looks cost at most twice the head limit in all. Work is linear in the bytes
//! received however they are cut, and bounded by `max_handshake_bytes` (which also bounds a
//! single line) and `max_headers`.

use std::marker::PhantomData;

use crate::config::Config;
use crate::error::HandshakeError;

use super::headers::Headers;
use super::{Parsed, Request, Response};

/// Reads one HTTP head from a buffer that grows as bytes arrive.
///
/// Call [`read`](HeadReader::read) with everything received so far (the same buffer, grown)
/// after each read from the peer, until it answers [`Parsed::Complete`] or an error. Each call
/// looks only at the new bytes. Use [`RequestReader`] on a server and [`ResponseReader`] on a
/// client.
///
/// # Examples
///
/// ```
/// use wschannel_proto::handshake::{Parsed, RequestReader};
/// use wschannel_proto::Config;
///
/// let mut reader = RequestReader::new(&Config::default());
/// let mut buf = Vec::new();
/// for segment in [&b"GET / HTTP/1.1\r\nHo"[..], b"st: a\r\n", b"\r\nafter"] {
///     buf.extend_from_slice(segment);
///     if let Parsed::Complete { value, consumed } = reader.read(&buf)? {
///         assert_eq!(value.headers.get("host"), Some(&b"a"[..]));
///         assert_eq!(&buf[consumed..], b"after");
///     }
/// }
/// # Ok::<(), wschannel_proto::HandshakeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HeadReader<H> {
    limit: usize,
    max_headers: usize,
    /// Bytes already scanned for the empty line that ends the head.
    scanned: usize,
    /// Where the start line begins, once a byte other than CR or LF has arrived: httparse skips
    /// empty lines before it (RFC 9112 §2.2), so they do not end the head.
    start: Option<usize>,
    /// Buffer length at which httparse next looks at an incomplete head.
    next_look: usize,
    /// Bytes scanned plus bytes handed to httparse, to prove the work linear.
    #[cfg(test)]
    pub(crate) work: usize,
    head: PhantomData<fn() -> H>,
}

/// A [`HeadReader`] for a client's request, on a server.
pub type RequestReader = HeadReader<Request>;

/// A [`HeadReader`] for a server's response, on a client.
pub type ResponseReader = HeadReader<Response>;

impl<H> HeadReader<H> {
    /// A reader bounded by `config.max_handshake_bytes` and `config.max_headers`.
    pub fn new(config: &Config) -> Self {
        Self::new_with(config.max_handshake_bytes, config.max_headers)
    }

    /// The scan and parse both sides share; `parse` is httparse for `H`.
    fn read_with(&mut self, buf: &[u8], parse: ParseFn<H>) -> Result<Parsed<H>, HandshakeError> {
        let window = &buf[..buf.len().min(self.limit)];
        // A caller that hands a shorter buffer than before starts over.
        if window.len() < self.scanned {
            *self = HeadReader::new_with(self.limit, self.max_headers);
        }
        while let Some(end) = self.scan(window) {
            match self.parse_prefix(&window[..end], parse)? {
                Some((value, consumed)) => return Ok(Parsed::Complete { value, consumed }),
                // Not expected after a start line (httparse ends the head at the first empty
                // line), but then the scan goes on: never a wrong answer.
                None => continue,
            }
        }
        // No end of head yet: let httparse refuse what is already malformed, when the buffer
        // has doubled since it last looked, or when it is full.
        let full = buf.len() >= self.limit;
        if window.len() >= self.next_look || full {
            self.next_look = window.len().saturating_mul(2).max(window.len() + 1);
            if let Some((value, consumed)) = self.parse_prefix(window, parse)? {
                return Ok(Parsed::Complete { value, consumed });
            }
        }
        if full {
            return Err(HandshakeError::HeadTooLarge(self.limit));
        }
        Ok(Parsed::Partial)
    }

    fn new_with(limit: usize, max_headers: usize) -> Self {
        HeadReader {
            limit,
            max_headers,
            scanned: 0,
            start: None,
            next_look: 0,
            #[cfg(test)]
            work: 0,
            head: PhantomData,
        }
    }

    /// Scans the new bytes of `window` for the empty line that ends the head (RFC 9112 §2.1:
    /// CRLF CRLF; §2.2 lets a bare LF end a line) and answers the head's length.
    fn scan(&mut self, window: &[u8]) -> Option<usize> {
        let from = self.scanned;
        #[cfg(test)]
        {
            self.work += window.len().saturating_sub(from);
        }
        for (i, &b) in window.iter().enumerate().skip(from) {
            self.scanned = i + 1;
            let Some(start) = self.start else {
                if b != b'\r' && b != b'\n' {
                    self.start = Some(i);
                }
                continue;
            };
            if b != b'\n' {
                continue;
            }
            // An LF ending an empty line: the previous line ended at i - 1 (LF LF) or i - 2
            // (LF CR LF), after the start line began.
            let is =
                |j: Option<usize>, byte: u8| j.is_some_and(|j| j >= start && window[j] == byte);
            let bare = is(i.checked_sub(1), b'\n');
            let crlf = is(i.checked_sub(1), b'\r') && is(i.checked_sub(2), b'\n');
            if bare || crlf {
                return Some(i + 1);
            }
        }
        None
    }

    fn parse_prefix(
        &mut self,
        bytes: &[u8],
        parse: ParseFn<H>,
    ) -> Result<Option<(H, usize)>, HandshakeError> {
        #[cfg(test)]
        {
            self.work += bytes.len();
        }
        let mut headers = vec![httparse::EMPTY_HEADER; self.max_headers];
        match parse(bytes, &mut headers) {
            Ok(httparse::Status::Complete((value, consumed))) => Ok(Some((value, consumed))),
            Ok(httparse::Status::Partial) => Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                Err(HandshakeError::TooManyHeaders(self.max_headers))
            }
            Err(e) => Err(HandshakeError::Http(e.to_string())),
        }
    }
}

impl HeadReader<Request> {
    /// Looks at the bytes that arrived since the last call and answers the request once its
    /// head is complete.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::HeadTooLarge`] when no complete head is found within
    /// `max_handshake_bytes` bytes, [`HandshakeError::TooManyHeaders`], or
    /// [`HandshakeError::Http`] for malformed HTTP.
    pub fn read(&mut self, buf: &[u8]) -> Result<Parsed<Request>, HandshakeError> {
        self.read_with(buf, parse_request_head)
    }
}

impl HeadReader<Response> {
    /// Looks at the bytes that arrived since the last call and answers the response once its
    /// head is complete.
    ///
    /// # Errors
    ///
    /// As [`RequestReader::read`].
    pub fn read(&mut self, buf: &[u8]) -> Result<Parsed<Response>, HandshakeError> {
        self.read_with(buf, parse_response_head)
    }
}

/// httparse for one kind of head: the head and its length once complete.
type ParseFn<H> = for<'b> fn(&'b [u8], &mut [httparse::Header<'b>]) -> HttpResult<H>;

type HttpResult<H> = httparse::Result<(H, usize)>;

fn parse_request_head<'b>(
    buf: &'b [u8],
    headers: &mut [httparse::Header<'b>],
) -> HttpResult<Request> {
    let mut req = httparse::Request::new(headers);
    Ok(match req.parse(buf)? {
        httparse::Status::Partial => httparse::Status::Partial,
        httparse::Status::Complete(consumed) => {
            // httparse fills method, path and version on Complete; the defaults are unreachable.
            let value = Request {
                method: req.method.unwrap_or_default().to_owned(),
                path: req.path.unwrap_or_default().to_owned(),
                version: req.version.unwrap_or_default(),
                headers: Headers::from(&*req.headers),
            };
            httparse::Status::Complete((value, consumed))
        }
    })
}

fn parse_response_head<'b>(
    buf: &'b [u8],
    headers: &mut [httparse::Header<'b>],
) -> HttpResult<Response> {
    let mut resp = httparse::Response::new(headers);
    Ok(match resp.parse(buf)? {
        httparse::Status::Partial => httparse::Status::Partial,
        httparse::Status::Complete(consumed) => {
            // httparse fills version, code and reason on Complete; the defaults are unreachable.
            let value = Response {
                version: resp.version.unwrap_or_default(),
                status: resp.code.unwrap_or_default(),
                reason: resp.reason.unwrap_or_default().to_owned(),
                headers: Headers::from(&*resp.headers),
            };
            httparse::Status::Complete((value, consumed))
        }
    })
}
