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
    pub messages_in_text: AtomicU64,
    pub messages_in_binary: AtomicU64,
    pub messages_out_text: AtomicU64,
    pub messages_out_binary: AtomicU64,
    pub bytes_in_text: AtomicU64,
    pub bytes_in_binary: AtomicU64,
    pub bytes_out_text: AtomicU64,
    pub bytes_out_binary: AtomicU64,
    pub http_requests: AtomicU64,
    /// Handshake failures by reason label.
    handshake_failures: Mutex<BTreeMap<&'static str, u64>>,
    /// Close codes seen, by code.
    close_codes: Mutex<BTreeMap<u16, u64>>,
}

impl Metrics {
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
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}", v.load(Relaxed));
        };
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Relaxed));
        };
        gauge(&mut out, "wschannel_connections_open", "WebSocket connections open now.", &self.connections_open);
        counter(&mut out, "wschannel_connections_total", "WebSocket connections accepted.", &self.connections_total);
        counter(&mut out, "wschannel_http_requests_total", "Plain HTTP requests served.", &self.http_requests);
        for (name, help, text, binary) in [
            ("wschannel_messages_received_total", "Messages received, by type.", &self.messages_in_text, &self.messages_in_binary),
            ("wschannel_messages_sent_total", "Messages sent, by type.", &self.messages_out_text, &self.messages_out_binary),
            ("wschannel_bytes_received_total", "Payload bytes received, by message type.", &self.bytes_in_text, &self.bytes_in_binary),
            ("wschannel_bytes_sent_total", "Payload bytes sent, by message type.", &self.bytes_out_text, &self.bytes_out_binary),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name}{{type=\"text\"}} {}", text.load(Relaxed));
            let _ = writeln!(out, "{name}{{type=\"binary\"}} {}", binary.load(Relaxed));
        }
        let name = "wschannel_handshake_failures_total";
        let _ = writeln!(out, "# HELP {name} Failed opening handshakes, by reason.\n# TYPE {name} counter");
        for (reason, n) in self.handshake_failures.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {n}");
        }
        let name = "wschannel_close_codes_total";
        let _ = writeln!(out, "# HELP {name} Connections closed, by close code.\n# TYPE {name} counter");
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
        m.messages_in_text.fetch_add(3, Relaxed);
        m.handshake_failed("bad_version");
        m.closed_with(1000);
        m.closed_with(1000);
        let text = m.render();
        assert!(text.contains("wschannel_messages_received_total{type=\"text\"} 3\n"), "{text}");
        assert!(text.contains("wschannel_handshake_failures_total{reason=\"bad_version\"} 1\n"));
        assert!(text.contains("wschannel_close_codes_total{code=\"1000\"} 2\n"));
        assert!(text.contains("# TYPE wschannel_connections_open gauge\n"));
    }
}
