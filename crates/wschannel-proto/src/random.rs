//! Where unpredictable bytes come from: the caller's choice, as the clock is.
//!
//! A client masks every frame with a key the peer cannot predict (RFC 6455 §5.3) and opens with
//! a random nonce (RFC 6455 §4.1). Neither the connection nor the handshake picks a source:
//! they use [`Config::random`](crate::Config::random), which the caller sets. Its default is
//! [`OsRandom`], the operating system's generator; the `wschannel` crate keeps that default.
//!
//! A client [`Connection`](crate::Connection) asks its source once, for a 32-byte seed, and
//! derives its mask keys from that with ChaCha12 (`rand`'s `StdRng`): no call to the source
//! per frame. If the source fails, the connection does not panic: it starts closed with 1011
//! and a reason that says so. A server never asks (servers do not mask).

use std::fmt;

/// A source of unpredictable bytes for mask keys and handshake nonces.
///
/// Implement it to supply another generator (an embedded platform's, a hardware one). A source
/// must be unpredictable to the peer: a predictable one lets a script in a browser steer the
/// bytes a proxy sees (RFC 6455 §10.3).
pub trait SecureRandom: Send + Sync + fmt::Debug {
    /// Fills `buf` with unpredictable bytes.
    ///
    /// # Errors
    /// [`RandomError`] when the source cannot supply them now.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's generator (`getrandom`): the default source.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
    }
}

/// **Danger**: a source that gives the same bytes every time, so masks and nonces are
/// predictable. Only for reproducible tests and fuzzing, never for a connection to a peer that
/// matters (RFC 6455 §5.3 requires unpredictable masks).
///
/// ```
/// use wschannel_proto::random::DangerFixedRandom;
/// use wschannel_proto::Config;
///
/// static FIXED: DangerFixedRandom = DangerFixedRandom::new([7; 32]);
/// let config = Config::default().random(&FIXED);
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct DangerFixedRandom {
    seed: [u8; 32],
}

impl DangerFixedRandom {
    /// A source that repeats `seed`.
    pub const fn new(seed: [u8; 32]) -> Self {
        DangerFixedRandom { seed }
    }
}

impl SecureRandom for DangerFixedRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        for (b, s) in buf.iter_mut().zip(self.seed.iter().cycle()) {
            *b = *s;
        }
        Ok(())
    }
}

/// The random source could not supply bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the random number source failed: {0}")]
pub struct RandomError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_source_repeats_its_seed_and_the_os_source_does_not() {
        let fixed = DangerFixedRandom::new(std::array::from_fn(|i| i as u8));
        let mut a = [0u8; 40];
        fixed.fill(&mut a).unwrap();
        assert_eq!(a[..32], std::array::from_fn::<u8, 32, _>(|i| i as u8));
        assert_eq!(a[32..], [0, 1, 2, 3, 4, 5, 6, 7]);

        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        OsRandom.fill(&mut x).unwrap();
        OsRandom.fill(&mut y).unwrap();
        assert_ne!(x, y, "two draws of 256 bits from the OS were equal");
    }
}
