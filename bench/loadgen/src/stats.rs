//! Per-operation statistics: an HDR latency histogram of the successful requests, and the
//! errors by kind with the first few messages.

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// How many error messages are kept verbatim.
const KEPT_MESSAGES: usize = 5;
/// Highest latency the histograms track, in microseconds (longer ones are clamped).
const MAX_LATENCY_US: u64 = 300_000_000;

/// Why one request did not succeed.
#[derive(Debug, Clone)]
pub enum OpError {
    /// An answer with an unexpected status.
    Status(u16, String),
    /// No answer: connect, reset, timeout.
    Transport(String),
    /// A success whose body could not be read.
    Body(String),
}

impl OpError {
    fn kind(&self) -> String {
        match self {
            Self::Status(s, _) => format!("status_{s}"),
            Self::Transport(_) => "transport".into(),
            Self::Body(_) => "bad_body".into(),
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Status(s, body) => format!("HTTP {s}: {body}"),
            Self::Transport(m) | Self::Body(m) => m.clone(),
        }
    }

    /// An answer that says the token or chain is no longer good (4xx).
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::Status(s, _) if (400..500).contains(s))
    }
}

#[derive(Debug, Default)]
struct Errors {
    total: u64,
    by_kind: BTreeMap<String, u64>,
    first: Vec<String>,
}

/// Statistics of one kind of operation, shared by every client doing it.
#[derive(Debug)]
pub struct OpStats {
    hist: Mutex<Histogram<u64>>,
    errors: Mutex<Errors>,
}

impl OpStats {
    /// Empty statistics.
    pub fn new() -> Self {
        #[allow(clippy::expect_used)] // constant bounds inside hdrhistogram's documented ranges
        let hist = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid bounds");
        Self {
            hist: Mutex::new(hist),
            errors: Mutex::new(Errors::default()),
        }
    }

    /// Records a success that took `us` microseconds.
    pub fn ok(&self, us: u64) {
        if let Ok(mut h) = self.hist.lock() {
            h.saturating_record(us.clamp(1, MAX_LATENCY_US));
        }
    }

    /// Records a failure.
    pub fn err(&self, e: &OpError) {
        if let Ok(mut errors) = self.errors.lock() {
            errors.total += 1;
            *errors.by_kind.entry(e.kind()).or_default() += 1;
            if errors.first.len() < KEPT_MESSAGES {
                let mut m = e.message();
                m.truncate(300);
                errors.first.push(m);
            }
        }
    }

    /// Successful requests so far.
    pub fn count(&self) -> u64 {
        self.hist.lock().map_or(0, |h| h.len())
    }

    /// Errors so far.
    pub fn error_count(&self) -> u64 {
        self.errors.lock().map_or(0, |e| e.total)
    }

    /// Adds `other`'s numbers to these.
    pub fn absorb(&self, other: &OpStats) {
        if let (Ok(mut h), Ok(o)) = (self.hist.lock(), other.hist.lock()) {
            let _ = h.add(&*o);
        }
        self.absorb_errors(other);
    }

    /// Adds `other`'s errors (not its latencies) to these.
    pub fn absorb_errors(&self, other: &OpStats) {
        if let (Ok(mut e), Ok(o)) = (self.errors.lock(), other.errors.lock()) {
            e.total += o.total;
            for (k, n) in &o.by_kind {
                *e.by_kind.entry(k.clone()).or_default() += n;
            }
            for m in &o.first {
                if e.first.len() < KEPT_MESSAGES {
                    e.first.push(m.clone());
                }
            }
        }
    }

    /// Latency percentiles of the successes, in microseconds.
    pub fn latency_json(&self) -> Value {
        let Ok(h) = self.hist.lock() else {
            return Value::Null;
        };
        if h.is_empty() {
            return json!({"p50": null, "p90": null, "p99": null, "max": null, "mean": null});
        }
        json!({
            "p50": h.value_at_quantile(0.50),
            "p90": h.value_at_quantile(0.90),
            "p99": h.value_at_quantile(0.99),
            "max": h.max(),
            "mean": (h.mean() * 10.0).round() / 10.0,
        })
    }

    /// The errors as JSON.
    pub fn errors_json(&self) -> Value {
        let Ok(e) = self.errors.lock() else {
            return Value::Null;
        };
        json!({"total": e.total, "by_kind": e.by_kind, "first_messages": e.first})
    }

    /// Everything, with requests per second over `secs`.
    pub fn to_json(&self, secs: f64) -> Value {
        let n = self.count();
        json!({
            "requests": n,
            "rps": if secs > 0.0 { (n as f64 / secs * 10.0).round() / 10.0 } else { 0.0 },
            "latency_us": self.latency_json(),
            "errors": self.errors_json(),
        })
    }
}
