//! The client: `ws://` and `wss://` URLs, DNS, TCP, TLS and the opening handshake
//! (RFC 6455 §4.1), each stage with its own error.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use url::{Host, Url};
use wschannel_proto::deflate::{client_accept, client_offer};
use wschannel_proto::handshake::{
    ClientHandshake, ClientRequest, Parsed, Response, ResponseReader,
};
use wschannel_proto::{Config, Extension, Role};

use crate::channel::Channel;
use crate::error::{Error, HttpRejection, ProxyError, ProxyErrorKind, Stage};
use crate::proxy::{self, Destination, Proxy};
use crate::tls;

/// The most of a rejection's body that is kept for [`HttpRejection::body`].
const MAX_REJECTION_BODY: usize = 64 << 10;

/// How long to keep reading a rejection's body once the head arrived.
const REJECTION_BODY_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects to a `ws://` or `wss://` URL with the default options.
///
/// Returns once the opening handshake completed. See [`ClientBuilder`] for subprotocols,
/// headers, certificates and timeouts.
///
/// # Errors
/// One variant per stage: [`Error::InvalidUrl`], [`Error::Dns`], [`Error::Connect`],
/// [`Error::Tls`], [`Error::Http`] (the server answered without upgrading),
/// [`Error::Handshake`], [`Error::Io`], and [`Error::Timeout`] after 10 s.
///
/// # Examples
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use wschannel::Message;
///
/// # async fn run() -> Result<(), wschannel::Error> {
/// let mut ws = wschannel::connect("ws://127.0.0.1:9001/chat").await?;
/// ws.send(Message::text("Hello!")).await?;
/// if let Some(reply) = ws.next().await {
///     println!("echo: {:?}", reply?);
/// }
/// ws.close(wschannel::CloseCode::NORMAL, "").await?;
/// # Ok(())
/// # }
/// ```
pub async fn connect(url: &str) -> Result<Channel, Error> {
    ClientBuilder::new().connect(url).await
}

/// Options for a client connection; [`connect`](ClientBuilder::connect) opens it.
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
///
/// # async fn run() -> Result<(), wschannel::Error> {
/// let ws = wschannel::ClientBuilder::new()
///     .protocol("chat.v2")
///     .header("Authorization", "Bearer t0k3n")
///     .connect_timeout(Duration::from_secs(5))
///     .connect("wss://example.com/socket")
///     .await?;
/// println!("subprotocol: {:?}", ws.protocol());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    origin: Option<String>,
    connect_timeout: Duration,
    config: Config,
    roots: Vec<CertificateDer<'static>>,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    insecure: bool,
    proxy: ProxyMode,
}

/// Which proxy a builder connects through.
#[derive(Clone, Debug)]
enum ProxyMode {
    /// The environment's, read at each connect (the default).
    Environment,
    /// This one, for every URL.
    Fixed(Proxy),
    /// None.
    Off,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl ClientBuilder {
    /// Default options: no subprotocol, no extra headers, a 10 s connect timeout, the default
    /// [`Config`], and the Mozilla root certificates (webpki-roots) for `wss://`.
    pub fn new() -> Self {
        ClientBuilder {
            protocols: Vec::new(),
            headers: Vec::new(),
            origin: None,
            connect_timeout: Duration::from_secs(10),
            config: Config::default(),
            roots: Vec::new(),
            tls_config: None,
            insecure: false,
            proxy: ProxyMode::Environment,
        }
    }

    /// Offers a subprotocol (`Sec-WebSocket-Protocol`); call again to offer more, in order of
    /// preference. [`Channel::protocol`] tells which one the server chose.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Adds a header to the upgrade request (for example `Authorization` or `Cookie`). Names
    /// and values with CR, LF or control bytes are refused at connect with
    /// [`Error::Handshake`].
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the `Origin` header, as a browser would.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Bounds the whole connect: DNS, TCP, TLS and the handshake. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the connection's limits and timers.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Trusts `cert` as a root certificate for `wss://`, beside the built-in roots: for a
    /// private CA or a self-signed server certificate.
    pub fn root_certificate(mut self, cert: CertificateDer<'static>) -> Self {
        self.roots.push(cert);
        self
    }

    /// Trusts every certificate in a PEM file as a root, as
    /// [`root_certificate`](Self::root_certificate).
    ///
    /// # Errors
    /// [`Error::TlsConfig`] when the PEM is malformed or holds no certificate.
    pub fn root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let certs = tls::parse_certificates(pem)?;
        if certs.is_empty() {
            return Err(Error::TlsConfig("no certificate found in the PEM".into()));
        }
        self.roots.extend(certs);
        Ok(self)
    }

    /// Uses this rustls config for `wss://` instead of building one; the root and
    /// verification options are then ignored.
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls_config = Some(config);
        self
    }

    /// Accepts any server certificate for `wss://`: the connection is encrypted but anyone
    /// on the path can impersonate the server. For testing only.
    pub fn danger_insecure_skip_verify(mut self, skip: bool) -> Self {
        self.insecure = skip;
        self
    }

    /// Connects through this proxy for every URL, instead of the one the environment gives.
    ///
    /// `http://[user:password@]host[:port]` asks an HTTP proxy for a tunnel with `CONNECT`
    /// (RFC 9110 §9.3.6; user and password go as Basic `Proxy-Authorization`; port 80 when
    /// not given). `socks5://` uses SOCKS5 (RFC 1928) with the target resolved here,
    /// `socks5h://` lets the proxy resolve the host name (port 1080 when not given; user and
    /// password as RFC 1929). A URL without a scheme is `http://`, as curl reads it. Percent-
    /// encode `@`, `:` and `/` in the user and password. The password never appears in errors,
    /// logs or `Debug`.
    ///
    /// # Errors
    /// [`Error::Proxy`] with [`ProxyErrorKind::InvalidUrl`] when the URL is not one of those.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() -> Result<(), wschannel::Error> {
    /// let ws = wschannel::ClientBuilder::new()
    ///     .proxy("http://alice:s3cret@proxy.example.com:3128")?
    ///     .connect("wss://example.com/socket")
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn proxy(mut self, url: &str) -> Result<Self, Error> {
        let proxy = Proxy::parse(url).map_err(|reason| {
            Error::Proxy(Box::new(ProxyError {
                proxy: proxy::redact_unparsed(url),
                variable: None,
                target: String::new(),
                kind: ProxyErrorKind::InvalidUrl(reason),
            }))
        })?;
        self.proxy = ProxyMode::Fixed(proxy);
        Ok(self)
    }

    /// Connects directly: neither [`proxy`](Self::proxy) nor the environment's proxy
    /// variables apply.
    ///
    /// By default a builder reads the environment at each connect, as curl does:
    /// `http_proxy` for `ws://` (lower case only, as curl, against httpoxy), `https_proxy` or
    /// `HTTPS_PROXY` for `wss://`, and otherwise `all_proxy` or `ALL_PROXY`; the lower-case
    /// name wins when both are set, and an empty value counts as unset. `no_proxy` (or
    /// `NO_PROXY`) is a comma-separated list of hosts that go directly: `*` for all, a name
    /// for itself and its subdomains (`example.com`, `.example.com`), an IP address (IPv6 with
    /// or without brackets) or range (`10.0.0.0/8`), optionally with `:port`. The environment
    /// applies to every host it does not exclude, loopback included.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyMode::Off;
        self
    }

    /// Connects to a `ws://` or `wss://` URL and completes the opening handshake.
    ///
    /// # Errors
    /// As [`connect`](crate::connect); [`Error::Timeout`] names the stage that was running
    /// when the connect timeout ran out.
    pub async fn connect(&self, url: &str) -> Result<Channel, Error> {
        let target = Target::parse(url)?;
        let mut stage = Stage::Dns;
        let attempt = self.connect_stages(&target, &mut stage);
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout { stage }),
        }
    }

    /// Runs the opening handshake over a stream the caller already opened — a Unix socket, a
    /// tunnel, an in-memory pipe — with TLS on top first when the URL is `wss://`.
    ///
    /// The URL is not dialed: it gives the `Host` header, the path and query, and for `wss://`
    /// the name the server's certificate must match. The builder's options apply as for
    /// [`connect`](Self::connect): headers, subprotocols, `Origin`, TLS roots, [`Config`], and
    /// the connect timeout over TLS and the handshake. Proxies do not apply: the stream is the
    /// caller's.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::Tls`] and [`Error::TlsConfig`] for `wss://`,
    /// [`Error::Http`], [`Error::Handshake`], [`Error::Io`], and [`Error::Timeout`] with
    /// [`Stage::Tls`] or [`Stage::Handshake`].
    ///
    /// # Examples
    /// Over an in-memory pipe, with [`accept`](crate::accept) at the other end:
    /// ```
    /// use futures_util::{SinkExt, StreamExt};
    /// use wschannel::{ClientBuilder, Message};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), wschannel::Error> {
    /// let (client_io, server_io) = tokio::io::duplex(64 << 10);
    /// let server = tokio::spawn(async move {
    ///     let mut ws = wschannel::accept(server_io).await?;
    ///     while let Some(msg) = ws.next().await {
    ///         ws.send(msg?).await?;
    ///     }
    ///     Ok::<_, wschannel::Error>(())
    /// });
    ///
    /// let mut ws = ClientBuilder::new().connect_on("ws://localhost/echo", client_io).await?;
    /// ws.send(Message::text("Hello!")).await?;
    /// assert_eq!(ws.next().await.transpose()?, Some(Message::text("Hello!")));
    /// ws.close(wschannel::CloseCode::NORMAL, "").await?;
    /// # server.await.unwrap()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Over a Unix socket:
    /// ```no_run
    /// # #[cfg(unix)]
    /// # async fn run() -> Result<(), wschannel::Error> {
    /// let io = tokio::net::UnixStream::connect("/run/app/ws.sock").await?;
    /// let ws = wschannel::ClientBuilder::new().connect_on("ws://localhost/", io).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_on<S>(&self, url: &str, io: S) -> Result<Channel<MaybeTlsStream<S>>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let target = Target::parse(url)?;
        let mut stage = Stage::Handshake;
        let attempt = self.upgrade(&target, io, &mut stage);
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout { stage }),
        }
    }

    async fn connect_stages(&self, target: &Target, stage: &mut Stage) -> Result<Channel, Error> {
        let from_env;
        let proxy = match &self.proxy {
            ProxyMode::Environment => {
                from_env = proxy::from_env(target.secure, &target.host, target.port, |name| {
                    std::env::var(name).ok()
                })?;
                from_env.as_ref()
            }
            ProxyMode::Fixed(proxy) => Some(proxy),
            ProxyMode::Off => None,
        };
        let tcp = match proxy {
            None => {
                *stage = Stage::Dns;
                let addrs = resolve(target).await?;
                *stage = Stage::Connect;
                connect_tcp(&addrs).await?
            }
            Some(proxy) if proxy.resolves_locally() => {
                *stage = Stage::Dns;
                let addrs = resolve(target).await?;
                *stage = Stage::Proxy;
                proxy.tunnel_to_any(&addrs).await?
            }
            Some(proxy) => {
                *stage = Stage::Proxy;
                proxy.tunnel(Destination::Name(&target.host, target.port)).await?
            }
        };
        self.upgrade(target, tcp, stage).await
    }

    /// TLS when `wss://`, then the opening handshake.
    async fn upgrade<S>(
        &self,
        target: &Target,
        io: S,
        stage: &mut Stage,
    ) -> Result<Channel<MaybeTlsStream<S>>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let request = ClientRequest {
            host: target.host_header.clone(),
            path: target.path.clone(),
            origin: self.origin.clone(),
            protocols: self.protocols.clone(),
            // RFC 7692 §5: offered only when the config turns it on.
            extensions: self.config.deflate.as_ref().map(client_offer),
            headers: self.headers.clone(),
        };
        let io = if target.secure {
            *stage = Stage::Tls;
            let config = match &self.tls_config {
                Some(c) => c.clone(),
                None => tls::client_config(&self.roots, self.insecure)?,
            };
            let name = tls::server_name(&target.host)?;
            let stream = tls::TlsConnector::from(config)
                .connect(name, io)
                .await
                .map_err(|source| Error::Tls { host: target.host.clone(), source })?;
            MaybeTlsStream::Tls(Box::new(stream))
        } else {
            MaybeTlsStream::Plain(io)
        };
        *stage = Stage::Handshake;
        handshake(io, &request, &self.config).await
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("protocols", &self.protocols)
            .field("headers", &self.headers.len())
            .field("origin", &self.origin)
            .field("connect_timeout", &self.connect_timeout)
            .field("config", &self.config)
            .field("roots", &self.roots.len())
            .field("tls_config", &self.tls_config.is_some())
            .field("insecure", &self.insecure)
            .field("proxy", &self.proxy)
            .finish()
    }
}

/// What a URL says to connect to.
#[derive(Debug)]
struct Target {
    secure: bool,
    /// The host for DNS and TLS (IPv6 without brackets).
    host: String,
    ip: Option<std::net::IpAddr>,
    port: u16,
    /// The Host header: host, and `:port` when not the scheme's default.
    host_header: String,
    /// Path and query.
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, Error> {
        let invalid = |reason: String| Error::InvalidUrl { url: url.to_owned(), reason };
        let parsed = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let secure = match parsed.scheme() {
            "ws" => false,
            "wss" => true,
            "http" | "https" => {
                return Err(invalid(format!(
                    "scheme {}:// is HTTP; use ws:// (or wss:// for https://)",
                    parsed.scheme()
                )))
            }
            other => {
                return Err(invalid(format!(
                    "scheme {other}:// is not supported; use ws:// or wss://"
                )))
            }
        };
        // RFC 6455 §3: fragment identifiers are meaningless in WebSocket URIs.
        if parsed.fragment().is_some() {
            return Err(invalid("a WebSocket URL cannot have a #fragment".into()));
        }
        let (host, ip, host_text) = match parsed.host() {
            Some(Host::Domain(d)) => (d.to_owned(), None, d.to_owned()),
            Some(Host::Ipv4(a)) => (a.to_string(), Some(a.into()), a.to_string()),
            Some(Host::Ipv6(a)) => (a.to_string(), Some(a.into()), format!("[{a}]")),
            None => return Err(invalid("the URL has no host".into())),
        };
        let port = parsed.port_or_known_default().unwrap_or(if secure { 443 } else { 80 });
        // `Url::port` is `None` for the scheme's default port (RFC 6455 §4.1 item 4: the
        // Host header carries the port only when it is not the default).
        let host_header = match parsed.port() {
            Some(p) => format!("{host_text}:{p}"),
            None => host_text,
        };
        let mut path = parsed.path().to_owned();
        if let Some(q) = parsed.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(Target { secure, host, ip, port, host_header, path })
    }
}

async fn resolve(target: &Target) -> Result<Vec<SocketAddr>, Error> {
    if let Some(ip) = target.ip {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let dns_error = |source| Error::Dns { host: target.host.clone(), source };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(dns_error)?
        .collect();
    if addrs.is_empty() {
        return Err(dns_error(io::Error::new(io::ErrorKind::NotFound, "no addresses found")));
    }
    Ok(addrs)
}

/// Tries each address in turn; reports the last failure.
async fn connect_tcp(addrs: &[SocketAddr]) -> Result<TcpStream, Error> {
    let mut last = None;
    for &addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                // Frames are written whole; do not let Nagle hold back small messages.
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(source) => last = Some(Error::Connect { addr, source }),
        }
    }
    // `resolve` never returns an empty list.
    Err(last.unwrap_or_else(|| Error::Dns {
        host: String::new(),
        source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
    }))
}

/// RFC 6455 §4.1: sends the request, reads and validates the response, makes the channel with
/// the bytes that followed the response head.
async fn handshake<S>(
    mut io: S,
    request: &ClientRequest,
    config: &Config,
) -> Result<Channel<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut out = Vec::new();
    let client = ClientHandshake::new(request, config.random, &mut out)?;
    io.write_all(&out).await?;
    io.flush().await?;

    // One reader for the whole head: each read looks only at the new bytes (issue 11).
    let mut reader = ResponseReader::new(config);
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        buf.reserve(4096);
        if io.read_buf(&mut buf).await? == 0 {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection during the WebSocket handshake",
            )));
        }
        let Parsed::Complete { value: response, consumed } = reader.read(&buf)? else {
            continue;
        };
        let leftover = buf.split_off(consumed);
        if response.status != 101 {
            return Err(rejection(io, response, leftover).await);
        }
        let accepted = client.validate(&response)?;
        let extension = match &config.deflate {
            Some(d) => client_accept(accepted.extensions.as_deref(), d)?
                .map(|e| Box::new(e) as Box<dyn Extension>),
            None => None,
        };
        tracing::debug!(
            extensions = accepted.extensions.as_deref().unwrap_or(""),
            "websocket client handshake done"
        );
        return Ok(Channel::new(
            io,
            Role::Client,
            config.clone(),
            accepted.protocol,
            leftover,
            extension,
        ));
    }
}

/// Reads what it can of a rejection's body (Content-Length, else until EOF), at most 64 KiB and
/// for at most 2 s, and builds [`Error::Http`].
async fn rejection<S>(mut io: S, response: Response, mut body: BytesMut) -> Error
where
    S: AsyncRead + Unpin,
{
    let declared = response
        .header("Content-Length")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let want = declared.unwrap_or(usize::MAX).min(MAX_REJECTION_BODY);
    let read_body = async {
        while body.len() < want {
            body.reserve(4096);
            match io.read_buf(&mut body).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(REJECTION_BODY_TIMEOUT, read_body).await;
    body.truncate(want);
    let headers = response
        .headers
        .iter()
        .map(|(k, v)| (k.to_owned(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    Error::Http(Box::new(HttpRejection {
        status: response.status,
        reason: response.reason,
        headers,
        body: Bytes::from(body),
    }))
}

/// The transport of a client channel: the stream as it is for `ws://`, TLS over it for
/// `wss://`. [`connect`](ClientBuilder::connect) opens TCP; [`connect_on`](ClientBuilder::connect_on)
/// takes any stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream<S = TcpStream> {
    /// `ws://`: the stream itself.
    Plain(S),
    /// `wss://`: rustls over the stream (boxed: a TLS session is large).
    Tls(Box<tokio_rustls::client::TlsStream<S>>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTlsStream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTlsStream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTlsStream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(s) => s.is_write_vectored(),
            MaybeTlsStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTlsStream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTlsStream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_has_the_port_only_when_not_default() {
        let t = Target::parse("ws://example.com/chat?room=1").unwrap();
        assert_eq!(
            (t.host_header.as_str(), t.port, t.path.as_str()),
            ("example.com", 80, "/chat?room=1")
        );
        let t = Target::parse("wss://example.com:8443").unwrap();
        assert_eq!(
            (t.host_header.as_str(), t.port, t.path.as_str()),
            ("example.com:8443", 8443, "/")
        );
        let t = Target::parse("wss://example.com:443/").unwrap();
        assert_eq!(t.host_header, "example.com");
        let t = Target::parse("ws://[::1]:9001/").unwrap();
        assert_eq!((t.host.as_str(), t.host_header.as_str()), ("::1", "[::1]:9001"));
    }

    #[test]
    fn other_schemes_are_refused_with_a_hint() {
        let e = Target::parse("https://example.com/").unwrap_err();
        assert!(e.to_string().contains("use ws://"), "{e}");
        assert!(matches!(Target::parse("ftp://x/"), Err(Error::InvalidUrl { .. })));
        assert!(matches!(Target::parse("not a url"), Err(Error::InvalidUrl { .. })));
        assert!(matches!(Target::parse("ws://x/#frag"), Err(Error::InvalidUrl { .. })));
    }
}
