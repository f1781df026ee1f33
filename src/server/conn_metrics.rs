//! Prometheus metrics of the HTTPS listener: why connections were refused or closed early, so
//! that an administrator can tell a connection-hoarding attack (SECURITY.md, D1) from a quiet
//! night. The listener owns the counters; `http::metrics` registers them with the rest.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

/// The reason label of a refused connection; a fixed set of values, never input.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// `global_cap` (all `--max-connections` slots taken) or `source_cap` (the client's address
    /// holds `--max-connections-per-source`).
    pub reason: &'static str,
}

/// The `reason` of a connection refused because every slot was taken.
pub const GLOBAL_CAP: &str = "global_cap";
/// The `reason` of a connection refused because its source held its share.
pub const SOURCE_CAP: &str = "source_cap";

/// Counters and gauges of the listener. Cloning shares them (prometheus-client metrics are
/// reference-counted).
#[derive(Clone, Debug, Default)]
pub struct ConnectionMetrics {
    /// Connections reset at accept, by reason.
    pub refused: Family<RefusalLabels, Counter>,
    /// Connections closed because no request on them authenticated within the lifetime.
    pub unauthenticated_closed: Counter,
    /// Connections open now (handshakes included).
    pub open: Gauge,
}

impl ConnectionMetrics {
    /// Counts a connection refused for `reason` ([`GLOBAL_CAP`] or [`SOURCE_CAP`]).
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&RefusalLabels { reason }).inc();
    }

    /// Connections refused for `reason` so far (for tests and logs).
    pub fn refused_count(&self, reason: &'static str) -> u64 {
        self.refused.get_or_create(&RefusalLabels { reason }).get()
    }
}
