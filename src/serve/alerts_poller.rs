//! Feeds the `alerts` built-in informer in Kubernetes mode: reads Thanos every interval, and
//! hands the alerts to the cache only when they changed, so an unchanged answer costs no
//! assessment and no publication.
//!
//! When Thanos cannot be read, the last alerts read stay (the informer's insights do not flap
//! away and back with a querier restart), the failure is logged once (then at debug level until
//! it recovers), counted in `update_status_controller_source_failures{source="alerts"}`, shown
//! by `update_status_controller_source_up{source="alerts"} 0`, and published as the
//! UpgradeStatus's `Degraded` condition. Everything else keeps working.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::source_health::SourceHealth;
use crate::clock::Clock;
use crate::cluster::kube::{ClusterCache, Touched};
use crate::cluster::thanos::ThanosSource;
use crate::http::metrics::Metrics;

/// The source name in metrics and in the `Degraded` condition.
pub const SOURCE: &str = "alerts";

/// Everything the poller reports to.
pub struct AlertsPoller {
    /// Where the alerts come from.
    pub source: ThanosSource,
    /// How often they are read.
    pub interval: Duration,
    /// Where they go.
    pub cache: Arc<ClusterCache>,
    /// Failures, for the `Degraded` condition.
    pub health: Arc<SourceHealth>,
    /// Woken when the health changed, so the publisher writes.
    pub changed: Arc<Notify>,
    /// `source_up` and `source_failures`.
    pub metrics: Metrics,
    /// For the condition's times.
    pub clock: Clock,
}

impl AlertsPoller {
    /// Reads the alerts every interval until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            self.poll_once().await;
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// One read, and what follows from it.
    pub async fn poll_once(&self) {
        let now = self.clock.now();
        match self.source.fetch().await {
            Ok(alerts) => {
                self.metrics.source_up(SOURCE, true);
                if self.health.succeeded(SOURCE, now) {
                    tracing::info!(server = self.source.server(), "alerts can be read again");
                    self.changed.notify_one();
                }
                let fresh = {
                    let Ok(mut held) = self.cache.alerts.lock() else {
                        return;
                    };
                    let fresh = held.as_ref() != Some(&alerts);
                    if fresh {
                        *held = Some(alerts);
                    }
                    fresh
                };
                if fresh {
                    self.cache.touch(Touched {
                        alerts: true,
                        ..Touched::default()
                    });
                }
            }
            Err(e) => {
                self.metrics.source_up(SOURCE, false);
                self.metrics.source_failed(SOURCE);
                let message = format!(
                    "cannot read alerts: {e}; alert insights are from the last successful read"
                );
                if self.health.failed(SOURCE, now, message) {
                    tracing::warn!(server = self.source.server(), error = %e, "cannot read alerts; the alerts informer keeps its last alerts and retries");
                    self.changed.notify_one();
                } else {
                    tracing::debug!(server = self.source.server(), error = %e, "still cannot read alerts");
                }
            }
        }
    }
}
