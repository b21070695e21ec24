//! Counters for `/metrics`, rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Server-wide counters. Cheap to update from every connection task.
#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    /// `[direction][type]`: messages and payload bytes (see [`MessageCounts::message`] and [`Metrics::add`]).
    messages: [[AtomicU64; 2]; 2],
    bytes: [[AtomicU64; 2]; 2],
    /// Connections that negotiated permessage-deflate, and `[direction]`: compressed messages,
    /// their bytes on the wire and their bytes inflated (counted when a connection ends).
    pub deflate_connections: AtomicU64,
    deflate_messages: [AtomicU64; 2],
    deflate_wire_bytes: [AtomicU64; 2],
    deflate_bytes: [AtomicU64; 2],
    pub http_requests: AtomicU64,
    /// Handshake failures by reason label.
    handshake_failures: Mutex<BTreeMap<&'static str, u64>>,
    /// Close codes seen, by code.
    close_codes: Mutex<BTreeMap<u16, u64>>,
}

/// Which way a message went.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    Received = 0,
    Sent = 1,
}

/// One connection's message counts since they were last added to the shared [`Metrics`]: the
/// echo loop counts here (no atomic operation per message) and adds them when it waits.
#[derive(Debug, Default)]
pub struct MessageCounts {
    /// `[direction][type]`, as in [`Metrics`].
    messages: [[u64; 2]; 2],
    bytes: [[u64; 2]; 2],
    any: bool,
}

impl MessageCounts {
    /// Counts a text (`binary == false`) or binary message of `len` payload bytes.
    pub fn message(&mut self, dir: Direction, binary: bool, len: usize) {
        let (d, t) = (dir as usize, usize::from(binary));
        self.messages[d][t] += 1;
        self.bytes[d][t] += len as u64;
        self.any = true;
    }

    /// Whether any message was counted since the last [`Metrics::add`].
    pub fn any(&self) -> bool {
        self.any
    }
}

impl Metrics {
    /// Adds `counts` to the shared counters and clears them.
    pub fn add(&self, counts: &mut MessageCounts) {
        if !std::mem::take(&mut counts.any) {
            return;
        }
        for d in 0..2 {
            for t in 0..2 {
                let n = std::mem::take(&mut counts.messages[d][t]);
                if n > 0 {
                    self.messages[d][t].fetch_add(n, Relaxed);
                    self.bytes[d][t].fetch_add(std::mem::take(&mut counts.bytes[d][t]), Relaxed);
                }
            }
        }
    }

    /// Adds a finished connection's permessage-deflate counts.
    pub fn compressed(&self, s: &wschannel::ExtensionStats) {
        self.deflate_connections.fetch_add(1, Relaxed);
        for (d, (messages, wire, bytes)) in [
            (s.messages_in, s.wire_bytes_in, s.bytes_in),
            (s.messages_out, s.wire_bytes_out, s.bytes_out),
        ]
        .into_iter()
        .enumerate()
        {
            self.deflate_messages[d].fetch_add(messages, Relaxed);
            self.deflate_wire_bytes[d].fetch_add(wire, Relaxed);
            self.deflate_bytes[d].fetch_add(bytes, Relaxed);
        }
    }

    pub fn handshake_failed(&self, reason: &'static str) {
        let mut m = self.handshake_failures.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(reason).or_default() += 1;
    }

    pub fn closed_with(&self, code: u16) {
        let mut m = self.close_codes.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(code).or_default() += 1;
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let gauge = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                v.load(Relaxed)
            );
        };
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        };
        gauge(
            &mut out,
            "wschannel_connections_open",
            "WebSocket connections open now.",
            &self.connections_open,
        );
        counter(
            &mut out,
            "wschannel_connections_total",
            "WebSocket connections accepted.",
            &self.connections_total,
        );
        counter(
            &mut out,
            "wschannel_http_requests_total",
            "Plain HTTP requests served.",
            &self.http_requests,
        );
        for (name, help, counts) in [
            ("wschannel_messages_received_total", "Messages received, by type.", &self.messages[0]),
            ("wschannel_messages_sent_total", "Messages sent, by type.", &self.messages[1]),
            ("wschannel_bytes_received_total", "Payload bytes received, by type.", &self.bytes[0]),
            ("wschannel_bytes_sent_total", "Payload bytes sent, by type.", &self.bytes[1]),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name}{{type=\"text\"}} {}", counts[0].load(Relaxed));
            let _ = writeln!(out, "{name}{{type=\"binary\"}} {}", counts[1].load(Relaxed));
        }
        counter(
            &mut out,
            "wschannel_deflate_connections_total",
            "Closed connections that had negotiated permessage-deflate.",
            &self.deflate_connections,
        );
        for (name, help, counts) in [
            (
                "wschannel_compressed_messages_total",
                "Messages compressed with permessage-deflate, by direction (counted when a \
                 connection ends).",
                &self.deflate_messages,
            ),
            (
                "wschannel_compressed_bytes_total",
                "Payload bytes of compressed messages as they crossed the wire, by direction.",
                &self.deflate_wire_bytes,
            ),
            (
                "wschannel_uncompressed_bytes_total",
                "Payload bytes of compressed messages before compression / after inflating, \
                 by direction.",
                &self.deflate_bytes,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name}{{direction=\"in\"}} {}", counts[0].load(Relaxed));
            let _ = writeln!(out, "{name}{{direction=\"out\"}} {}", counts[1].load(Relaxed));
        }
        let name = "wschannel_handshake_failures_total";
        let _ = writeln!(
            out,
            "# HELP {name} Failed opening handshakes, by reason.\n# TYPE {name} counter"
        );
        for (reason, n) in self.handshake_failures.lock().unwrap_or_else(|e| e.into_inner()).iter()
        {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {n}");
        }
        let name = "wschannel_close_codes_total";
        let _ = writeln!(
            out,
            "# HELP {name} Connections closed, by close code.\n# TYPE {name} counter"
        );
        for (code, n) in self.close_codes.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "{name}{{code=\"{code}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_and_counts() {
        let m = Metrics::default();
        let mut counts = MessageCounts::default();
        for _ in 0..3 {
            counts.message(Direction::Received, false, 5);
        }
        counts.message(Direction::Sent, true, 7);
        m.add(&mut counts);
        m.add(&mut counts);
        m.handshake_failed("bad_version");
        m.closed_with(1000);
        m.closed_with(1000);
        let text = m.render();
        assert!(text.contains("wschannel_messages_received_total{type=\"text\"} 3\n"), "{text}");
        assert!(text.contains("wschannel_messages_sent_total{type=\"binary\"} 1\n"), "{text}");
        assert!(text.contains("wschannel_bytes_received_total{type=\"text\"} 15\n"), "{text}");
        assert!(text.contains("wschannel_handshake_failures_total{reason=\"bad_version\"} 1\n"));
        assert!(text.contains("wschannel_close_codes_total{code=\"1000\"} 2\n"));
        assert!(text.contains("# TYPE wschannel_connections_open gauge\n"));
    }
}
