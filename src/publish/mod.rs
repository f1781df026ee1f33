//! Publication: the store's status becomes the `UpgradeStatus/cluster` object. Changes are
//! coalesced (at most one write per interval), writes that would change nothing are skipped,
//! and failed writes are retried with backoff without losing what is in memory.

pub mod apply;
pub mod dir;
pub mod lease;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use update_status_api::v1alpha1::{
    UPGRADE_STATUS_NAME, UpgradeStatus, UpgradeStatusSpec, UpgradeStatusStatus,
};

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
}

/// Where the object goes: the API server (server-side apply), or a directory in offline mode.
pub trait Sink: Send + Sync + 'static {
    /// Writes the whole status of the singleton.
    fn write<'a>(
        &'a self,
        status: &'a UpgradeStatusStatus,
    ) -> Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>>;
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
    /// Failed writes.
    pub failures: std::sync::atomic::AtomicU64,
}

/// Runs until `shutdown`: whenever `changed` is notified (or every `interval`, so time-driven
/// states like Stale are noticed), computes the status with `compute` and writes it when it
/// differs from what was last written, at most once per `interval`.
pub async fn run(
    sink: Arc<dyn Sink>,
    compute: impl Fn() -> UpgradeStatusStatus + Send + 'static,
    changed: Arc<Notify>,
    interval: Duration,
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
        let status = compute();
        if last.as_ref().is_some_and(|l| !differs(l, &status)) {
            tracing::trace!("nothing changed since the last write");
            continue;
        }
        tracing::debug!("writing the UpgradeStatus");
        match sink.write(&status).await {
            Ok(()) => {
                stats.writes.fetch_add(1, Relaxed);
                last = Some(status);
                backoff = interval;
            }
            Err(e) => {
                stats.failures.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, retry_in = ?backoff, "publishing the UpgradeStatus failed; will retry");
                // Retry even without a new change: what is in memory must reach the cluster.
                changed.notify_one();
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        }
        // Coalesce: nothing else is written until the interval has passed.
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;
    use update_status_api::time::Timestamp;
    use update_status_api::v1alpha1::NodeCount;

    struct CountingSink {
        written: Mutex<Vec<UpgradeStatusStatus>>,
        fail_first: std::sync::atomic::AtomicU32,
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
            written: Mutex::new(Vec::new()),
            fail_first: 2.into(),
        });
        let value = Arc::new(std::sync::atomic::AtomicI32::new(0));
        let changed = Arc::new(Notify::new());
        let stats = Arc::new(PublishStats::default());
        let shutdown = CancellationToken::new();
        let v = value.clone();
        let task = tokio::spawn(run(
            sink.clone(),
            move || status(v.load(Relaxed), 0),
            changed.clone(),
            Duration::from_secs(1),
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
}
