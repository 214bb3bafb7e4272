//! Prometheus metrics, in the text exposition format: requests by route, method and status,
//! their latencies (a histogram per route), requests in flight, and rule decisions (operations
//! allowed, refused) made for clients.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latencies: Mutex<BTreeMap<String, Histogram>>,
    in_flight: AtomicI64,
    allowed: AtomicU64,
    denied: AtomicU64,
}

/// Whether the rules let a client's operation through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The operation ran.
    Allowed,
    /// The rules refused it (a denied write, no rule for the namespace, a private function).
    Denied,
}

impl Metrics {
    /// A request started.
    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A request finished.
    pub fn finished(&self, route: &str, method: &str, status: u16, latency: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((route.to_owned(), method.to_owned(), status))
                .or_insert(0) += 1;
        }
        if let Ok(mut latencies) = self.latencies.lock() {
            latencies
                .entry(route.to_owned())
                .or_default()
                .observe(latency.as_secs_f64());
        }
    }

    /// A rule decision.
    pub fn decision(&self, decision: Decision) {
        match decision {
            Decision::Allowed => self.allowed.fetch_add(1, Ordering::Relaxed),
            Decision::Denied => self.denied.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP expanse_http_requests_total HTTP requests by route, method and status.\n# TYPE expanse_http_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((route, method, status), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "expanse_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                    escape(route),
                    escape(method)
                );
            }
        }
        out.push_str("# HELP expanse_http_request_duration_seconds HTTP request latency by route.\n# TYPE expanse_http_request_duration_seconds histogram\n");
        if let Ok(latencies) = self.latencies.lock() {
            for (route, h) in latencies.iter() {
                let route = escape(route);
                for (bound, n) in BUCKETS.iter().zip(h.counts.iter()) {
                    let _ = writeln!(out, "expanse_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}");
                }
                let _ = writeln!(out, "expanse_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(
                    out,
                    "expanse_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "expanse_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        let _ = writeln!(out, "# HELP expanse_http_requests_in_flight HTTP requests being served.\n# TYPE expanse_http_requests_in_flight gauge\nexpanse_http_requests_in_flight {}", self.in_flight.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP expanse_rule_decisions_total Client operations the rules allowed or refused.\n# TYPE expanse_rule_decisions_total counter\nexpanse_rule_decisions_total{{decision=\"allowed\"}} {}\nexpanse_rule_decisions_total{{decision=\"denied\"}} {}", self.allowed.load(Ordering::Relaxed), self.denied.load(Ordering::Relaxed));
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.started();
        m.finished("/health", "GET", 200, Duration::from_millis(2));
        m.decision(Decision::Denied);
        let text = m.render();
        assert!(text.contains(
            "expanse_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "expanse_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains("expanse_rule_decisions_total{decision=\"denied\"} 1"));
        assert!(text.contains("expanse_http_requests_in_flight 0"));
    }
}
