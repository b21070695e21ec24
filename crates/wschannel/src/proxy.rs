//! Client proxies: HTTP CONNECT (RFC 9110 §9.3.6) and SOCKS5 (RFC 1928, with RFC 1929
//! username/password), chosen explicitly or from the environment as curl reads it.
//!
//! The tunnel is opened on a TCP connection to the proxy; once the proxy says yes, that
//! connection carries TLS (for `wss://`) and the WebSocket handshake as if it went to the
//! server. Every read here is bounded in bytes; the builder's connect timeout bounds the time.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::{Host, Url};

use crate::error::{Error, ProxyError, ProxyErrorKind, ProxyRefusal};

/// The most of a CONNECT response head that is read (status line and headers).
const MAX_CONNECT_HEAD: usize = 8 << 10;

/// How many headers a CONNECT response may have.
const MAX_CONNECT_HEADERS: usize = 64;

/// A parsed proxy URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Proxy {
    kind: Kind,
    /// The proxy's host (IPv6 without brackets).
    host: String,
    port: u16,
    /// User and password, percent-decoded.
    auth: Option<(String, String)>,
    /// The URL for messages and logs, with the password redacted.
    shown: String,
    /// The environment variable it came from, if it did.
    variable: Option<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `http://`: HTTP CONNECT.
    Http,
    /// `socks5://`: SOCKS5, the target host resolved here.
    Socks5,
    /// `socks5h://`: SOCKS5, the target host name sent to the proxy to resolve.
    Socks5h,
}

/// Where the tunnel should go.
pub(crate) enum Destination<'a> {
    /// A host name (or IP literal, IPv6 without brackets) and port, for the proxy to resolve.
    Name(&'a str, u16),
    /// An address resolved here (`socks5://`).
    Addr(SocketAddr),
}

impl Proxy {
    /// Parses `http://[user:pass@]host[:port]`, `socks5://…` or `socks5h://…`; a URL without
    /// a scheme is `http://` (as curl). Default ports: 80 for `http://`, 1080 for SOCKS5.
    ///
    /// # Errors
    /// The reason, for [`ProxyErrorKind::InvalidUrl`].
    pub(crate) fn parse(url: &str) -> Result<Proxy, String> {
        let url = url.trim();
        let with_scheme;
        let url = if url.contains("://") {
            url
        } else {
            with_scheme = format!("http://{url}");
            &with_scheme
        };
        let parsed = Url::parse(url).map_err(|e| e.to_string())?;
        let kind = match parsed.scheme() {
            "http" => Kind::Http,
            "socks5" => Kind::Socks5,
            "socks5h" => Kind::Socks5h,
            "https" => {
                return Err("https:// proxies (TLS to the proxy) are not supported; use an \
                            http://, socks5:// or socks5h:// proxy"
                    .into())
            }
            other => {
                return Err(format!(
                    "scheme {other}:// is not a supported proxy; use http://, socks5:// or \
                     socks5h://"
                ))
            }
        };
        let host = match parsed.host() {
            Some(Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(Host::Ipv4(a)) => a.to_string(),
            Some(Host::Ipv6(a)) => a.to_string(),
            _ => return Err("the proxy URL has no host".into()),
        };
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(
                "a proxy URL is scheme://[user:password@]host[:port], without a path".into()
            );
        }
        let port = parsed.port().unwrap_or(match kind {
            Kind::Http => 80,
            Kind::Socks5 | Kind::Socks5h => 1080,
        });
        let decode = |s: &str| -> Result<String, String> {
            percent_decode(s).ok_or_else(|| "the proxy user or password is not UTF-8".to_owned())
        };
        let auth = match (parsed.username(), parsed.password()) {
            ("", None) => None,
            (user, password) => Some((decode(user)?, decode(password.unwrap_or(""))?)),
        };
        if let (Kind::Socks5 | Kind::Socks5h, Some((user, password))) = (kind, &auth) {
            // RFC 1929: one length byte each; the user must not be empty.
            if user.is_empty() || user.len() > 255 || password.len() > 255 {
                return Err(
                    "a SOCKS5 user must be 1 to 255 bytes and a password at most 255".into()
                );
            }
        }
        let mut shown = parsed.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        let shown = shown.as_str().trim_end_matches('/').to_owned();
        Ok(Proxy { kind, host, port, auth, shown, variable: None })
    }

    /// True for `socks5://`: the caller resolves the target and passes an address.
    pub(crate) fn resolves_locally(&self) -> bool {
        self.kind == Kind::Socks5
    }

    /// Connects to the proxy and asks it for a tunnel to `dest`; returns the connection,
    /// ready to carry the target's bytes.
    ///
    /// # Errors
    /// [`Error::Proxy`]: unreachable, refused, authentication required, or a broken answer.
    pub(crate) async fn tunnel(&self, dest: Destination<'_>) -> Result<TcpStream, Error> {
        let fail = |kind: ProxyErrorKind| self.error(&dest, kind);
        let mut tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| fail(ProxyErrorKind::Unreachable(e)))?;
        // Frames are written whole; do not let Nagle hold back small messages.
        let _ = tcp.set_nodelay(true);
        tracing::debug!(proxy = %self.shown, kind = ?self.kind, "connected to the proxy");
        let result = match self.kind {
            Kind::Http => self.http_connect(&mut tcp, &dest).await,
            Kind::Socks5 | Kind::Socks5h => self.socks5_connect(&mut tcp, &dest).await,
        };
        match result {
            Ok(()) => Ok(tcp),
            Err(Fault::Kind(kind)) => Err(fail(kind)),
            Err(Fault::Io(e)) => Err(fail(ProxyErrorKind::Protocol(format!(
                "the connection to the proxy failed during its handshake: {e}"
            )))),
        }
    }

    /// `socks5://`: asks for each address in turn while the proxy answers that the address
    /// cannot be reached (RFC 1928 §6 replies 0x03, 0x04, 0x05), as a direct connect tries
    /// each address; reports the last failure.
    ///
    /// # Errors
    /// As [`tunnel`](Self::tunnel); [`Error::Dns`] for an empty list.
    pub(crate) async fn tunnel_to_any(&self, addrs: &[SocketAddr]) -> Result<TcpStream, Error> {
        let mut last = None;
        for &addr in addrs {
            match self.tunnel(Destination::Addr(addr)).await {
                Ok(tcp) => return Ok(tcp),
                Err(Error::Proxy(e))
                    if matches!(
                        e.kind,
                        ProxyErrorKind::Refused(ProxyRefusal::Socks { reply: 0x03..=0x05 })
                    ) =>
                {
                    tracing::debug!(%addr, error = %e, "trying the next address through the proxy");
                    last = Some(Error::Proxy(e));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Dns {
            host: String::new(),
            source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        }))
    }

    /// RFC 9110 §9.3.6: `CONNECT host:port`; any 2xx opens the tunnel.
    async fn http_connect(&self, tcp: &mut TcpStream, dest: &Destination<'_>) -> Result<(), Fault> {
        let authority = authority(dest);
        let mut request =
            format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
        if let Some((user, password)) = &self.auth {
            // RFC 7617: Basic credentials are base64 of `user:password`.
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request.extend_from_slice(format!("Proxy-Authorization: Basic {token}\r\n").as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        tcp.write_all(&request).await?;
        tcp.flush().await?;

        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        let (status, reason, consumed) = loop {
            let n = tcp.read(&mut chunk).await?;
            if n == 0 {
                return Err(protocol("the proxy closed the connection before answering CONNECT"));
            }
            buf.extend_from_slice(&chunk[..n]);
            match parse_connect_response(&buf)? {
                Some(parsed) => break parsed,
                None if buf.len() >= MAX_CONNECT_HEAD => {
                    return Err(protocol(format!(
                    "the proxy's answer to CONNECT has no end of head in {MAX_CONNECT_HEAD} bytes"
                )))
                }
                None => {}
            }
        };
        match status {
            200..=299 => {
                // The target has not been sent anything yet, so it cannot have answered: bytes
                // here came from the proxy, and would be taken for the server's.
                if consumed < buf.len() {
                    return Err(protocol("the proxy sent bytes after its CONNECT answer"));
                }
                Ok(())
            }
            // RFC 9110 §15.5.8: 407 asks for proxy credentials. tinyproxy answers 401 to wrong
            // ones; before the tunnel opens, only the proxy can have said either.
            401 | 407 => {
                Err(Fault::Kind(ProxyErrorKind::AuthRequired { rejected: self.auth.is_some() }))
            }
            _ => Err(Fault::Kind(ProxyErrorKind::Refused(ProxyRefusal::Http { status, reason }))),
        }
    }

    /// RFC 1928: greeting, method choice, (RFC 1929 authentication,) CONNECT request, reply.
    async fn socks5_connect(
        &self,
        tcp: &mut TcpStream,
        dest: &Destination<'_>,
    ) -> Result<(), Fault> {
        // RFC 1928 §3: VER 0x05, NMETHODS, METHODS: 0x00 no authentication, 0x02 user/password.
        let greeting: &[u8] =
            if self.auth.is_some() { &[0x05, 0x02, 0x00, 0x02] } else { &[0x05, 0x01, 0x00] };
        tcp.write_all(greeting).await?;
        let mut reply = [0u8; 2];
        tcp.read_exact(&mut reply).await.map_err(eof_is_protocol)?;
        match reply {
            [0x05, 0x00] => {}
            [0x05, 0x02] => {
                let Some((user, password)) = &self.auth else {
                    return Err(protocol("the SOCKS5 proxy chose a method that was not offered"));
                };
                // RFC 1929 §2: VER 0x01, ULEN, UNAME, PLEN, PASSWD (lengths checked at parse).
                let mut auth = vec![0x01, user.len() as u8];
                auth.extend_from_slice(user.as_bytes());
                auth.push(password.len() as u8);
                auth.extend_from_slice(password.as_bytes());
                tcp.write_all(&auth).await?;
                let mut status = [0u8; 2];
                tcp.read_exact(&mut status).await.map_err(eof_is_protocol)?;
                // RFC 1929 §2: STATUS 0x00 is success; anything else, the connection closes.
                if status[1] != 0x00 {
                    return Err(Fault::Kind(ProxyErrorKind::AuthRequired { rejected: true }));
                }
            }
            // RFC 1928 §3: 0xFF, no acceptable methods: the proxy wants credentials we lack
            // (or a method we do not speak).
            [0x05, 0xff] => {
                return Err(Fault::Kind(ProxyErrorKind::AuthRequired {
                    rejected: self.auth.is_some(),
                }))
            }
            [0x05, method] => {
                return Err(protocol(format!(
                    "the SOCKS5 proxy chose method {method:#04x}, which was not offered"
                )))
            }
            [version, _] => {
                return Err(protocol(format!(
                    "the proxy answered with version {version:#04x}: is it a SOCKS5 proxy?"
                )))
            }
        }

        // RFC 1928 §4: VER 0x05, CMD 0x01 CONNECT, RSV 0x00, ATYP, DST.ADDR, DST.PORT.
        let mut request = vec![0x05, 0x01, 0x00];
        let port = match *dest {
            Destination::Addr(addr) => {
                push_ip(&mut request, addr.ip());
                addr.port()
            }
            Destination::Name(host, port) => {
                match host.parse::<IpAddr>() {
                    Ok(ip) => push_ip(&mut request, ip),
                    Err(_) => {
                        let len = u8::try_from(host.len()).map_err(|_| {
                            protocol("the host name is longer than SOCKS5's 255 bytes")
                        })?;
                        request.extend_from_slice(&[0x03, len]);
                        request.extend_from_slice(host.as_bytes());
                    }
                }
                port
            }
        };
        request.extend_from_slice(&port.to_be_bytes());
        tcp.write_all(&request).await?;

        // RFC 1928 §6: VER, REP, RSV, ATYP, BND.ADDR, BND.PORT.
        let mut head = [0u8; 4];
        tcp.read_exact(&mut head).await.map_err(eof_is_protocol)?;
        if head[0] != 0x05 {
            return Err(protocol(format!(
                "the SOCKS5 reply has version {:#04x}, not 0x05",
                head[0]
            )));
        }
        if head[1] != 0x00 {
            return Err(Fault::Kind(ProxyErrorKind::Refused(ProxyRefusal::Socks {
                reply: head[1],
            })));
        }
        let rest = match head[3] {
            0x01 => 4 + 2,
            0x04 => 16 + 2,
            0x03 => {
                let mut len = [0u8; 1];
                tcp.read_exact(&mut len).await.map_err(eof_is_protocol)?;
                usize::from(len[0]) + 2
            }
            other => {
                return Err(protocol(format!(
                    "the SOCKS5 reply has address type {other:#04x}, not 0x01, 0x03 or 0x04"
                )))
            }
        };
        // At most 257 bytes: the bound address is not needed.
        let mut bound = [0u8; 257];
        tcp.read_exact(&mut bound[..rest]).await.map_err(eof_is_protocol)?;
        Ok(())
    }

    fn error(&self, dest: &Destination<'_>, kind: ProxyErrorKind) -> Error {
        Error::Proxy(Box::new(ProxyError {
            proxy: self.shown.clone(),
            variable: self.variable,
            target: authority(dest),
            kind,
        }))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password never appears: `shown` has it redacted.
        f.debug_tuple("Proxy").field(&self.shown).finish()
    }
}

/// Why a proxy handshake stopped, before the proxy and target are put into the error.
enum Fault {
    Kind(ProxyErrorKind),
    Io(io::Error),
}

impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Self {
        Fault::Io(e)
    }
}

fn protocol(message: impl Into<String>) -> Fault {
    Fault::Kind(ProxyErrorKind::Protocol(message.into()))
}

fn eof_is_protocol(e: io::Error) -> Fault {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        protocol("the SOCKS5 proxy closed the connection in the middle of its handshake")
    } else {
        Fault::Io(e)
    }
}

/// `host:port`, IPv6 in brackets (RFC 9110 §9.3.6: CONNECT takes an authority).
fn authority(dest: &Destination<'_>) -> String {
    match *dest {
        Destination::Addr(addr) => addr.to_string(),
        Destination::Name(host, port) if host.contains(':') => format!("[{host}]:{port}"),
        Destination::Name(host, port) => format!("{host}:{port}"),
    }
}

fn push_ip(request: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            request.push(0x01);
            request.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            request.push(0x04);
            request.extend_from_slice(&a.octets());
        }
    }
}

/// The status, reason and head length of a CONNECT response, or `None` when more bytes are
/// needed.
fn parse_connect_response(buf: &[u8]) -> Result<Option<(u16, String, usize)>, Fault> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_CONNECT_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Complete(consumed)) => {
            let status = response.code.unwrap_or(0);
            let reason = response.reason.unwrap_or("").to_owned();
            Ok(Some((status, reason, consumed)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(protocol(format!("the proxy's answer to CONNECT is not HTTP: {e}"))),
    }
}

/// Percent-decodes a URL's user or password (`%40` is `@`); `None` when not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s).decode_utf8().ok().map(String::from)
}

/// The proxy the environment gives for a target, as curl reads it: `http_proxy` (lower case
/// only) for `ws://`, `https_proxy` or `HTTPS_PROXY` for `wss://`, else `all_proxy` or
/// `ALL_PROXY`; none when `no_proxy` or `NO_PROXY` matches the host. The lower-case name wins
/// when both are set; empty values count as unset.
///
/// # Errors
/// [`Error::Proxy`] with [`ProxyErrorKind::InvalidUrl`] naming the variable.
pub(crate) fn from_env(
    secure: bool,
    host: &str,
    port: u16,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, Error> {
    let var = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty()).map(|v| (name, v));
    // httpoxy (CVE-2016-5385): a CGI request header `Proxy:` becomes HTTP_PROXY, so the
    // upper-case name is not trusted for plain http, as curl does.
    let scheme_var =
        if secure { var("https_proxy").or_else(|| var("HTTPS_PROXY")) } else { var("http_proxy") };
    let Some((name, value)) = scheme_var.or_else(|| var("all_proxy")).or_else(|| var("ALL_PROXY"))
    else {
        return Ok(None);
    };
    if let Some((_, list)) = var("no_proxy").or_else(|| var("NO_PROXY")) {
        if no_proxy_matches(&list, host, port) {
            tracing::debug!(host, "NO_PROXY matches: connecting directly");
            return Ok(None);
        }
    }
    match Proxy::parse(&value) {
        Ok(mut proxy) => {
            proxy.variable = Some(name);
            tracing::debug!(proxy = %proxy.shown, variable = name, "proxy from the environment");
            Ok(Some(proxy))
        }
        Err(reason) => Err(Error::Proxy(Box::new(ProxyError {
            proxy: redact_unparsed(&value),
            variable: Some(name),
            target: authority(&Destination::Name(host, port)),
            kind: ProxyErrorKind::InvalidUrl(reason),
        }))),
    }
}

/// An unusable proxy URL for an error message: whatever sits between `://` (or the start)
/// and the last `@` is cut down to the user name.
pub(crate) fn redact_unparsed(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].rfind('@') {
        Some(at) => {
            let userinfo = &url[start..start + at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..start], &url[start + at..])
        }
        None => url.to_owned(),
    }
}

/// Whether a `NO_PROXY` list matches `host` (a name, or an IP without brackets) on `port`.
///
/// Entries are comma-separated: `*` matches every host; a name matches itself and its
/// subdomains (`example.com`, `.example.com` and `*.example.com` all match `a.example.com`);
/// an IP address matches itself (IPv6 with or without brackets), and `ADDR/BITS` a range; a
/// `:PORT` after a name or bracketed address limits the entry to that port.
pub(crate) fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    list.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let (name, entry_port) = split_port(entry);
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if let Some((net, bits)) = name.split_once('/') {
            return match (net.parse::<IpAddr>(), bits.parse::<u8>(), host_ip) {
                (Ok(net), Ok(bits), Some(ip)) => in_range(ip, net, bits),
                _ => false,
            };
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return host_ip == Some(ip);
        }
        let name = name.trim_start_matches('*').trim_start_matches('.').trim_end_matches('.');
        let name = name.to_ascii_lowercase();
        !name.is_empty()
            && (host == name
                || (host.len() > name.len()
                    && host.ends_with(&name)
                    && host.as_bytes()[host.len() - name.len() - 1] == b'.'))
    })
}

/// `name:port` into its parts; a bare IPv6 address (`::1`) has no port, `[::1]:80` has one.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((addr, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (addr, port);
        }
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
