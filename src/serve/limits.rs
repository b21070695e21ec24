//! File descriptors and connections still in their opening handshake.
//!
//! Every connection costs one descriptor from the moment it is accepted, long before it is a
//! WebSocket. `serve` raises its soft `RLIMIT_NOFILE` to the hard limit at start (as Go's
//! runtime and nginx's `worker_rlimit_nofile` do) and derives its defaults from the figure:
//! a few descriptors are kept for the listener, stdio and TLS files, at most
//! `--max-handshakes` go to connections still in the handshake, and the rest to upgraded
//! connections (`--max-connections`). A client that connects and says nothing therefore holds
//! a handshake place, not a connection slot; when the handshake places are all taken, the
//! oldest handshake is shed to make room for the newest, so silent connections cannot lock a
//! well-behaved client out for the length of the handshake timeout.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

/// Descriptors kept back from connections: the listener, stdio, the runtime's own, TLS files.
pub const FD_RESERVE: u64 = 64;

/// The descriptor limit in force after trying to raise the soft limit to the hard one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit found at start.
    pub was: u64,
    /// The soft limit now in force.
    pub now: u64,
    /// The hard limit.
    pub hard: u64,
}

impl FdLimit {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit (to 2^20 when the hard limit is
    /// infinite). `None` where there is no such limit to read.
    pub fn raise() -> Option<FdLimit> {
        #[cfg(unix)]
        {
            use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
            let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
            let target = if hard == RLIM_INFINITY { 1 << 20 } else { hard };
            let mut now = soft;
            if soft < target {
                match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
                    Ok(()) => now = target,
                    Err(e) => tracing::warn!(
                        error = %e,
                        "cannot raise the file descriptor limit from {soft} to {target}; \
                         serving with {soft}"
                    ),
                }
            }
            Some(FdLimit { was: soft, now, hard })
        }
        #[cfg(not(unix))]
        None
    }

    /// The default `--max-handshakes`: an eighth of the descriptors, between 16 and 1024.
    pub fn default_max_handshakes(self) -> usize {
        usize::try_from((self.now / 8).clamp(16, 1024)).unwrap_or(1024)
    }

    /// The default `--max-connections`: what is left after the reserve and the handshakes.
    pub fn default_max_connections(self, max_handshakes: usize) -> usize {
        let left = self.now.saturating_sub(FD_RESERVE + max_handshakes as u64).max(1);
        usize::try_from(left).unwrap_or(usize::MAX)
    }
}

/// The connections still in their opening handshake (TLS, HTTP request, 101), at most `cap`:
/// admitting one more sheds the oldest.
#[derive(Debug)]
pub struct Handshakes {
    cap: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    /// By admission order; dropping a sender sheds that handshake.
    waiting: BTreeMap<u64, oneshot::Sender<()>>,
}

/// One connection's place among the handshakes; dropping it gives the place back.
#[derive(Debug)]
pub struct Ticket {
    id: u64,
    shed: oneshot::Receiver<()>,
    handshakes: Arc<Handshakes>,
}

/// Why a handshake phase ended without its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The handshake timeout passed.
    Timeout,
    /// The place was given to a newer connection.
    Shed,
}

impl Handshakes {
    /// At most `cap` (at least 1) handshakes at once.
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Handshakes { cap: cap.max(1), open: Mutex::default() })
    }

    /// A place for a new connection; when all are taken, the oldest handshake is shed first.
    /// Returns whether one was shed.
    pub fn admit(self: &Arc<Self>) -> (Ticket, bool) {
        let (tx, shed) = oneshot::channel();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        // Dropping the oldest sender wakes its connection, which then ends.
        let shed_one = open.waiting.len() >= self.cap && open.waiting.pop_first().is_some();
        let id = open.next;
        open.next += 1;
        open.waiting.insert(id, tx);
        (Ticket { id, shed, handshakes: self.clone() }, shed_one)
    }

    /// How many connections are in their handshake.
    pub fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).waiting.len()
    }
}

impl Ticket {
    /// Runs one phase of the handshake, for at most `limit` and until the place is shed (a
    /// phase that is done wins over a shed that came at the same time). After it returned
    /// [`Stop::Shed`], the ticket must not be used again.
    pub async fn within<F: Future>(
        &mut self,
        limit: Duration,
        phase: F,
    ) -> Result<F::Output, Stop> {
        tokio::select! {
            biased;
            out = tokio::time::timeout(limit, phase) => out.map_err(|_| Stop::Timeout),
            _ = &mut self.shed => Err(Stop::Shed),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.handshakes.open.lock().unwrap_or_else(|e| e.into_inner());
        open.waiting.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_table_sheds_its_oldest_handshake_and_a_finished_one_frees_its_place() {
        let handshakes = Handshakes::new(2);
        let (mut first, shed) = handshakes.admit();
        assert!(!shed);
        let (second, shed) = handshakes.admit();
        assert!(!shed);
        let (mut third, shed) = handshakes.admit();
        assert!(shed);
        assert_eq!(handshakes.len(), 2);
        let pending = std::future::pending::<()>();
        assert_eq!(first.within(Duration::from_secs(60), pending).await, Err(Stop::Shed));
        drop(first);
        drop(second);
        assert_eq!(handshakes.len(), 1);
        assert_eq!(third.within(Duration::from_secs(60), async { 7 }).await, Ok(7));
        let (_fourth, shed) = handshakes.admit();
        assert!(!shed);
        let (_fifth, shed) = handshakes.admit();
        assert!(shed, "the third is the oldest now");
        assert_eq!(third.within(Duration::from_secs(60), async { 8 }).await, Ok(8), "done wins");
        let pending = std::future::pending::<()>();
        assert_eq!(third.within(Duration::from_secs(60), pending).await, Err(Stop::Shed));
    }

    #[test]
    fn defaults_follow_from_the_descriptor_limit() {
        let at = |now| FdLimit { was: 1024, now, hard: now };
        assert_eq!(at(20_000).default_max_handshakes(), 1024);
        assert_eq!(at(20_000).default_max_connections(1024), 20_000 - 1024 - 64);
        assert_eq!(at(1024).default_max_handshakes(), 128);
        assert_eq!(at(1024).default_max_connections(128), 1024 - 128 - 64);
        assert_eq!(at(32).default_max_handshakes(), 16);
        assert_eq!(at(32).default_max_connections(16), 1);
    }
}
