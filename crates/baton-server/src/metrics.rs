//! Prometheus metrics, held in the app state (no global registry): request counts and latencies
//! by route and status, and the token events operators watch (logins, refreshes, reuse).

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

// Every label value comes from a closed set, so the number of series is bounded whatever
// clients send: the method is one of nine names or `_OTHER`, the route one of the router's
// templates or `unmatched`, the status a three-digit code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// The metrics label of a request method: the standard ones by name, any other as `_OTHER`
/// (the name OpenTelemetry uses), so made-up methods cannot add series.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::CONNECT,
        Method::OPTIONS,
        Method::TRACE,
        Method::PATCH,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("_OTHER", Method::as_str)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MailLabels {
    kind: &'static str,
    outcome: &'static str,
}

/// All of baton's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    logins: Family<OutcomeLabels, Counter>,
    refreshes: Family<OutcomeLabels, Counter>,
    reuse: Counter,
    dpop_refused: Family<OutcomeLabels, Counter>,
    events: Family<EventLabels, Counter>,
    shed: Family<ClassLabels, Counter>,
    mails: Family<MailLabels, Counter>,
    logout_notices: Family<OutcomeLabels, Counter>,
    outbox: prometheus_client::metrics::gauge::Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("baton");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register("logins", "Login attempts by outcome", logins.clone());
        let refreshes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "refreshes",
            "Refresh attempts by outcome",
            refreshes.clone(),
        );
        let reuse = Counter::default();
        registry.register(
            "refresh_reuse_detected",
            "Spent refresh tokens presented after the grace window (sessions revoked)",
            reuse.clone(),
        );
        let dpop_refused = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "dpop_proofs_refused",
            "DPoP proofs refused, by the check they failed",
            dpop_refused.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "audit_events",
            "Audit events recorded, by kind",
            events.clone(),
        );
        let shed = Family::<ClassLabels, Counter>::default();
        registry.register(
            "requests_shed",
            "Requests answered 503 because their route class was at capacity, by class",
            shed.clone(),
        );
        let mails = Family::<MailLabels, Counter>::default();
        registry.register(
            "mails",
            "Mail delivery attempts by kind and outcome (sent, retry, rejected, dropped)",
            mails.clone(),
        );
        let logout_notices = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "backchannel_logouts",
            "Back-channel logout deliveries by outcome (delivered, retry, dropped)",
            logout_notices.clone(),
        );
        let outbox = prometheus_client::metrics::gauge::Gauge::default();
        registry.register(
            "outbox_mails",
            "Mails waiting in the outbox, as this instance last counted",
            outbox.clone(),
        );
        Self {
            mails,
            logout_notices,
            outbox,
            registry,
            requests,
            latency,
            logins,
            refreshes,
            reuse,
            dpop_refused,
            events,
            shed,
        }
    }

    /// Counts a login by outcome (`success`, `invalid_credentials`, `rate_limited`, `error`).
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts a refused DPoP proof by the check it failed (a fixed set of labels).
    pub fn dpop_refused(&self, why: baton_core::dpop::ProofError) {
        self.dpop_refused
            .get_or_create(&OutcomeLabels {
                outcome: why.label(),
            })
            .inc();
    }

    /// Counts a refresh by outcome.
    pub fn refresh(&self, outcome: &'static str) {
        self.refreshes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        if outcome == "reuse_detected" {
            self.reuse.inc();
        }
    }

    /// Counts a mail delivery attempt (kinds and outcomes are closed sets of names).
    pub fn mail(&self, kind: &'static str, outcome: &'static str) {
        self.mails
            .get_or_create(&MailLabels { kind, outcome })
            .inc();
    }

    /// Counts a back-channel logout delivery attempt by outcome (a closed set of names).
    pub fn logout_notice(&self, outcome: &'static str) {
        self.logout_notices
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Sets the number of mails waiting.
    pub fn outbox(&self, waiting: u64) {
        self.outbox.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// Counts a request shed by its route class (a closed set of names).
    pub fn shed(&self, class: &'static str) {
        self.shed.get_or_create(&ClassLabels { class }).inc();
    }

    /// Counts an audit event by kind (a closed set of names).
    pub fn event(&self, kind: &'static str) {
        self.events.get_or_create(&EventLabels { kind }).inc();
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        to_prometheus_text(&out)
    }
}

/// Rewrites OpenMetrics text as Prometheus text 0.0.4: counter families are named after their
/// `_total` samples, and the `# EOF` and `# UNIT` lines go.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Middleware recording every request's count and latency under its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let start = Instant::now();
    let response = next.run(req).await;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method,
            route: route.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_after_their_samples_and_there_is_no_eof() {
        let m = Metrics::new();
        m.login("success");
        let text = m.render();
        assert!(text.contains("# TYPE baton_logins_total counter"), "{text}");
        assert!(text.contains("# HELP baton_logins_total "), "{text}");
        assert!(
            text.contains("baton_logins_total{outcome=\"success\"} 1"),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for name in ["FOO", "get", "BREW", "X-ANYTHING-1234"] {
            let method = Method::from_bytes(name.as_bytes()).expect("a valid token");
            assert_eq!(method_label(&method), "_OTHER", "{name}");
        }
    }
}
