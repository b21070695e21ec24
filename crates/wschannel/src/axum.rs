//! An axum extractor for WebSocket upgrades (feature `axum`), shaped like axum's own
//! `axum::extract::ws`: switching is mostly a matter of imports.
//!
//! [`WebSocketUpgrade`] is extracted from the request (it answers 400, 426 and so on itself,
//! the same answers as [`accept`](crate::accept)); [`on_upgrade`](WebSocketUpgrade::on_upgrade)
//! returns the `101` response and spawns the callback on tokio once axum's hyper hands the
//! connection over. The callback gets a [`WebSocket`], which is a [`Channel`]: a `Stream` of
//! `Result<Message, Error>` and a `Sink` of [`Message`](crate::Message).
//!
//! What differs from `axum::extract::ws` (the README has the full map):
//! - messages are [`crate::Message`]: build them with `Message::text`, `Message::binary`; the
//!   peer's close is not a message: the stream ends with `None` and
//!   [`Channel::close_code`] says how, and [`Channel::close`] sends one;
//! - pings are answered by the channel itself (keep polling it), and ping and pong payloads are
//!   [`ControlPayload`](crate::ControlPayload)s, which cannot exceed 125 bytes;
//! - close codes are [`CloseCode`](crate::CloseCode) constants (`CloseCode::NORMAL`, …), which
//!   refuse the codes that may not be sent;
//! - limits are the channel's [`Config`] (bytes): [`max_message_size`](WebSocketUpgrade::max_message_size),
//!   [`write_buffer_size`](WebSocketUpgrade::write_buffer_size) or a whole
//!   [`config`](WebSocketUpgrade::config), which also turns on permessage-deflate;
//! - HTTP/1.1 only (RFC 8441 WebSockets over HTTP/2 get a 400).
//!
//! # Examples
//!
//! ```no_run
//! use axum::response::Response;
//! use axum::routing::get;
//! use futures_util::{SinkExt, StreamExt};
//! use wschannel::axum::{WebSocket, WebSocketUpgrade};
//!
//! async fn ws_handler(ws: WebSocketUpgrade) -> Response {
//!     ws.protocols(["chat"]).max_message_size(1 << 20).on_upgrade(echo)
//! }
//!
//! async fn echo(mut socket: WebSocket) {
//!     while let Some(Ok(msg)) = socket.next().await {
//!         if socket.send(msg).await.is_err() {
//!             return;
//!         }
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let app = axum::Router::new().route("/ws", get(ws_handler));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use wschannel_proto::Config;

use crate::channel::Channel;
use crate::error::Error;
use crate::upgrade::{UpgradeError, UpgradeRequest, UpgradedIo};

/// The channel an upgraded axum connection gives: a [`Channel`] over hyper's upgraded
/// connection.
pub type WebSocket = Channel<UpgradedIo>;

/// Extractor for a WebSocket upgrade: use it as a handler argument on a `GET` route, then
/// answer with [`on_upgrade`](Self::on_upgrade).
///
/// A request that is not a valid upgrade is refused by the extractor with a
/// [`WebSocketUpgradeRejection`] (400, 426 with `Sec-WebSocket-Version: 13`, …).
pub struct WebSocketUpgrade {
    request: UpgradeRequest,
    on_failed_upgrade: Option<Box<dyn FnOnce(Error) + Send>>,
}

impl WebSocketUpgrade {
    /// The subprotocols this server speaks, in its order of preference: the first one the
    /// client offered is chosen and sent back in `Sec-WebSocket-Protocol`; none when the client
    /// offered none of them.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Cow<'static, str>>,
    {
        let ours: Vec<Cow<'static, str>> = protocols.into_iter().map(Into::into).collect();
        self.request = self.request.protocols(ours);
        self
    }

    /// The subprotocol chosen by [`protocols`](Self::protocols), if any.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.request.selected_protocol()
    }

    /// The subprotocols the client offered, in its order.
    pub fn offered_protocols(&self) -> &[String] {
        self.request.offered_protocols()
    }

    /// The subprotocols the client offered, in its order, as axum's `requested_protocols`
    /// gives them (here as `&str`).
    pub fn requested_protocols(&self) -> impl Iterator<Item = &str> {
        self.request.offered_protocols().iter().map(String::as_str)
    }

    /// The largest message accepted, in bytes ([`Config::max_message_size`]).
    pub fn max_message_size(mut self, n: usize) -> Self {
        let config = self.request.config_mut();
        *config = config.clone().max_message_size(n);
        self
    }

    /// The largest frame accepted, in bytes ([`Config::max_frame_size`]).
    pub fn max_frame_size(mut self, n: usize) -> Self {
        let config = self.request.config_mut();
        *config = config.clone().max_frame_size(n);
        self
    }

    /// How many bytes may wait to be written before sending waits
    /// ([`Config::write_buffer_size`]).
    pub fn write_buffer_size(mut self, n: usize) -> Self {
        let config = self.request.config_mut();
        *config = config.clone().write_buffer_size(n);
        self
    }

    /// The whole [`Config`]: limits, keepalive, permessage-deflate. Replaces the settings made
    /// so far with the other setters.
    pub fn config(mut self, config: Config) -> Self {
        *self.request.config_mut() = config;
        self
    }

    /// Called with the error when hyper does not hand the connection over after the 101 (the
    /// client went away). By default the failure is logged at debug level.
    pub fn on_failed_upgrade<C>(mut self, callback: C) -> Self
    where
        C: FnOnce(Error) + Send + 'static,
    {
        self.on_failed_upgrade = Some(Box::new(callback));
        self
    }

    /// Answers `101 Switching Protocols` and spawns a tokio task that runs `callback` with the
    /// [`WebSocket`] once the connection is upgraded.
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let WebSocketUpgrade { request, on_failed_upgrade, .. } = self;
        let (response, upgrading) = request.respond::<Body>();
        tokio::spawn(async move {
            match upgrading.await {
                Ok(socket) => callback(socket).await,
                Err(e) => match on_failed_upgrade {
                    Some(on_failed) => on_failed(e),
                    None => tracing::debug!(error = %e, "WebSocket upgrade failed after the 101"),
                },
            }
        });
        response
    }
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade").field("request", &self.request).finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match UpgradeRequest::from_parts(parts) {
            Ok(request) => Ok(WebSocketUpgrade { request, on_failed_upgrade: None }),
            Err(e) => {
                tracing::debug!(status = e.status(), error = %e, "WebSocket upgrade refused");
                Err(WebSocketUpgradeRejection(e))
            }
        }
    }
}

/// Why the [`WebSocketUpgrade`] extractor refused a request; as a response, the answer
/// [`accept`](crate::accept) would give (400, 426 with `Sec-WebSocket-Version: 13`, 500 when
/// the request has no hyper upgrade handle).
#[derive(Debug)]
pub struct WebSocketUpgradeRejection(UpgradeError);

impl WebSocketUpgradeRejection {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        self.0.status()
    }

    /// What was wrong.
    pub fn error(&self) -> &UpgradeError {
        &self.0
    }
}

impl fmt::Display for WebSocketUpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WebSocketUpgradeRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl IntoResponse for WebSocketUpgradeRejection {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    fn check_send<T: Send + 'static>() {}
    // axum handlers' futures must be Send, and they hold the extractor.
    check_send::<WebSocketUpgrade>();
    check::<WebSocketUpgradeRejection>();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: http::Method, ws_version: &str) -> Parts {
        let (parts, ()) = http::Request::builder()
            .method(method)
            .uri("/ws")
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", ws_version)
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    #[tokio::test]
    async fn the_extractor_refuses_with_the_answers_accept_gives() {
        let mut post = parts(http::Method::POST, "13");
        let rejection = WebSocketUpgrade::from_request_parts(&mut post, &()).await.unwrap_err();
        assert_eq!(rejection.status(), 400);
        assert_eq!(rejection.into_response().status(), 400);

        let mut old = parts(http::Method::GET, "8");
        let rejection = WebSocketUpgrade::from_request_parts(&mut old, &()).await.unwrap_err();
        let response = rejection.into_response();
        assert_eq!(response.status(), 426);
        assert_eq!(response.headers()["sec-websocket-version"], "13");

        // Valid, but not from a hyper connection: no upgrade handle, the server's fault.
        let mut valid = parts(http::Method::GET, "13");
        let rejection = WebSocketUpgrade::from_request_parts(&mut valid, &()).await.unwrap_err();
        assert_eq!(rejection.status(), 500);
    }
}
