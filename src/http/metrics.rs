//! Prometheus metrics of the informer endpoint and the publisher. Label values are bounded:
//! the informer label is only ever the name of a registered informer (or `unregistered`), so a
//! caller cannot grow the series count by inventing names.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::server::ConnectionMetrics;

/// The informer label of a request whose informer is not registered.
pub const UNREGISTERED: &str = "unregistered";

/// Labels of a request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// A registered informer, or `unregistered`.
    pub informer: String,
    /// The HTTP status code.
    pub code: u16,
}

/// Labels of the insights-held gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InsightLabels {
    /// The informer.
    pub informer: String,
    /// The insight type.
    #[prometheus(flatten)]
    pub kind: KindLabel,
}

/// The insight type label (named `type` on the wire).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The insight type.
    pub r#type: String,
}

/// Labels of counters about one informer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InformerLabels {
    /// The informer.
    pub informer: String,
}

/// Labels of the publication counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `success` or `failure`.
    pub result: String,
}

/// Labels of the data-source metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// The source (`alerts`); a fixed name, never input.
    pub source: String,
}

/// Labels of the informer-state gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InformerStateLabels {
    /// A registered informer.
    pub informer: String,
    /// `Reporting`, `Stale`, `NeverReported` or `Disabled`.
    pub state: String,
}

/// Every metric the controller exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Reports and read-backs by informer and status code.
    pub requests: Family<RequestLabels, Counter>,
    /// Handling time of informer API requests, in seconds.
    pub latency: Histogram,
    /// Insights held, by informer and type.
    pub insights: Family<InsightLabels, Gauge>,
    /// Insights refused, by informer.
    pub rejected: Family<InformerLabels, Counter>,
    /// Writes of the UpgradeStatus, by result.
    pub publications: Family<ResultLabels, Counter>,
    /// Writes (creates, updates, deletes) of NodeProgressInsights, by result.
    pub node_writes: Family<ResultLabels, Counter>,
    /// Writes of the UpgradeStatus the API server refused as too large (each one also counts as
    /// a failed publication). Any increase means the object was published smaller than
    /// configured: an alert on it catches a budget too high for the cluster's etcd.
    pub publications_too_large: Counter,
    /// The size budget in force, in bytes of the object as etcd stores it: `--budget-bytes`, or
    /// less after a write was refused as too large.
    pub budget_bytes: Gauge,
    /// Whether a built-in informer's data source answered its last read (1) or not (0).
    pub source_up: Family<SourceLabels, Gauge>,
    /// Failed reads of a built-in informer's data source.
    pub source_failures: Family<SourceLabels, Counter>,
    /// The HTTPS listener's refusals and early closes (connection hoarding shows here).
    pub connections: ConnectionMetrics,
    /// 1 while this replica holds the Lease and publishes, else 0 (set by [`Metrics::set_leading`]): with every replica scraped,
    /// a sum of 0 means nobody keeps the object current although the pods run.
    pub leader: Gauge,
    /// One series per registered informer and state, 1 for the state it is in: what an alert
    /// on a stale producer selects. Informers no longer registered lose their series.
    pub informer_state: Family<InformerStateLabels, Gauge>,
    /// Insights left out of the last status built for publication (the size budget).
    pub omitted_insights: Gauge,
    /// Kubernetes Events, by result: `success`, `failure`, or `dropped` (over the rate limit
    /// or the queue full), so a quiet event stream can be told from a suppressed one.
    pub events: Family<ResultLabels, Counter>,
    /// The informers [`Metrics::set_informer_states`] last exported.
    informers_exported: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `update_status_controller` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("update_status_controller");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Histogram::new([
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ]);
        let insights = Family::<InsightLabels, Gauge>::default();
        let rejected = Family::<InformerLabels, Counter>::default();
        let publications = Family::<ResultLabels, Counter>::default();
        let node_writes = Family::<ResultLabels, Counter>::default();
        let publications_too_large = Counter::default();
        let budget_bytes = Gauge::default();
        let source_up = Family::<SourceLabels, Gauge>::default();
        let source_failures = Family::<SourceLabels, Counter>::default();
        let connections = ConnectionMetrics::default();
        let leader = Gauge::default();
        let informer_state = Family::<InformerStateLabels, Gauge>::default();
        let omitted_insights = Gauge::default();
        let events = Family::<ResultLabels, Counter>::default();
        registry.register(
            "requests",
            "Informer API requests by informer and HTTP status code",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to handle an informer API request",
            latency.clone(),
        );
        registry.register(
            "insights",
            "Insights held, by informer and type",
            insights.clone(),
        );
        registry.register(
            "rejected_insights",
            "Insights refused by validation or policy",
            rejected.clone(),
        );
        registry.register(
            "publications",
            "Writes of the UpgradeStatus, by result",
            publications.clone(),
        );
        registry.register(
            "node_publications",
            "Writes (creates, updates, deletes) of NodeProgressInsights, by result",
            node_writes.clone(),
        );
        registry.register(
            "publications_too_large",
            "Writes of the UpgradeStatus the API server refused as too large; each lowers the size budget",
            publications_too_large.clone(),
        );
        registry.register(
            "budget_bytes",
            "The UpgradeStatus size budget in force, in bytes as etcd stores the object (managedFields included)",
            budget_bytes.clone(),
        );
        registry.register(
            "source_up",
            "Whether a built-in informer's data source (alerts: Thanos Querier) answered its last read",
            source_up.clone(),
        );
        registry.register(
            "source_failures",
            "Failed reads of a built-in informer's data source",
            source_failures.clone(),
        );
        registry.register(
            "connections_refused",
            "HTTPS connections reset at accept, by reason: global_cap (--max-connections) or source_cap (--max-connections-per-source)",
            connections.refused.clone(),
        );
        registry.register(
            "connections_unauthenticated_closed",
            "HTTPS connections closed because no request on them presented an accepted token within --unauthenticated-connection-lifetime",
            connections.unauthenticated_closed.clone(),
        );
        registry.register(
            "connections_open",
            "HTTPS connections open now, TLS handshakes included",
            connections.open.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the Lease and publishes the UpgradeStatus, else 0",
            leader.clone(),
        );
        registry.register(
            "informer_state",
            "1 for the state each registered informer is in (Reporting, Stale, NeverReported, Disabled); set by the leader",
            informer_state.clone(),
        );
        registry.register(
            "omitted_insights",
            "Insights left out of the last UpgradeStatus built for publication, to keep it within the size budget",
            omitted_insights.clone(),
        );
        registry.register(
            "events",
            "Kubernetes Events about informers and the controller, by result (success, failure, dropped)",
            events.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            latency,
            insights,
            rejected,
            publications,
            node_writes,
            publications_too_large,
            budget_bytes,
            source_up,
            source_failures,
            connections,
            leader,
            informer_state,
            omitted_insights,
            events,
            informers_exported: Arc::default(),
        }
    }

    /// Records the state of every registered informer; the series of informers missing from
    /// `states` (deregistered since the last call) are removed.
    pub fn set_informer_states<'a>(
        &self,
        states: impl IntoIterator<Item = (&'a str, update_status_api::v1alpha1::InformerState)>,
    ) {
        use update_status_api::v1alpha1::InformerState;
        const ALL: [InformerState; 4] = [
            InformerState::Reporting,
            InformerState::Stale,
            InformerState::NeverReported,
            InformerState::Disabled,
        ];
        let labels = |informer: &str, state: InformerState| InformerStateLabels {
            informer: informer.to_owned(),
            state: format!("{state:?}"),
        };
        let mut now: Vec<String> = Vec::new();
        for (informer, current) in states {
            for state in ALL {
                self.informer_state
                    .get_or_create(&labels(informer, state))
                    .set(i64::from(state == current));
            }
            now.push(informer.to_owned());
        }
        let Ok(mut exported) = self.informers_exported.lock() else {
            return;
        };
        for gone in exported.iter().filter(|name| !now.contains(name)) {
            for state in ALL {
                self.informer_state.remove(&labels(gone, state));
            }
        }
        *exported = now;
    }

    /// Records that this replica leads (or stopped leading). A replica that stopped drops the
    /// informer states and the omission count it set while leading: frozen, they would keep an
    /// alert firing after the new leader saw the problem clear.
    pub fn set_leading(&self, leading: bool) {
        self.leader.set(i64::from(leading));
        if !leading {
            self.set_informer_states([]);
            self.omitted_insights.set(0);
        }
    }

    /// Counts one Kubernetes Event by what became of it: `success`, `failure` or `dropped`.
    pub fn count_event(&self, result: &str) {
        self.events
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Records whether `source` answered its last read.
    pub fn source_up(&self, source: &str, up: bool) {
        self.source_up
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .set(i64::from(up));
    }

    /// Counts a failed read of `source`.
    pub fn source_failed(&self, source: &str) {
        self.source_failures
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Records how many insights of each type `informer` now holds, given the type of each.
    pub fn set_insights(
        &self,
        informer: &str,
        types: impl IntoIterator<Item = update_status_api::v1alpha1::InsightType>,
    ) {
        use update_status_api::v1alpha1::InsightType;
        let mut counts = [0_i64; InsightType::ALL.len()];
        for t in types {
            if let Some(i) = InsightType::ALL.iter().position(|k| *k == t) {
                counts[i] += 1;
            }
        }
        for (kind, n) in InsightType::ALL.iter().zip(counts) {
            let labels = InsightLabels {
                informer: informer.to_owned(),
                kind: KindLabel {
                    r#type: kind.as_str().to_owned(),
                },
            };
            self.insights.get_or_create(&labels).set(n);
        }
    }

    /// Counts one write of the UpgradeStatus.
    pub fn count_publication(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.publications
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts NodeProgressInsight writes (creates, updates and deletes) that succeeded and failed.
    pub fn count_node_writes(&self, ok: usize, failed: usize) {
        for (result, n) in [("success", ok), ("failure", failed)] {
            self.node_writes
                .get_or_create(&ResultLabels {
                    result: result.to_owned(),
                })
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    /// Counts one write of the UpgradeStatus refused as too large.
    pub fn count_too_large(&self) {
        self.publications_too_large.inc();
    }

    /// Records the size budget in force, in bytes.
    pub fn set_budget(&self, bytes: usize) {
        self.budget_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Counts one request.
    pub fn count_request(&self, informer: &str, code: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                informer: informer.to_owned(),
                code,
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_encode_with_their_labels() {
        let m = Metrics::new();
        m.count_request("machine-config", 200);
        m.insights
            .get_or_create(&InsightLabels {
                informer: "machine-config".into(),
                kind: KindLabel {
                    r#type: "Node".into(),
                },
            })
            .set(12);
        m.publications
            .get_or_create(&ResultLabels {
                result: "success".into(),
            })
            .inc();
        let text = m.encode().unwrap();
        assert!(
            text.contains(
                r#"update_status_controller_requests_total{informer="machine-config",code="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"update_status_controller_insights{informer="machine-config",type="Node"} 12"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"update_status_controller_publications_total{result="success"} 1"#),
            "{text}"
        );
        assert!(text.contains("update_status_controller_request_duration_seconds_bucket"));

        let node: update_status_api::wire::ReportedInsight = serde_json::from_value(serde_json::json!({
            "uid": "node-a", "insight": {"type": "Node", "node": {"name": "a", "resource": {"resource": "nodes", "name": "a"},
            "poolResource": {"resource": "machineconfigpools", "name": "worker"}, "scopeType": "WorkerPool"}}}))
        .unwrap();
        m.set_insights(
            "machine-config",
            [&node, &node].map(|i| i.insight.insight_type()),
        );
        m.count_publication(false);
        let text = m.encode().unwrap();
        assert!(
            text.contains(
                r#"update_status_controller_insights{informer="machine-config",type="Node"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"update_status_controller_insights{informer="machine-config",type="Health"} 0"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"update_status_controller_publications_total{result="failure"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn refusals_as_too_large_and_the_budget_are_exported() {
        let m = Metrics::new();
        m.set_budget(1_310_720);
        let text = m.encode().unwrap();
        assert!(
            text.contains("update_status_controller_publications_too_large_total 0"),
            "{text}"
        );
        assert!(
            text.contains("update_status_controller_budget_bytes 1310720"),
            "{text}"
        );
        m.count_too_large();
        m.set_budget(1_048_576);
        let text = m.encode().unwrap();
        assert!(
            text.contains("update_status_controller_publications_too_large_total 1"),
            "{text}"
        );
        assert!(
            text.contains("update_status_controller_budget_bytes 1048576"),
            "{text}"
        );
    }

    #[test]
    fn informer_states_are_one_hot_and_deregistered_informers_lose_their_series() {
        use update_status_api::v1alpha1::InformerState;
        let m = Metrics::new();
        m.set_informer_states([
            ("storage", InformerState::Stale),
            ("machine-config", InformerState::Reporting),
        ]);
        let text = m.encode().unwrap();
        let line = |informer: &str, state: &str, v: u8| {
            format!(
                r#"update_status_controller_informer_state{{informer="{informer}",state="{state}"}} {v}"#
            )
        };
        for expected in [
            line("storage", "Stale", 1),
            line("storage", "Reporting", 0),
            line("storage", "NeverReported", 0),
            line("storage", "Disabled", 0),
            line("machine-config", "Reporting", 1),
        ] {
            assert!(text.contains(&expected), "{expected} in {text}");
        }
        m.set_informer_states([("machine-config", InformerState::Disabled)]);
        let text = m.encode().unwrap();
        assert!(!text.contains(r#"informer="storage""#), "{text}");
        assert!(
            text.contains(&line("machine-config", "Disabled", 1)),
            "{text}"
        );
        assert!(
            text.contains(&line("machine-config", "Reporting", 0)),
            "{text}"
        );
        // No longer leading: what it set as leader goes.
        m.omitted_insights.set(3);
        m.set_leading(false);
        let text = m.encode().unwrap();
        assert!(!text.contains(r#"informer="machine-config""#), "{text}");
        assert!(
            text.contains("update_status_controller_omitted_insights 0"),
            "{text}"
        );
        assert!(text.contains("update_status_controller_leader 0"), "{text}");
    }

    #[test]
    fn leadership_omissions_and_events_are_exported() {
        let m = Metrics::new();
        m.leader.set(1);
        m.omitted_insights.set(7);
        m.count_event("dropped");
        m.count_event("dropped");
        m.count_event("success");
        let text = m.encode().unwrap();
        for expected in [
            "update_status_controller_leader 1",
            "update_status_controller_omitted_insights 7",
            r#"update_status_controller_events_total{result="dropped"} 2"#,
            r#"update_status_controller_events_total{result="success"} 1"#,
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }
}
