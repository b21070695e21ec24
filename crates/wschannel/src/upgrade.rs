//! WebSocket upgrades inside a hyper 1.x server (feature `hyper`).
//!
//! hyper owns the socket and the HTTP: it reads the request and writes the response. This
//! module checks that an [`http::Request`] is a valid WebSocket upgrade (RFC 6455 §4.2.1, the
//! same checks as [`accept`](crate::accept)), builds the `101 Switching Protocols` response
//! (subprotocol, permessage-deflate answer) for the service to return, and gives an
//! [`Upgrading`] future that yields a [`Channel`] once hyper hands the connection over.
//!
//! ```text
//!   service(req) ──► UpgradeRequest::new(&mut req) ──► Err(e): return e.into_response() (400, 426, …)
//!                        │ .protocols(["chat"]) .config(…)
//!                        ▼
//!                    .respond() ──► (101 response: return it; add headers first if you like,
//!                                    Upgrading: spawn it; it yields the Channel)
//! ```
//!
//! Who runs what: the service returns the 101, hyper writes it and then completes the upgrade,
//! so the [`Upgrading`] future must be awaited in a task of its own (spawn it before returning
//! the response; awaiting it inside the service would wait for a response it holds back). The
//! connection must be served with upgrades enabled:
//! `hyper::server::conn::http1::Builder::new().serve_connection(io, service).with_upgrades()`.
//! HTTP/2 WebSockets (RFC 8441) are not supported: such a request gets a 400.
//!
//! # Examples
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use hyper::body::Incoming;
//! use hyper::server::conn::http1;
//! use hyper::service::service_fn;
//! use hyper_util::rt::TokioIo;
//! use wschannel::upgrade::{is_upgrade_request, UpgradeRequest};
//!
//! async fn handle(mut req: http::Request<Incoming>) -> Result<http::Response<String>, hyper::Error> {
//!     if !is_upgrade_request(&req) {
//!         return Ok(http::Response::new("a WebSocket lives at /ws\n".to_owned()));
//!     }
//!     let upgrade = match UpgradeRequest::new(&mut req) {
//!         Ok(upgrade) => upgrade.protocols(["chat"]),
//!         Err(e) => return Ok(e.into_response()), // 400, 426 with Sec-WebSocket-Version, …
//!     };
//!     let (mut response, upgrading) = upgrade.respond();
//!     response.headers_mut().insert("set-cookie", http::HeaderValue::from_static("seen=1"));
//!     tokio::spawn(async move {
//!         let Ok(mut ws) = upgrading.await else { return };
//!         while let Some(Ok(msg)) = ws.next().await {
//!             if ws.send(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//!     Ok(response)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(
//!         http1::Builder::new()
//!             .serve_connection(TokioIo::new(tcp), service_fn(handle))
//!             .with_upgrades(),
//!     );
//! }
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use wschannel_proto::deflate::server_accept;
use wschannel_proto::handshake::{
    accept_headers, reject_headers, validate_request, Headers, Request, Upgrade,
};
use wschannel_proto::{Config, Extension, HandshakeError, Role};

use crate::channel::Channel;
use crate::error::Error;

/// The transport of a channel upgraded from hyper: hyper's upgraded connection (which first
/// yields any bytes hyper read past the request) adapted to tokio's I/O traits.
pub type UpgradedIo = TokioIo<hyper::upgrade::Upgraded>;

/// True when the request asks to upgrade to WebSocket: an `Upgrade` header holds the token
/// `websocket` (case-insensitive). Use it to route; [`UpgradeRequest::new`] does the full checks.
pub fn is_upgrade_request<B>(req: &http::Request<B>) -> bool {
    req.headers().get_all(http::header::UPGRADE).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"websocket"))
    })
}

/// A valid WebSocket upgrade request, not answered yet.
///
/// Choose the subprotocol ([`protocols`](Self::protocols)) and the [`Config`], then
/// [`respond`](Self::respond).
pub struct UpgradeRequest {
    upgrade: Upgrade,
    on_upgrade: OnUpgrade,
    config: Config,
    protocol: Option<String>,
}

impl UpgradeRequest {
    /// Checks that `req` is a valid WebSocket upgrade (RFC 6455 §4.2.1) and takes hyper's
    /// upgrade handle from its extensions.
    ///
    /// # Errors
    /// An [`UpgradeError`] whose [`into_response`](UpgradeError::into_response) is the answer
    /// [`accept`](crate::accept) would give: 400 for a malformed upgrade, 426 with
    /// `Sec-WebSocket-Version: 13` for another protocol version, and 500 when the request has
    /// no hyper upgrade handle (it did not come from a hyper HTTP/1 server connection).
    pub fn new<B>(req: &mut http::Request<B>) -> Result<Self, UpgradeError> {
        let upgrade = validate(req.method(), req.uri(), req.version(), req.headers())?;
        Self::with_handle(upgrade, req.extensions_mut())
    }

    /// As [`new`](Self::new), from the parts of a request (what an axum extractor sees).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn from_parts(parts: &mut http::request::Parts) -> Result<Self, UpgradeError> {
        let upgrade = validate(&parts.method, &parts.uri, parts.version, &parts.headers)?;
        Self::with_handle(upgrade, &mut parts.extensions)
    }

    /// Takes hyper's upgrade handle for a validated request.
    fn with_handle(
        upgrade: Upgrade,
        extensions: &mut http::Extensions,
    ) -> Result<Self, UpgradeError> {
        let on_upgrade =
            extensions.remove::<OnUpgrade>().ok_or(UpgradeError { kind: Kind::NotUpgradable })?;
        Ok(UpgradeRequest { upgrade, on_upgrade, config: Config::default(), protocol: None })
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn offered_protocols(&self) -> &[String] {
        &self.upgrade.protocols
    }

    /// Chooses the first of `ours` (the server's order of preference) that the client offered;
    /// none when it offered none of them. Replaces an earlier choice.
    pub fn protocols<I>(mut self, ours: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.protocol = ours
            .into_iter()
            .find(|p| self.upgrade.protocols.iter().any(|o| o == p.as_ref()))
            .map(|p| p.as_ref().to_owned());
        self
    }

    /// The subprotocol chosen so far.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The connection's [`Config`] (limits, keepalive, [`Config::deflate`]); the default
    /// otherwise.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    #[cfg(feature = "axum")]
    pub(crate) fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// The `101 Switching Protocols` response and the future of the channel.
    ///
    /// Return the response from the service (add headers to it first if you like; do not
    /// change its status or the WebSocket headers) and await the [`Upgrading`] future in a task
    /// of its own. When [`Config::deflate`] is set, the client's first acceptable
    /// permessage-deflate offer is answered (RFC 7692 §5.1).
    pub fn respond<B: Default>(self) -> (http::Response<B>, Upgrading) {
        let UpgradeRequest { upgrade, on_upgrade, config, protocol } = self;
        let mut response = http::Response::new(B::default());
        *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        for (name, value) in accept_headers(&upgrade, protocol.as_deref()) {
            // The names are the handshake's constants and the values a token, base64 or the
            // chosen subprotocol (a token): all valid, so nothing is ever skipped here.
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::try_from(value))
            {
                headers.append(name, value);
            }
        }
        let mut extension: Option<Box<dyn Extension>> = None;
        if let Some(d) = &config.deflate {
            match server_accept(upgrade.extensions.as_deref(), d) {
                Some((answer, ext)) => match HeaderValue::try_from(answer) {
                    Ok(answer) => {
                        tracing::debug!(answer = ?answer, "permessage-deflate accepted");
                        headers.append(http::header::SEC_WEBSOCKET_EXTENSIONS, answer);
                        extension = Some(Box::new(ext));
                    }
                    // `server_accept` writes tokens and numbers only.
                    Err(_) => tracing::error!("unwritable permessage-deflate answer; uncompressed"),
                },
                None => tracing::debug!(
                    offer = upgrade.extensions.as_deref().unwrap_or(""),
                    "no acceptable permessage-deflate offer; continuing uncompressed"
                ),
            }
        }
        let future = async move {
            let upgraded = on_upgrade.await.map_err(|e| {
                Error::Io(std::io::Error::other(format!(
                    "hyper did not hand over the upgraded connection ({e}): serve it with \
                     `serve_connection(..).with_upgrades()`, and keep it open until the 101 is sent"
                )))
            })?;
            let io = TokioIo::new(upgraded);
            Ok(Channel::new(io, Role::Server, config, protocol, BytesMut::new(), extension))
        };
        (response, Upgrading { future: Box::pin(future) })
    }
}

/// The checks of [`accept`](crate::accept), on the request as the sans-IO core knows it.
fn validate(
    method: &http::Method,
    uri: &http::Uri,
    version: http::Version,
    headers: &http::HeaderMap,
) -> Result<Upgrade, UpgradeError> {
    let request = Request {
        method: method.as_str().to_owned(),
        path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        // Minor version 1 for HTTP/1.1; anything else fails as "not HTTP/1.1" (400).
        version: u8::from(version == http::Version::HTTP_11),
        headers: headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect::<Headers>(),
    };
    validate_request(&request).map_err(UpgradeError::handshake)
}

impl fmt::Debug for UpgradeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpgradeRequest")
            .field("offered_protocols", &self.upgrade.protocols)
            .field("extensions", &self.upgrade.extensions)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// The future of a [`Channel`] on a connection hyper upgrades, from
/// [`UpgradeRequest::respond`]. It completes after hyper has written the 101.
///
/// # Errors
/// [`Error::Io`] when hyper does not hand the connection over (the client went away, or the
/// connection was not served `with_upgrades()`: hyper then sends the 101 and fails here).
pub struct Upgrading {
    future: Pin<Box<dyn Future<Output = Result<Channel<UpgradedIo>, Error>> + Send>>,
}

impl Future for Upgrading {
    type Output = Result<Channel<UpgradedIo>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl fmt::Debug for Upgrading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrading").finish_non_exhaustive()
    }
}

/// Why a request cannot be upgraded, and the HTTP answer for it.
#[derive(Debug)]
pub struct UpgradeError {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The client's: not a valid upgrade request.
    Handshake(HandshakeError),
    /// The server's: the request has no hyper upgrade handle.
    NotUpgradable,
}

impl UpgradeError {
    fn handshake(e: HandshakeError) -> Self {
        UpgradeError { kind: Kind::Handshake(e) }
    }

    /// The HTTP status to answer with: as [`HandshakeError::status`] for a bad request
    /// (400, 426), 500 when the request has no hyper upgrade handle.
    pub fn status(&self) -> u16 {
        match &self.kind {
            Kind::Handshake(e) => e.status(),
            Kind::NotUpgradable => 500,
        }
    }

    /// The handshake error, when the request was at fault.
    pub fn handshake_error(&self) -> Option<&HandshakeError> {
        match &self.kind {
            Kind::Handshake(e) => Some(e),
            Kind::NotUpgradable => None,
        }
    }

    /// The response [`accept`](crate::accept) would give: the status, a plain-text body saying
    /// what is wrong, `Connection: close`, and for 426 `Upgrade: websocket`,
    /// `Sec-WebSocket-Version: 13` and `Connection: upgrade, close`.
    pub fn into_response<B: From<String>>(self) -> http::Response<B> {
        let status = self.status();
        let mut response = http::Response::new(B::from(self.to_string()));
        *response.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        for (name, value) in reject_headers(status) {
            // The handshake's constants, all valid.
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                headers.insert(name, HeaderValue::from_static(value));
            }
        }
        // As `accept` answers: the connection closes after a refused upgrade, and for 426 the
        // "upgrade" option goes with the Upgrade header (RFC 9110 §7.8).
        let connection = if status == 426 { "upgrade, close" } else { "close" };
        headers.insert(CONNECTION, HeaderValue::from_static(connection));
        response
    }
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Handshake(e) => write!(f, "{e}"),
            Kind::NotUpgradable => f.write_str(
                "this request cannot be upgraded: it has no hyper upgrade handle (serve it with \
                 hyper's HTTP/1 `serve_connection(..).with_upgrades()`)",
            ),
        }
    }
}

impl std::error::Error for UpgradeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Handshake(e) => Some(e),
            Kind::NotUpgradable => None,
        }
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    fn check_send<T: Send + 'static>() {}
    check::<UpgradeError>();
    // hyper's upgraded connection is Send, not Sync; so is the channel on it.
    check_send::<Channel<UpgradedIo>>();
    check_send::<UpgradeRequest>();
    // A future held across an await in a spawned task.
    check_send::<Upgrading>();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: http::Version, ws_version: &str) -> http::Request<()> {
        http::Request::get("/chat?x=1")
            .version(version)
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", ws_version)
            .header("Sec-WebSocket-Protocol", "superchat")
            .header("Sec-WebSocket-Protocol", "chat")
            .body(())
            .unwrap()
    }

    fn body(response: http::Response<String>) -> String {
        response.into_body()
    }

    #[test]
    fn is_upgrade_request_looks_for_the_websocket_token() {
        assert!(is_upgrade_request(&request(http::Version::HTTP_11, "13")));
        let mut plain = request(http::Version::HTTP_11, "13");
        plain.headers_mut().insert("upgrade", HeaderValue::from_static("h2c, WebSocket"));
        assert!(is_upgrade_request(&plain));
        plain.headers_mut().remove("upgrade");
        assert!(!is_upgrade_request(&plain));
    }

    #[test]
    fn a_valid_request_without_hypers_upgrade_handle_is_a_500_that_says_why() {
        let e = UpgradeRequest::new(&mut request(http::Version::HTTP_11, "13")).unwrap_err();
        assert_eq!(e.status(), 500);
        assert!(e.handshake_error().is_none());
        let response = e.into_response::<String>();
        assert_eq!(response.status(), 500);
        assert!(body(response).contains("with_upgrades()"));
    }

    #[test]
    fn the_answers_are_those_of_accept() {
        // Another version: 426 with the version we speak (RFC 6455 §4.4).
        let e = UpgradeRequest::new(&mut request(http::Version::HTTP_11, "8")).unwrap_err();
        assert!(
            matches!(e.handshake_error(), Some(HandshakeError::UnsupportedVersion(v)) if v == "8")
        );
        let response = e.into_response::<String>();
        assert_eq!(response.status(), 426);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
        assert_eq!(response.headers()["upgrade"], "websocket");
        assert_eq!(response.headers()["connection"], "upgrade, close");
        assert_eq!(body(response), "unsupported WebSocket version \"8\"; only 13 is supported");

        // HTTP/1.0 and HTTP/2 are not HTTP/1.1: 400, as `accept` answers.
        for version in [http::Version::HTTP_10, http::Version::HTTP_2] {
            let e = UpgradeRequest::new(&mut request(version, "13")).unwrap_err();
            assert!(matches!(e.handshake_error(), Some(HandshakeError::Version)), "{version:?}");
            assert_eq!(e.into_response::<String>().status(), 400);
        }

        // Not GET: 400 with the reason in the body.
        let mut post = request(http::Version::HTTP_11, "13");
        *post.method_mut() = http::Method::POST;
        let e = UpgradeRequest::new(&mut post).unwrap_err();
        let response = e.into_response::<String>();
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["connection"], "close");
        assert!(body(response).contains("POST"));
    }
}
