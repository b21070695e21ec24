//! Connection limits, timers and the random source.

use std::time::Duration;

use crate::deflate::DeflateConfig;
use crate::random::{OsRandom, SecureRandom};

/// Limits, timers and the random source for one connection. Every input a peer controls has a
/// bound here.
///
/// Build it with [`Config::default`] and the setters; a setter clamps a value that would make
/// the config unusable instead of panicking. The fields are public: a value set on a field
/// directly is clamped the same way where a connection is built from the config (so
/// `write_buffer_size = 0` behaves as 1 and cannot make every send wait forever), and
/// `Connection::config` shows the values in force.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest payload of a single frame. Default: 16 MiB.
    pub max_frame_size: usize,
    /// Largest message, counted across fragments and checked before allocating. Default: 64 MiB.
    pub max_message_size: usize,
    /// Send a ping after this long without traffic from the peer; `None` disables keepalive.
    /// Default: `None`.
    pub ping_interval: Option<Duration>,
    /// After a keepalive ping, give up on the peer if nothing at all arrives within this: send
    /// close 1011 and end with 1006 (the peer never answered). Default: 20 s.
    pub ping_timeout: Duration,
    /// How long to wait for the peer's close reply (and, for a client, for the server to close
    /// TCP) before giving up. Default: 5 s.
    pub close_timeout: Duration,
    /// Largest HTTP head (request or response line plus headers) in the handshake.
    /// Default: 16 KiB.
    pub max_handshake_bytes: usize,
    /// Most header lines in the handshake. Default: 64.
    pub max_headers: usize,
    /// Outgoing bytes the connection buffers before a sender must wait. Default: 128 KiB.
    pub write_buffer_size: usize,
    /// Where a client's mask keys and handshake nonce come from (see [`crate::random`]).
    /// Default: [`OsRandom`], the operating system's generator.
    pub random: &'static dyn SecureRandom,
    /// Permessage-deflate (RFC 7692): offered by a client and accepted by a server when set.
    /// The message and frame limits above apply to inflated and compressed sizes alike.
    /// Default: `None` (no compression).
    pub deflate: Option<DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            ping_interval: None,
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(5),
            max_handshake_bytes: 16 << 10,
            max_headers: 64,
            write_buffer_size: 128 << 10,
            random: &OsRandom,
            deflate: None,
        }
    }
}

/// Equal when every limit is equal and both use the same random source (the same object).
impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        let Config {
            max_frame_size,
            max_message_size,
            ping_interval,
            ping_timeout,
            close_timeout,
            max_handshake_bytes,
            max_headers,
            write_buffer_size,
            random,
            deflate,
        } = self;
        *max_frame_size == other.max_frame_size
            && *max_message_size == other.max_message_size
            && *ping_interval == other.ping_interval
            && *ping_timeout == other.ping_timeout
            && *close_timeout == other.close_timeout
            && *max_handshake_bytes == other.max_handshake_bytes
            && *max_headers == other.max_headers
            && *write_buffer_size == other.write_buffer_size
            && std::ptr::addr_eq(*random, other.random)
            && *deflate == other.deflate
    }
}

impl Eq for Config {}

impl Config {
    /// Sets the largest frame payload (at least 125 bytes, so any control frame fits).
    pub fn max_frame_size(mut self, n: usize) -> Self {
        self.max_frame_size = n.max(125);
        self
    }

    /// Sets the largest message size (at least 125 bytes).
    pub fn max_message_size(mut self, n: usize) -> Self {
        self.max_message_size = n.max(125);
        self
    }

    /// Sets the keepalive ping interval; `None` (or zero) turns keepalive off.
    pub fn ping_interval(mut self, d: Option<Duration>) -> Self {
        self.ping_interval = d.filter(|d| !d.is_zero());
        self
    }

    /// Sets how long to wait for traffic after a keepalive ping.
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.ping_timeout = d;
        self
    }

    /// Sets the closing-handshake timeout.
    pub fn close_timeout(mut self, d: Duration) -> Self {
        self.close_timeout = d;
        self
    }

    /// Sets the largest handshake head (at least 1 KiB).
    pub fn max_handshake_bytes(mut self, n: usize) -> Self {
        self.max_handshake_bytes = n.max(1024);
        self
    }

    /// Sets the most handshake header lines (at least 8).
    pub fn max_headers(mut self, n: usize) -> Self {
        self.max_headers = n.max(8);
        self
    }

    /// Sets the outgoing buffer bound (at least 1 byte).
    pub fn write_buffer_size(mut self, n: usize) -> Self {
        self.write_buffer_size = n.max(1);
        self
    }

    /// Sets where a client's mask keys and handshake nonce come from (see [`crate::random`]).
    pub fn random(mut self, source: &'static dyn SecureRandom) -> Self {
        self.random = source;
        self
    }

    /// Turns permessage-deflate on with these settings (`None`: off).
    pub fn deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }
}

impl Config {
    /// This config with every field in the range its setter allows: what a connection uses
    /// when the fields were set directly.
    pub(crate) fn clamped(self) -> Self {
        let Config {
            max_frame_size,
            max_message_size,
            ping_interval,
            max_handshake_bytes,
            max_headers,
            write_buffer_size,
            ..
        } = self;
        self.max_frame_size(max_frame_size)
            .max_message_size(max_message_size)
            .ping_interval(ping_interval)
            .max_handshake_bytes(max_handshake_bytes)
            .max_headers(max_headers)
            .write_buffer_size(write_buffer_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_clamp_unusable_values() {
        let c = Config::default().max_frame_size(0).max_message_size(1).max_headers(0);
        assert_eq!(c.max_frame_size, 125);
        assert_eq!(c.max_message_size, 125);
        assert_eq!(c.max_headers, 8);
    }

    /// Issue 11: the fields are public, so `write_buffer_size = 0` could be set past the
    /// setter; a connection clamps it (and the rest) as the setters do.
    #[test]
    fn fields_set_directly_are_clamped_as_the_setters_would() {
        let c = Config {
            write_buffer_size: 0,
            max_frame_size: 0,
            max_message_size: 0,
            max_headers: 0,
            max_handshake_bytes: 0,
            ping_interval: Some(Duration::ZERO),
            ..Config::default()
        };
        let c = c.clamped();
        assert_eq!(c.write_buffer_size, 1);
        assert_eq!((c.max_frame_size, c.max_message_size), (125, 125));
        assert_eq!((c.max_headers, c.max_handshake_bytes), (8, 1024));
        assert_eq!(c.ping_interval, None);
        assert_eq!(Config::default().clamped(), Config::default());
    }
}
