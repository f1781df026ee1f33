//! Publication: the store's status becomes the `UpgradeStatus/cluster` object, and each node's
//! insight its `NodeProgressInsight`. Changes are coalesced (at most one round of writes per
//! interval), writes that would change nothing are skipped,
//! and failed writes are retried with backoff without losing what is in memory — except a write
//! refused as too large, which would be refused again: the publisher lowers its size [`Budget`]
//! and publishes a smaller object at once.

pub mod apply;
pub mod dir;
pub mod lease;
pub mod nodes;
mod read_back;
pub mod scrub;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    UPGRADE_STATUS_NAME, UpgradeStatus, UpgradeStatusSpec, UpgradeStatusStatus,
};

use crate::http::metrics::Metrics;
pub use crate::store::Publication;
use nodes::{NodeChange, NodeObjects};

/// Why a write failed; the publisher retries.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Writing the object failed.
    #[error("cannot write the UpgradeStatus to {target}: {source}")]
    Io {
        target: String,
        source: std::io::Error,
    },
    /// The object could not be serialized.
    #[error("cannot serialize the UpgradeStatus: {0}")]
    Serialize(String),
    /// The destination refused the write.
    #[error("the UpgradeStatus write was refused: {0}")]
    Refused(String),
    /// The API server refused the write because of the object's size: etcd's request limit
    /// (`etcdserver: request is too large`, or the gRPC message limit in front of it), the API
    /// server's body limit (413), or a list over its schema's maximum (422). The same write would
    /// be refused forever, so the publisher shrinks the object instead of retrying it.
    #[error("the UpgradeStatus write was refused as too large: {0}")]
    TooLarge(String),
}

/// A future a [`Sink`] returns.
pub type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the objects go: the API server (server-side apply), or a directory in offline mode.
pub trait Sink: Send + Sync + 'static {
    /// Writes the whole status of the singleton.
    fn write<'a>(
        &'a self,
        status: &'a UpgradeStatusStatus,
    ) -> SinkFuture<'a, Result<(), PublishError>>;

    /// Makes each of `changes` (node objects to create, update or delete); the singleton has
    /// been written first. Answers the changes that failed, each with its error: they are
    /// retried, the others are not written again.
    fn write_nodes<'a>(
        &'a self,
        changes: &'a [NodeChange],
    ) -> SinkFuture<'a, Vec<(String, PublishError)>>;
}

/// The object as published: the singleton with `status`.
pub fn upgrade_status(status: UpgradeStatusStatus) -> UpgradeStatus {
    let mut obj = UpgradeStatus::new(UPGRADE_STATUS_NAME, UpgradeStatusSpec::default());
    obj.status = Some(status);
    obj
}

/// Whether two statuses differ in anything but the bookkeeping that changes on every
/// evaluation (`observedAt`, and each informer's `lastReportTime`, refreshed whenever the object
/// is written anyway). Comparing this way is what makes a repeated report cause no write.
pub fn differs(a: &UpgradeStatusStatus, b: &UpgradeStatusStatus) -> bool {
    let strip = |s: &UpgradeStatusStatus| {
        let mut s = s.clone();
        s.observed_at = None;
        let informers: Vec<_> = s
            .informers
            .iter()
            .cloned()
            .map(|mut i| {
                i.last_report_time = None;
                i
            })
            .collect();
        s.informers =
            update_status_api::constraints::BoundedVec::new(informers).unwrap_or_default();
        s
    };
    strip(a) != strip(b)
}

/// Counters the publisher keeps, for metrics and tests.
#[derive(Debug, Default)]
pub struct PublishStats {
    /// Successful writes.
    pub writes: std::sync::atomic::AtomicU64,
    /// Failed writes (those refused as too large included).
    pub failures: std::sync::atomic::AtomicU64,
    /// Writes refused as too large.
    pub too_large: std::sync::atomic::AtomicU64,
    /// Node objects written (created, updated or deleted).
    pub node_writes: std::sync::atomic::AtomicU64,
}

/// How far a refusal lowers the budget: to this fraction (4/5) of the refused object's size (or
/// of the budget, when that is smaller). The object is usually just over the limit, so one step
/// is usually enough; from far over it, each step costs one refused write, and ten steps reach
/// a tenth.
const SHRINK_NUMERATOR: usize = 4;
const SHRINK_DENOMINATOR: usize = 5;

/// The budget is never lowered below this (64 KiB): an object this small refused as too large
/// is not refused because of its insights, and leaving them all out would not help.
pub const MIN_BUDGET_BYTES: usize = 64 * 1024;

/// The size budget the status is built within (bytes as etcd stores the object, see
/// [`crate::store::stored_bytes`]): the configured one, or a lower one after the API server
/// refused a write as too large. The configured budget is an estimate of what the cluster
/// accepts; the refusal is the cluster's answer, so it wins. Shared by the publisher, which
/// lowers it, and whatever computes the status, which builds within it, says so in the
/// `Degraded` condition, and restores it once everything fits anyway.
pub struct Budget {
    configured: usize,
    lowered: Mutex<Option<Lowered>>,
    metrics: Metrics,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("configured", &self.configured)
            .field("lowered", &self.lowered)
            .finish_non_exhaustive()
    }
}

/// A budget lowered after writes were refused as too large, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lowered {
    /// The budget in force.
    pub effective: usize,
    /// The size (as stored) of the last write refused as too large.
    pub refused_bytes: usize,
    /// What the API server said about it.
    pub reason: String,
    /// Writes refused as too large (each lowering the budget) since the budget was last the
    /// configured one.
    pub refusals: u64,
    /// When the first of them was noticed, on the clock of whoever builds the status (set by
    /// the first [`Budget::lowered`] after it).
    pub since: Option<Timestamp>,
}

impl Budget {
    /// A budget of `configured` bytes, reported in `metrics` (the effective budget gauge and
    /// the counter of writes refused as too large).
    pub fn new(configured: usize, metrics: &Metrics) -> Self {
        metrics.set_budget(configured);
        Self {
            configured,
            lowered: Mutex::new(None),
            metrics: metrics.clone(),
        }
    }

    /// The budget the operator configured (`--budget-bytes`).
    pub fn configured(&self) -> usize {
        self.configured
    }

    /// The budget in force: the configured one unless a refusal lowered it.
    pub fn effective(&self) -> usize {
        match self.lowered.lock() {
            Ok(l) => l.as_ref().map_or(self.configured, |l| l.effective),
            Err(_) => self.configured,
        }
    }

    /// Whether the budget is lowered, and why; the first call after a refusal fixes `since` at
    /// `now`.
    pub fn lowered(&self, now: Timestamp) -> Option<Lowered> {
        let mut lowered = self.lowered.lock().ok()?;
        let l = lowered.as_mut()?;
        l.since.get_or_insert(now);
        Some(l.clone())
    }

    /// Records that a write of `refused_bytes` (as stored) was refused as too large with
    /// `reason`, and lowers the budget to 4/5 of that size (or of the budget in force, when
    /// smaller), not below [`MIN_BUDGET_BYTES`]. Returns whether it lowered the budget below
    /// both the budget in force and the refused size — whether a smaller object can be built
    /// now. When not (already at the floor, or a refused object smaller than the floor), the
    /// budget stays as it is and the write is retried later like any failed write: writing again
    /// at once could only repeat the refusal.
    pub fn refused(&self, refused_bytes: usize, reason: &str) -> bool {
        self.metrics.count_too_large();
        let Ok(mut lowered) = self.lowered.lock() else {
            return false;
        };
        let current = lowered.as_ref().map_or(self.configured, |l| l.effective);
        let next = (current.min(refused_bytes) / SHRINK_DENOMINATOR * SHRINK_NUMERATOR)
            .max(MIN_BUDGET_BYTES);
        if next >= current || next >= refused_bytes {
            return false;
        }
        let reason: String = reason
            .chars()
            .map(|c| {
                if update_status_api::constraints::is_forbidden_in_text(c) {
                    ' '
                } else {
                    c
                }
            })
            .take(256)
            .collect();
        let l = lowered.get_or_insert(Lowered {
            effective: next,
            refused_bytes,
            reason: String::new(),
            refusals: 0,
            since: None,
        });
        l.effective = next;
        l.refused_bytes = refused_bytes;
        l.reason = reason;
        l.refusals += 1;
        self.metrics.set_budget(next);
        true
    }

    /// Back to the configured budget: called when the object built within the lowered budget
    /// left nothing out, so the configured budget would build the same object, which fits.
    /// Returns whether the budget was lowered.
    pub fn restore(&self) -> bool {
        let Ok(mut lowered) = self.lowered.lock() else {
            return false;
        };
        let was = lowered.take().is_some();
        if was {
            self.metrics.set_budget(self.configured);
        }
        was
    }
}

/// Runs until `shutdown`: whenever `changed` is notified (or every `interval`, so time-driven
/// states like Stale are noticed), computes the publication with `compute` and writes what
/// differs from what was last written — the singleton when it changed, then the node objects
/// that changed, appeared or went — at most one round per `interval`. `compute` builds within
/// `budget`, which a write refused as too large lowers before the next, smaller write.
/// `nodes` are the node objects already on the API server (a restart writes only what
/// changed meanwhile, and deletes the objects of nodes that went).
#[allow(clippy::too_many_arguments)] // each is a separate concern the caller owns
pub async fn run(
    sink: Arc<dyn Sink>,
    compute: impl Fn() -> Publication + Send + 'static,
    mut nodes: NodeObjects,
    changed: Arc<Notify>,
    interval: Duration,
    budget: Arc<Budget>,
    stats: Arc<PublishStats>,
    shutdown: CancellationToken,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut last: Option<UpgradeStatusStatus> = None;
    let mut backoff = interval;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = changed.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
        let Publication {
            status,
            nodes: wanted,
        } = compute();
        let mut wrote = false;
        let mut failed = None;
        if last.as_ref().is_none_or(|l| differs(l, &status)) {
            tracing::debug!("writing the UpgradeStatus");
            match sink.write(&status).await {
                Ok(()) => {
                    stats.writes.fetch_add(1, Relaxed);
                    last = Some(status);
                    wrote = true;
                }
                Err(PublishError::TooLarge(reason))
                    if shrink(&budget, &status, &reason, &stats) =>
                {
                    // Refused for its size: the same write would be refused forever. Build a
                    // smaller one now; no backoff, each attempt is smaller than the last.
                    changed.notify_one();
                    continue;
                }
                Err(e) => failed = Some(e.to_string()),
            }
        } else {
            tracing::trace!("the UpgradeStatus has not changed since the last write");
        }
        // Node objects are owned by the singleton: written once it exists.
        if failed.is_none() && last.is_some() {
            let todo = nodes::changes(&nodes, &wanted);
            if !todo.is_empty() {
                tracing::debug!(changes = todo.len(), "writing NodeProgressInsights");
                let failures = sink.write_nodes(&todo).await;
                stats.node_writes.fetch_add(
                    u64::try_from(todo.len() - failures.len()).unwrap_or(0),
                    Relaxed,
                );
                wrote |= failures.len() < todo.len();
                let failed_names: std::collections::HashSet<&str> =
                    failures.iter().map(|(name, _)| name.as_str()).collect();
                let succeeded: Vec<NodeChange> = todo
                    .iter()
                    .filter(|c| !failed_names.contains(c.name()))
                    .cloned()
                    .collect();
                for change in succeeded {
                    change.record(&mut nodes);
                }
                if let Some((name, e)) = failures.first() {
                    failed = Some(format!(
                        "{} of {} NodeProgressInsight writes failed, the first ({name}): {e}",
                        failures.len(),
                        todo.len()
                    ));
                }
            }
        }
        if let Some(error) = failed {
            stats.failures.fetch_add(1, Relaxed);
            tracing::warn!(%error, retry_in = ?backoff, "publishing failed; will retry");
            // Retry even without a new change: what is in memory must reach the cluster.
            changed.notify_one();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
            continue;
        }
        backoff = interval;
        if !wrote {
            continue;
        }
        // Coalesce: nothing else is written until the interval has passed.
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Lowers `budget` after `status` was refused as too large; whether a smaller object can be
/// built (when not, the write is retried with backoff like any other failure).
fn shrink(
    budget: &Budget,
    status: &UpgradeStatusStatus,
    reason: &str,
    stats: &PublishStats,
) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    stats.too_large.fetch_add(1, Relaxed);
    let refused_bytes = crate::store::stored_bytes(status);
    let smaller = budget.refused(refused_bytes, reason);
    if smaller {
        stats.failures.fetch_add(1, Relaxed);
        tracing::warn!(
            refused_bytes,
            budget_bytes = budget.effective(),
            configured_bytes = budget.configured(),
            error = %reason,
            "the API server refused the UpgradeStatus as too large; publishing a smaller one"
        );
    }
    smaller
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;
    use update_status_api::time::Timestamp;
    use update_status_api::v1alpha1::NodeCount;

    #[derive(Default)]
    struct CountingSink {
        written: Mutex<Vec<UpgradeStatusStatus>>,
        fail_first: std::sync::atomic::AtomicU32,
        node_writes: Mutex<Vec<NodeChange>>,
        fail_nodes: std::sync::atomic::AtomicU32,
    }

    impl Sink for CountingSink {
        fn write<'a>(
            &'a self,
            status: &'a UpgradeStatusStatus,
        ) -> Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>> {
            Box::pin(async move {
                if self.fail_first.load(Relaxed) > 0 {
                    self.fail_first.fetch_sub(1, Relaxed);
                    return Err(PublishError::Refused("injected".into()));
                }
                self.written.lock().unwrap().push(status.clone());
                Ok(())
            })
        }

        fn write_nodes<'a>(
            &'a self,
            changes: &'a [NodeChange],
        ) -> SinkFuture<'a, Vec<(String, PublishError)>> {
            Box::pin(async move {
                let mut failures = Vec::new();
                for change in changes {
                    if self.fail_nodes.load(Relaxed) > 0 {
                        self.fail_nodes.fetch_sub(1, Relaxed);
                        failures.push((
                            change.name().to_owned(),
                            PublishError::Refused("injected".into()),
                        ));
                    } else {
                        self.node_writes.lock().unwrap().push(change.clone());
                    }
                }
                failures
            })
        }
    }

    fn status(health: i32, observed_secs: i128) -> UpgradeStatusStatus {
        UpgradeStatusStatus {
            health_insights: NodeCount::new(health).unwrap(),
            observed_at: Some(Timestamp::from_nanos(observed_secs * 1_000_000_000).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn bookkeeping_alone_is_not_a_change() {
        assert!(!differs(&status(1, 10), &status(1, 20)));
        assert!(differs(&status(1, 10), &status(2, 10)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_storm_of_changes_is_coalesced_and_failures_are_retried() {
        let sink = Arc::new(CountingSink {
            fail_first: 2.into(),
            ..Default::default()
        });
        let value = Arc::new(std::sync::atomic::AtomicI32::new(0));
        let changed = Arc::new(Notify::new());
        let stats = Arc::new(PublishStats::default());
        let shutdown = CancellationToken::new();
        let v = value.clone();
        let task = tokio::spawn(run(
            sink.clone(),
            move || Publication {
                status: status(v.load(Relaxed), 0),
                nodes: NodeObjects::new(),
            },
            NodeObjects::new(),
            changed.clone(),
            Duration::from_secs(1),
            Arc::new(Budget::new(1 << 20, &Metrics::new())),
            stats.clone(),
            shutdown.clone(),
        ));
        // 1,000 changes spread over 10 s.
        for i in 1..=1000 {
            value.store(i % 500, Relaxed);
            changed.notify_one();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        let writes = sink.written.lock().unwrap().len();
        assert!((5..=12).contains(&writes), "{writes} writes");
        assert_eq!(stats.failures.load(Relaxed), 2);
        assert_eq!(
            sink.written
                .lock()
                .unwrap()
                .last()
                .unwrap()
                .health_insights
                .get(),
            0,
            "the latest state is published"
        );
        // Nothing changes now: no further writes.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(sink.written.lock().unwrap().len(), writes);
        shutdown.cancel();
        task.await.unwrap();
    }

    use super::nodes::tests::node as node_status;

    #[tokio::test(start_paused = true)]
    async fn only_nodes_that_changed_are_written_failed_ones_again_and_idle_means_no_writes() {
        let sink = Arc::new(CountingSink {
            fail_nodes: 1.into(),
            ..Default::default()
        });
        let objects = |range: std::ops::Range<usize>, version: &str| -> NodeObjects {
            range
                .map(|i| {
                    let name = format!("worker-{i:03}");
                    let status = node_status(&name, version);
                    (name, status)
                })
                .collect()
        };
        let wanted = Arc::new(Mutex::new(objects(0..100, "4.16.3")));
        // On the server already: the first half as wanted, and a node that has gone since.
        let mut existing = objects(0..50, "4.16.3");
        existing.insert("gone".into(), node_status("gone", "4.16.3"));
        let changed = Arc::new(Notify::new());
        let stats = Arc::new(PublishStats::default());
        let shutdown = CancellationToken::new();
        let w = wanted.clone();
        let task = tokio::spawn(run(
            sink.clone(),
            move || Publication {
                status: status(1, 0),
                nodes: w.lock().unwrap().clone(),
            },
            existing,
            changed.clone(),
            Duration::from_secs(1),
            Arc::new(Budget::new(1 << 20, &Metrics::new())),
            stats.clone(),
            shutdown.clone(),
        ));
        changed.notify_one();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let writes = sink.node_writes.lock().unwrap().clone();
        // 50 new nodes and one delete; the one write that failed was made again.
        assert_eq!(writes.len(), 51, "{writes:?}");
        assert!(writes.contains(&NodeChange::Delete("gone".into())));
        assert!(
            !writes.iter().any(|c| c.name() == "worker-000"),
            "unchanged nodes are not written"
        );
        assert_eq!(stats.failures.load(Relaxed), 1);
        assert_eq!(stats.node_writes.load(Relaxed), 51);

        // One node changes: one write of that node, and the singleton is left alone.
        let singleton_writes = sink.written.lock().unwrap().len();
        wanted
            .lock()
            .unwrap()
            .insert("worker-007".into(), node_status("worker-007", "4.17.0"));
        changed.notify_one();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let writes = sink.node_writes.lock().unwrap().clone();
        assert_eq!(writes.len(), 52);
        assert_eq!(
            writes.last().unwrap(),
            &NodeChange::Apply(Box::new(node_status("worker-007", "4.17.0")))
        );
        assert_eq!(sink.written.lock().unwrap().len(), singleton_writes);

        // Idle for ten minutes, woken every interval: no write at all.
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(sink.node_writes.lock().unwrap().len(), 52);
        assert_eq!(sink.written.lock().unwrap().len(), singleton_writes);
        shutdown.cancel();
        task.await.unwrap();
    }

    /// Refuses, as etcd does, any object over `limit` bytes as stored.
    struct LimitedSink {
        limit: usize,
        written: Mutex<Vec<UpgradeStatusStatus>>,
    }

    impl Sink for LimitedSink {
        fn write<'a>(
            &'a self,
            status: &'a UpgradeStatusStatus,
        ) -> Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>> {
            Box::pin(async move {
                if crate::store::stored_bytes(status) > self.limit {
                    return Err(PublishError::TooLarge(
                        "etcdserver: request is too large".into(),
                    ));
                }
                self.written.lock().unwrap().push(status.clone());
                Ok(())
            })
        }

        fn write_nodes<'a>(
            &'a self,
            _: &'a [NodeChange],
        ) -> SinkFuture<'a, Vec<(String, PublishError)>> {
            Box::pin(async { Vec::new() })
        }
    }

    /// A store holding `n` health insights of one informer, about 1 KB each.
    fn store_of_health(n: usize) -> crate::store::Store {
        let mut store = crate::store::Store::new();
        let insights = (0..n)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "uid": format!("health-{i:05}"),
                    "insight": {"type": "Health", "health": {
                        "scope": {"type": "WorkerPool", "pool": "worker"},
                        "impact": {"level": "Warning", "type": "None",
                            "summary": format!("insight {i}"),
                            "description": "x".repeat(600)},
                        "remediation": {}}}
                }))
                .unwrap()
            })
            .collect();
        let now = Timestamp::from_nanos(0).unwrap();
        store.replace(
            &update_status_api::v1alpha1::InformerName::new("machine-config").unwrap(),
            true,
            insights,
            now,
        );
        store
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_refused_as_too_large_is_shrunk_and_published_at_once() {
        let limit = 200_000;
        let sink = Arc::new(LimitedSink {
            limit,
            written: Mutex::new(Vec::new()),
        });
        let store = Arc::new(Mutex::new(store_of_health(1000)));
        let metrics = Metrics::new();
        // Far more than the sink accepts, as a budget set too high for the cluster's etcd is.
        let budget = Arc::new(Budget::new(10 << 20, &metrics));
        let stats = Arc::new(PublishStats::default());
        let changed = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(
            sink.clone(),
            {
                let budget = budget.clone();
                let store = store.clone();
                move || {
                    let now = Timestamp::from_nanos(0).unwrap();
                    store.lock().unwrap().publication(now, budget.effective())
                }
            },
            NodeObjects::new(),
            changed.clone(),
            Duration::from_secs(1),
            budget.clone(),
            stats.clone(),
            shutdown.clone(),
        ));
        let started = tokio::time::Instant::now();
        changed.notify_one();
        while sink.written.lock().unwrap().is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "never published"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Each refused write is followed at once by a smaller one: no backoff.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "published after {:?}",
            started.elapsed()
        );
        let published = sink.written.lock().unwrap()[0].clone();
        let stored = crate::store::stored_bytes(&published);
        assert!(stored <= limit, "{stored} bytes published over {limit}");
        assert!(
            stored > limit / 2,
            "{stored} bytes: shrunk far more than needed"
        );
        let omitted: i32 = published
            .informers
            .iter()
            .flat_map(|i| i.omitted.iter())
            .map(|o| o.count.get())
            .sum();
        assert!(omitted > 0, "what was left out is counted");
        let refusals = stats.too_large.load(Relaxed);
        assert!((1..=20).contains(&refusals), "{refusals} refusals");
        assert_eq!(metrics.publications_too_large.get(), refusals);
        let effective = budget.effective();
        assert!(effective <= limit && effective >= limit / 2, "{effective}");
        assert_eq!(
            metrics.budget_bytes.get(),
            i64::try_from(effective).unwrap()
        );
        let lowered = budget.lowered(Timestamp::from_nanos(0).unwrap()).unwrap();
        assert_eq!(lowered.reason, "etcdserver: request is too large");
        assert!(lowered.refused_bytes > limit);
        shutdown.cancel();
        task.await.unwrap();
    }

    #[test]
    fn the_budget_shrinks_by_a_fifth_of_what_was_refused_and_stops_at_its_floor() {
        let metrics = Metrics::new();
        let budget = Budget::new(1_310_720, &metrics);
        assert_eq!(budget.effective(), 1_310_720);
        assert!(budget.lowered(Timestamp::from_nanos(0).unwrap()).is_none());
        // Refused just over etcd's limit: 4/5 of the refused size.
        assert!(budget.refused(1_000_000, "etcdserver: request is too large"));
        assert_eq!(budget.effective(), 800_000);
        // A refused object larger than the budget (it could not be shrunk): 4/5 of the budget.
        assert!(budget.refused(2_000_000, "too large"));
        assert_eq!(budget.effective(), 640_000);
        let t1 = Timestamp::from_nanos(1_000_000_000).unwrap();
        let lowered = budget.lowered(t1).unwrap();
        assert_eq!(lowered.refusals, 2);
        assert_eq!(lowered.refused_bytes, 2_000_000);
        assert_eq!(lowered.since, Some(t1), "since is fixed by the first look");
        let t2 = Timestamp::from_nanos(2_000_000_000).unwrap();
        assert_eq!(budget.lowered(t2).unwrap().since, Some(t1));
        // Never below the floor; at the floor, a refusal cannot help: retried with backoff.
        while budget.refused(budget.effective(), "too large") {}
        assert_eq!(budget.effective(), MIN_BUDGET_BYTES);
        assert!(!budget.refused(MIN_BUDGET_BYTES, "too large"));
        // A small object refused as too large is not about its insights: the budget stays.
        let fresh = Budget::new(1_310_720, &metrics);
        assert!(!fresh.refused(10_000, "too large"));
        assert_eq!(fresh.effective(), 1_310_720);
        assert!(fresh.lowered(t1).is_none());
        // Restored: the configured budget again, nothing to report.
        assert!(budget.restore());
        assert!(!budget.restore());
        assert_eq!(budget.effective(), 1_310_720);
        assert_eq!(metrics.budget_bytes.get(), 1_310_720);
        assert!(budget.lowered(t2).is_none());
    }
}
