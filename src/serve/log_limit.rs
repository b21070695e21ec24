//! A rate limit for log lines a peer can cause (failed handshakes): a flood of bad requests must
//! not become a flood of log lines.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets through at most `burst` lines per `window`; the lines it holds back are counted and the
/// count goes out with the first line of a later window.
#[derive(Debug)]
pub struct LogLimit {
    burst: u32,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    window_start: Option<Instant>,
    logged: u32,
    held_back: u64,
}

impl LogLimit {
    pub const fn new(burst: u32, window: Duration) -> Self {
        LogLimit {
            burst,
            window,
            state: Mutex::new(State { window_start: None, logged: 0, held_back: 0 }),
        }
    }

    /// `Some(n)`: log this line, and say that `n` lines before it were held back. `None`: hold
    /// this one back.
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let new_window = match s.window_start {
            Some(start) => now >= start + self.window,
            None => true,
        };
        if new_window {
            s.window_start = Some(now);
            s.logged = 0;
        }
        if s.logged < self.burst {
            s.logged += 1;
            Some(std::mem::take(&mut s.held_back))
        } else {
            s.held_back += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_window_then_the_count_of_what_was_held_back() {
        let limit = LogLimit::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let admitted: Vec<_> = (0..10).map(|i| limit.admit(t0 + Duration::from_secs(i))).collect();
        assert_eq!(admitted[..3], [Some(0), Some(0), Some(0)]);
        assert!(admitted[3..].iter().all(Option::is_none), "{admitted:?}");
        // The next window: the first line carries the 7 held back.
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(limit.admit(t1), Some(7));
        assert_eq!(limit.admit(t1), Some(0));
    }
}
