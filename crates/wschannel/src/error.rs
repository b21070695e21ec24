//! The error type, by whose fault it is: the caller's, the network's, the server's or the peer's.

use std::fmt;
use std::io;

use bytes::Bytes;
use wschannel_proto::utf8;
use wschannel_proto::{HandshakeError, ProtocolError, UsageError};

/// Everything that can go wrong when connecting, accepting, sending or receiving.
///
/// Each variant says whose fault it was. The `Display` text is written for people: it says what
/// happened and, where there is one, what to do next. Match on variants, not on the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's: the URL is not a usable `ws://` or `wss://` URL.
    #[error("invalid WebSocket URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The network's: the host name did not resolve.
    #[error("could not resolve host {host:?}: {source}; check the host name and your DNS")]
    Dns {
        /// The host name that did not resolve.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The network's: the TCP connection failed (refused, unreachable, timed out).
    #[error("{}", connect_message(addr, source))]
    Connect {
        /// The last address tried.
        addr: std::net::SocketAddr,
        /// The OS error; its `kind()` tells refused from unreachable.
        source: io::Error,
    },
    /// The network's: a stage did not finish within its time limit.
    #[error("timed out during {stage}; the peer or the network is too slow or gone")]
    Timeout {
        /// The stage that was running when time ran out.
        stage: Stage,
    },
    /// The network's or the server's: the TLS handshake failed (certificate, protocol).
    #[error("TLS handshake with {host} failed: {source}; for a self-signed certificate, add it with ClientBuilder::root_certificate")]
    Tls {
        /// The server name that was verified.
        host: String,
        /// The error, wrapping a `rustls::Error` when TLS itself failed.
        source: io::Error,
    },
    /// The caller's: a certificate, key or TLS setting given to the library is not usable.
    #[error("unusable TLS configuration: {0}")]
    TlsConfig(String),
    /// The server's: it answered the upgrade request with an HTTP status other than 101.
    #[error("{0}")]
    Http(Box<HttpRejection>),
    /// The peer's: the opening handshake broke RFC 6455 §4.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// This server's: the accept hook refused the request with this HTTP status.
    #[error("the request was rejected with HTTP {status}")]
    Rejected {
        /// The status sent to the client.
        status: u16,
    },
    /// The caller's: a header that this server's accept hook added to its response is not valid
    /// HTTP; the client was sent a 500 instead, never the header.
    #[error("the accept hook's response header {name:?} is invalid: {reason}; fix the hook (the client got a 500)")]
    InvalidResponseHeader {
        /// The header's name, as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The peer's: it broke the protocol or a limit after the handshake; the connection closes.
    #[error("the peer broke the WebSocket protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// The caller's: a send the protocol does not allow (bad close code, fragment order).
    #[error("invalid use: {0}")]
    Usage(UsageError),
    /// The network's: reading or writing the transport failed.
    #[error("connection I/O failed: {0}")]
    Io(#[from] io::Error),
    /// The caller's: a message was sent after the connection started closing.
    #[error("the connection is closed; no more messages can be sent")]
    Closed,
    /// The proxy's, the network's or the caller's: the proxy URL is unusable, the proxy is
    /// unreachable, refused the tunnel or wants credentials; [`ProxyError::kind`] says which.
    #[error("{0}")]
    Proxy(Box<ProxyError>),
}

impl Error {
    /// True when the TCP connection was refused: nothing listens at that address.
    pub fn is_connection_refused(&self) -> bool {
        matches!(self, Error::Connect { source, .. } if source.kind() == io::ErrorKind::ConnectionRefused)
    }

    /// True for a timeout at any stage.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// The HTTP status, when the server rejected the upgrade (or this server's hook did).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Http(r) => Some(r.status),
            Error::Rejected { status } => Some(*status),
            _ => None,
        }
    }
}

/// A proxy stage that failed: which proxy, for which target, and what went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub struct ProxyError {
    /// The proxy URL, with its password shown as `***`.
    pub proxy: String,
    /// The environment variable the proxy came from (`https_proxy`, ...), if it did.
    pub variable: Option<&'static str>,
    /// The `host:port` the tunnel was for.
    pub target: String,
    /// What went wrong.
    pub kind: ProxyErrorKind,
}

/// What went wrong with a proxy.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyErrorKind {
    /// The caller's: the proxy URL cannot be used (the reason says why).
    InvalidUrl(String),
    /// The network's: the proxy's host did not resolve or its TCP connection failed.
    Unreachable(io::Error),
    /// The proxy's: it refused to open the tunnel to the target.
    Refused(ProxyRefusal),
    /// The proxy's: it wants credentials (`rejected`: the ones given were refused).
    AuthRequired {
        /// True when credentials were sent and refused, false when none were given.
        rejected: bool,
    },
    /// The proxy's: its answer broke HTTP or SOCKS5, or it closed the connection mid-way.
    Protocol(String),
}

/// How a proxy refused a tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyRefusal {
    /// An HTTP proxy answered CONNECT with this status (not 2xx, not 407).
    Http {
        /// The HTTP status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// A SOCKS5 proxy answered with this reply code (RFC 1928 §6; not 0x00).
    Socks {
        /// The REP field.
        reply: u8,
    },
}

impl ProxyRefusal {
    /// What a SOCKS5 reply code means (RFC 1928 §6), or the HTTP reason phrase.
    pub fn meaning(&self) -> &str {
        match self {
            ProxyRefusal::Http { reason, .. } => reason,
            ProxyRefusal::Socks { reply } => match reply {
                0x01 => "general SOCKS server failure",
                0x02 => "connection not allowed by ruleset",
                0x03 => "network unreachable",
                0x04 => "host unreachable",
                0x05 => "connection refused",
                0x06 => "TTL expired",
                0x07 => "command not supported",
                0x08 => "address type not supported",
                _ => "unassigned reply code",
            },
        }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proxy = &self.proxy;
        let from = match self.variable {
            Some(name) => format!(" (from ${name})"),
            None => String::new(),
        };
        let target = &self.target;
        match &self.kind {
            ProxyErrorKind::InvalidUrl(reason) => write!(
                f,
                "invalid proxy URL {proxy:?}{from}: {reason}; fix it, or connect without a proxy"
            ),
            ProxyErrorKind::Unreachable(e) => write!(
                f,
                "cannot reach the proxy {proxy}{from}: {e}; is the proxy address right and the \
                 proxy running? (to connect directly, turn the proxy off or list the host in \
                 NO_PROXY)"
            ),
            ProxyErrorKind::Refused(r @ ProxyRefusal::Http { status, .. }) => write!(
                f,
                "the proxy {proxy}{from} refused to connect to {target} with HTTP {status} {}: \
                 the proxy does not allow this host or port; ask its administrator, or connect \
                 without it",
                r.meaning()
            ),
            ProxyErrorKind::Refused(r @ ProxyRefusal::Socks { reply }) => write!(
                f,
                "the SOCKS5 proxy {proxy}{from} could not connect to {target}: reply \
                 {reply:#04x}, {}; check the target host and port, and the proxy's rules",
                r.meaning()
            ),
            ProxyErrorKind::AuthRequired { rejected: false } => write!(
                f,
                "the proxy {proxy}{from} requires authentication: give it in the proxy URL, \
                 as scheme://user:password@host:port"
            ),
            ProxyErrorKind::AuthRequired { rejected: true } => write!(
                f,
                "the proxy {proxy}{from} rejected the user and password: check the credentials \
                 in the proxy URL (percent-encode @ : / in them)"
            ),
            ProxyErrorKind::Protocol(what) => {
                write!(f, "the proxy {proxy}{from} broke its protocol: {what}; is it that kind of proxy (http://, socks5://)?")
            }
        }
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        match e {
            UsageError::Closed => Error::Closed,
            e => Error::Usage(e),
        }
    }
}

fn connect_message(addr: &std::net::SocketAddr, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            format!("connection refused by {addr}: is a server listening there?")
        }
        io::ErrorKind::TimedOut => {
            format!("connecting to {addr} timed out: is the host up and the port open?")
        }
        _ => format!("could not connect to {addr}: {e}"),
    }
}

/// A stage of connecting or closing, as reported by [`Error::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Resolving the host name.
    Dns,
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake.
    Tls,
    /// The HTTP upgrade (RFC 6455 §4).
    Handshake,
    /// Connecting to a proxy and opening its tunnel.
    Proxy,
    /// The closing handshake (RFC 6455 §7).
    Close,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Dns => "DNS resolution",
            Stage::Connect => "the TCP connect",
            Stage::Tls => "the TLS handshake",
            Stage::Handshake => "the WebSocket handshake",
            Stage::Proxy => "the proxy connection",
            Stage::Close => "the closing handshake",
        })
    }
}

/// The server's answer when it refused the upgrade: status, headers and (bounded) body.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRejection {
    /// The HTTP status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The response headers (values decoded lossily as UTF-8).
    pub headers: Vec<(String, String)>,
    /// The start of the body: at most 64 KiB.
    pub body: Bytes,
}

impl HttpRejection {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for HttpRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server refused the WebSocket upgrade with HTTP {} {}",
            self.status, self.reason
        )?;
        let body = String::from_utf8_lossy(&self.body);
        let body = body.trim();
        if !body.is_empty() {
            write!(f, ": {}", utf8::truncate(body, 200))?;
        }
        match self.status {
            401 | 403 => write!(f, " (check credentials, Origin and headers)"),
            404 => write!(f, " (check the URL path)"),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for HttpRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRejection")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("headers", &self.headers)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_says_what_to_check() {
        let e = Error::Connect {
            addr: "127.0.0.1:9001".parse().unwrap(),
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert!(e.is_connection_refused());
        assert_eq!(
            e.to_string(),
            "connection refused by 127.0.0.1:9001: is a server listening there?"
        );
    }

    #[test]
    fn a_rejection_shows_the_start_of_its_body_cut_at_a_char_boundary() {
        let rejection = HttpRejection {
            status: 403,
            reason: "Forbidden".into(),
            headers: Vec::new(),
            body: Bytes::from("€".repeat(100)), // 300 bytes
        };
        let shown = rejection.to_string();
        // 66 three-byte chars fit in 200 bytes.
        let expect = format!(
            "the server refused the WebSocket upgrade with HTTP 403 Forbidden: {} (check \
             credentials, Origin and headers)",
            "€".repeat(66)
        );
        assert_eq!(shown, expect);
    }

    #[test]
    fn closed_usage_becomes_closed() {
        assert!(matches!(Error::from(UsageError::Closed), Error::Closed));
        assert!(matches!(Error::from(UsageError::InvalidUtf8), Error::Usage(_)));
    }

    #[test]
    fn error_is_small() {
        assert!(std::mem::size_of::<Error>() <= 64, "{}", std::mem::size_of::<Error>());
    }
}
