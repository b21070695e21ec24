//! The server side of the opening handshake (RFC 6455 §4.2) over any accepted transport.
//!
//! [`accept`], [`accept_with`] and [`accept_with_async`] do it all. To serve plain HTTP on the
//! same port, split it: [`read_request`], look at the [`Request`], then [`accept_request`] or
//! answer it yourself. Inside a hyper or axum server, which owns the socket and the HTTP, use
//! `wschannel::upgrade` (feature `hyper`) or `wschannel::axum` (feature `axum`) instead.
//!
//! The hook of [`accept_with`] is a plain closure that sees `&Request` and picks a subprotocol.
//! The hook of [`accept_with_async`] may await (a session store, a database) and answers with
//! an [`Accept`] (subprotocol and response headers, a `Set-Cookie` for instance) or a
//! [`Reject`] (status, headers, body). It is given the [`Request`] by value: an `async move`
//! block owns it, so no borrow has to outlive the call, which is what makes an async hook easy
//! to write as a closure.
//!
//! None of these functions has a time limit: wrap them in `tokio::time::timeout` so that a
//! client that sends its request slowly cannot hold a connection forever.

use std::future::{ready, Future};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wschannel_proto::deflate::server_accept;
use wschannel_proto::handshake::{
    check_header, validate_request, write_accept, write_reject, Parsed, Request, RequestReader,
    Upgrade,
};
use wschannel_proto::{Config, Extension, HandshakeError, Role};

use crate::channel::Channel;
use crate::error::Error;

/// What an [`accept_with_async`] hook answers to take the connection: the subprotocol and the
/// extra headers of the `101 Switching Protocols` response.
///
/// Headers are checked when the response is written: a name that is not an HTTP token or a
/// value with CR, LF or another control character is the caller's error
/// ([`Error::InvalidResponseHeader`]); the client is then sent a 500, never the header. Headers
/// the handshake writes itself (Upgrade, Connection, Sec-WebSocket-Accept,
/// Sec-WebSocket-Protocol, Sec-WebSocket-Extensions, Content-Length, Transfer-Encoding) are not
/// taken from here.
///
/// # Examples
///
/// ```
/// use wschannel::server::Accept;
///
/// let accept = Accept::new().protocol("chat").header("Set-Cookie", "session=42; HttpOnly");
/// assert_eq!(accept.headers(), [("Set-Cookie".to_owned(), "session=42; HttpOnly".to_owned())]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    protocol: Option<String>,
    headers: Vec<(String, String)>,
}

impl Accept {
    /// Accepts with no subprotocol and no extra header.
    pub fn new() -> Self {
        Accept::default()
    }

    /// Answers with the subprotocol `protocol`, which must be one the client offered
    /// ([`Request::protocols`]); otherwise the handshake fails with a 500.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Adds a header to the 101 response.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The chosen subprotocol.
    pub fn chosen_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extra headers, in the order added.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
}

impl From<Option<String>> for Accept {
    /// What an [`accept_with`] hook returns: the subprotocol, if any.
    fn from(protocol: Option<String>) -> Self {
        Accept { protocol, headers: Vec::new() }
    }
}

/// A refusal from an accept hook: the HTTP status, extra headers and a plain-text body.
///
/// The response also has `Content-Type: text/plain; charset=utf-8`, `Content-Length` and
/// `Connection: close` (and for 426, `Upgrade` and `Sec-WebSocket-Version: 13`); extra headers
/// are checked as in [`Accept`].
///
/// # Examples
///
/// ```
/// use wschannel::Reject;
///
/// let reject = Reject::new(401, "log in first").header("WWW-Authenticate", "Bearer");
/// assert_eq!(reject.status, 401);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The HTTP status, 300 to 599 (anything else is sent as 500).
    pub status: u16,
    /// The plain-text body sent to the client.
    pub body: String,
    /// Extra response headers, in order.
    pub headers: Vec<(String, String)>,
}

impl Reject {
    /// A refusal with `status` and `body`.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Reject { status, body: body.into(), headers: Vec::new() }
    }

    /// Adds a header to the response.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Accepts a WebSocket connection on `io` with the default [`Config`] and no subprotocol.
///
/// # Errors
/// See [`accept_with`].
///
/// # Examples
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let (tcp, _) = listener.accept().await?;
/// let mut ws = wschannel::accept(tcp).await?;
/// while let Some(msg) = ws.next().await {
///     ws.send(msg?).await?;
/// }
/// # Ok(())
/// # }
/// ```
pub async fn accept<IO>(io: IO) -> Result<Channel<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    accept_with(io, Config::default(), |_| Ok(None)).await
}

/// Accepts a WebSocket connection on `io`, letting `hook` look at the request first.
///
/// The hook sees the path, headers, origin and offered subprotocols
/// ([`Request::protocols`]) and returns the subprotocol to use (one the client offered) or a
/// [`Reject`]. Bytes the client sent after its request are kept for the connection. For a hook
/// that awaits or adds response headers, see [`accept_with_async`].
///
/// # Errors
/// - [`Error::Handshake`] when the request is not a valid upgrade (the client is sent the
///   matching 4xx first), or when the hook chose a subprotocol the client did not offer (500);
/// - [`Error::Rejected`] when the hook refused (the client is sent the status and body);
/// - [`Error::InvalidResponseHeader`] when a [`Reject`] header is not valid HTTP (500 sent);
/// - [`Error::Io`] when the transport fails or the client hangs up mid-request.
///
/// # Examples
/// ```no_run
/// use wschannel::{accept_with, Config, Reject};
///
/// # async fn run(tcp: tokio::net::TcpStream) -> Result<(), wschannel::Error> {
/// let ws = accept_with(tcp, Config::default(), |req| {
///     if req.path != "/chat" {
///         return Err(Reject::new(404, "try /chat"));
///     }
///     Ok(req.protocols().into_iter().find(|p| p == "chat"))
/// })
/// .await?;
/// # Ok(())
/// # }
/// ```
pub async fn accept_with<IO, F>(io: IO, config: Config, hook: F) -> Result<Channel<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(&Request) -> Result<Option<String>, Reject>,
{
    accept_with_async(io, config, |request| ready(hook(&request).map(Accept::from))).await
}

/// Accepts a WebSocket connection on `io` after an async `hook` has looked at the request: the
/// hook may await, choose the subprotocol and add response headers ([`Accept`]), or refuse with
/// a status, headers and a body ([`Reject`]).
///
/// The hook gets the [`Request`] by value, so it can be a closure returning an `async move`
/// block that owns the request (a hook that borrowed `&Request` across an await could not be
/// written as a closure). Bytes the client sent after its request are kept for the connection.
///
/// # Errors
/// As [`accept_with`]; a header in the hook's [`Accept`] or [`Reject`] that is not valid HTTP is
/// [`Error::InvalidResponseHeader`], and the client is sent a 500 instead.
///
/// # Examples
/// ```no_run
/// use wschannel::server::{accept_with_async, Accept};
/// use wschannel::{Config, Reject};
///
/// # async fn is_valid_session(_: &str) -> bool { true }
/// # async fn run(tcp: tokio::net::TcpStream) -> Result<(), wschannel::Error> {
/// let ws = accept_with_async(tcp, Config::default(), |req| async move {
///     let cookie = req.header("Cookie").and_then(|c| std::str::from_utf8(c).ok());
///     match cookie {
///         Some(c) if is_valid_session(c).await => Ok(Accept::new()),
///         _ => Err(Reject::new(401, "log in first").header("WWW-Authenticate", "Cookie")),
///     }
/// })
/// .await?;
/// # Ok(())
/// # }
/// ```
pub async fn accept_with_async<IO, F, Fut>(
    mut io: IO,
    config: Config,
    hook: F,
) -> Result<Channel<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Accept, Reject>>,
{
    let (request, leftover) = read_request(&mut io, &config).await?;
    let upgrade = validate_or_reject(&mut io, &request).await?;
    match hook(request).await {
        Ok(Accept { protocol, headers }) => {
            finish(io, &upgrade, protocol, &headers, leftover, config).await
        }
        Err(r) => {
            check_or_reject(&mut io, &r.headers).await?;
            reject_with_headers(io, r.status, &r.body, &r.headers).await?;
            Err(Error::Rejected { status: r.status })
        }
    }
}

/// Reads one HTTP request head from `io`, bounded by [`Config::max_handshake_bytes`] and
/// [`Config::max_headers`]. Returns the request and the bytes read after it.
///
/// The request may be any HTTP/1.x request: check [`Request::is_websocket_upgrade`], then call
/// [`accept_request`] or answer it yourself (see [`reject`]).
///
/// # Errors
/// [`Error::Handshake`] for a malformed or oversized head (the client is sent 400 or 431
/// first); [`Error::Io`] when the transport fails or the client hangs up mid-request.
pub async fn read_request<IO>(io: &mut IO, config: &Config) -> Result<(Request, BytesMut), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    // One reader for the whole head: each read looks only at the new bytes (issue 11).
    let mut reader = RequestReader::new(config);
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        buf.reserve(4096);
        if io.read_buf(&mut buf).await? == 0 {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the client closed the connection before its request was complete",
            )));
        }
        match reader.read(&buf) {
            Ok(Parsed::Partial) => {}
            Ok(Parsed::Complete { value, consumed }) => {
                let leftover = buf.split_off(consumed);
                return Ok((value, leftover));
            }
            Err(e) => {
                // Best effort: the client may already be gone.
                let _ = reject(&mut *io, e.status(), &e.to_string()).await;
                return Err(Error::Handshake(e));
            }
        }
    }
}

/// Completes the upgrade for a request from [`read_request`], answering with `protocol` (which
/// must be one the client offered), and starts the connection with `leftover` as its first
/// bytes.
///
/// # Errors
/// As [`accept_with`], without the hook.
pub async fn accept_request<IO>(
    mut io: IO,
    request: &Request,
    leftover: BytesMut,
    config: Config,
    protocol: Option<&str>,
) -> Result<Channel<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let upgrade = validate_or_reject(&mut io, request).await?;
    finish(io, &upgrade, protocol.map(str::to_owned), &[], leftover, config).await
}

/// Answers a request with an HTTP error: `status`, a plain-text `body`,
/// `Connection: close`; then shuts the write side down.
///
/// # Errors
/// [`Error::Io`] when writing fails.
pub async fn reject<IO>(io: IO, status: u16, body: &str) -> Result<(), Error>
where
    IO: AsyncWrite + Unpin,
{
    reject_with_headers(io, status, body, &[]).await
}

/// Writes a rejection with extra headers (already checked, or skipped by `write_reject`).
async fn reject_with_headers<IO>(
    mut io: IO,
    status: u16,
    body: &str,
    headers: &[(String, String)],
) -> Result<(), Error>
where
    IO: AsyncWrite + Unpin,
{
    let mut out = Vec::new();
    write_reject(status, body, headers, &mut out);
    io.write_all(&out).await?;
    io.flush().await?;
    io.shutdown().await?;
    Ok(())
}

async fn validate_or_reject<IO>(io: &mut IO, request: &Request) -> Result<Upgrade, Error>
where
    IO: AsyncWrite + Unpin,
{
    match validate_request(request) {
        Ok(upgrade) => Ok(upgrade),
        Err(e) => {
            let _ = reject(&mut *io, e.status(), &e.to_string()).await;
            Err(Error::Handshake(e))
        }
    }
}

/// Checks the hook's response headers; on the first bad one the client is sent a 500 and the
/// caller gets [`Error::InvalidResponseHeader`].
async fn check_or_reject<IO>(io: &mut IO, headers: &[(String, String)]) -> Result<(), Error>
where
    IO: AsyncWrite + Unpin,
{
    for (name, value) in headers {
        if let Err(e) = check_header(name, value) {
            let reason = match e {
                HandshakeError::InvalidRequestHeader { reason, .. } => reason,
                _ => "not a valid HTTP header",
            };
            tracing::error!(header = %name.escape_debug(), reason, "invalid response header from the accept hook");
            let _ = reject(&mut *io, 500, "the server produced an invalid response header").await;
            return Err(Error::InvalidResponseHeader { name: name.clone(), reason });
        }
    }
    Ok(())
}

async fn finish<IO>(
    mut io: IO,
    upgrade: &Upgrade,
    protocol: Option<String>,
    extra_headers: &[(String, String)],
    leftover: BytesMut,
    config: Config,
) -> Result<Channel<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if let Some(p) = &protocol {
        // RFC 6455 §4.2.2 item 5.5: the chosen subprotocol is one the client offered.
        if !upgrade.protocols.iter().any(|o| o == p) {
            let _ =
                reject(&mut io, 500, "the server chose a subprotocol that was not offered").await;
            return Err(Error::Handshake(HandshakeError::UnofferedSubprotocol(p.clone())));
        }
    }
    check_or_reject(&mut io, extra_headers).await?;
    // RFC 7692 §5.1: answer the first acceptable permessage-deflate offer, if enabled.
    // The extension answer is the negotiation's, never the hook's.
    let mut headers: Vec<_> = extra_headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
        .cloned()
        .collect();
    let mut extension: Option<Box<dyn Extension>> = None;
    if let Some(d) = &config.deflate {
        match server_accept(upgrade.extensions.as_deref(), d) {
            Some((answer, ext)) => {
                tracing::debug!(answer = %answer, "permessage-deflate accepted");
                headers.push(("Sec-WebSocket-Extensions".to_owned(), answer));
                extension = Some(Box::new(ext));
            }
            None => tracing::debug!(
                offer = upgrade.extensions.as_deref().unwrap_or(""),
                "no acceptable permessage-deflate offer; continuing uncompressed"
            ),
        }
    }
    let mut out = Vec::new();
    write_accept(upgrade, protocol.as_deref(), &headers, &mut out);
    io.write_all(&out).await?;
    io.flush().await?;
    Ok(Channel::new(io, Role::Server, config, protocol, leftover, extension))
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn check<T: Send + Sync + Unpin + 'static>() {}
    check::<Accept>();
    check::<Reject>();
}
