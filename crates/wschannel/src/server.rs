//! The server side of the opening handshake (RFC 6455 §4.2) over any accepted transport.
//!
//! [`accept`] and [`accept_with`] do it all. To serve plain HTTP on the same port, split it:
//! [`read_request`], look at the [`Request`], then [`accept_request`] or answer it yourself.
//!
//! None of these functions has a time limit: wrap them in `tokio::time::timeout` so that a
//! client that sends its request slowly cannot hold a connection forever.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wschannel_proto::deflate::server_accept;
use wschannel_proto::handshake::{
    validate_request, write_accept, write_reject, Parsed, Request, RequestReader, Upgrade,
};
use wschannel_proto::{Config, Extension, HandshakeError, Role};

use crate::channel::Channel;
use crate::error::Error;

/// A refusal from an [`accept_with`] hook: the HTTP status and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The HTTP status, 300 to 599 (anything else is sent as 500).
    pub status: u16,
    /// The plain-text body sent to the client.
    pub body: String,
}

impl Reject {
    /// A refusal with `status` and `body`.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Reject { status, body: body.into() }
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
/// [`Reject`]. Bytes the client sent after its request are kept for the connection.
///
/// # Errors
/// - [`Error::Handshake`] when the request is not a valid upgrade (the client is sent the
///   matching 4xx first), or when the hook chose a subprotocol the client did not offer (500);
/// - [`Error::Rejected`] when the hook refused (the client is sent the status and body);
/// - [`Error::Io`] when the transport fails or the client hangs up mid-request.
pub async fn accept_with<IO, F>(mut io: IO, config: Config, hook: F) -> Result<Channel<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(&Request) -> Result<Option<String>, Reject>,
{
    let (request, leftover) = read_request(&mut io, &config).await?;
    let upgrade = validate_or_reject(&mut io, &request).await?;
    match hook(&request) {
        Ok(protocol) => finish(io, &upgrade, protocol, leftover, config).await,
        Err(r) => {
            reject(io, r.status, &r.body).await?;
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
    finish(io, &upgrade, protocol.map(str::to_owned), leftover, config).await
}

/// Answers a request with an HTTP error: `status`, a plain-text `body`,
/// `Connection: close`; then shuts the write side down.
///
/// # Errors
/// [`Error::Io`] when writing fails.
pub async fn reject<IO>(mut io: IO, status: u16, body: &str) -> Result<(), Error>
where
    IO: AsyncWrite + Unpin,
{
    let mut out = Vec::new();
    write_reject(status, body, &[], &mut out);
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

async fn finish<IO>(
    mut io: IO,
    upgrade: &Upgrade,
    protocol: Option<String>,
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
    // RFC 7692 §5.1: answer the first acceptable permessage-deflate offer, if enabled.
    let mut headers = Vec::new();
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
