//! Kubernetes Events (events.k8s.io/v1) about what an administrator looks at with
//! `oc describe`: an UpdateInformer's producer reporting for the first time, going stale,
//! reporting again, disabled, or having reports refused; and the UpgradeStatus becoming (or
//! ceasing to be) `Degraded`.
//!
//! Why Events at all, when the same facts are in the objects' status: a status says what is
//! true now, an Event says when it changed, and `oc describe` and `oc get events` are where an
//! administrator looks first.
//!
//! Writing them must never hold up what they describe, nor become a write storm of its own:
//! callers hand a notice to a bounded queue and move on ([`Events`] never waits); one task
//! writes them through kube's [`Recorder`], which folds repeats of one Event within six minutes
//! into its `series` count (a patch, not a new object); and two token buckets cap the writes,
//! one per object and reason (so a producer refused on every report costs one write per
//! [`PER_REASON_INTERVAL`]) and one for all of them. Whatever is not written is counted in the
//! `events` metric as `dropped` or `failure`, never lost silently.
//!
//! The objects are cluster-scoped, and the API server accepts Events about a cluster-scoped
//! object only in the `default` (or `kube-system`) namespace: that is where they go, and where
//! the controller's RBAC lets it create and patch Events, and nothing else.

pub mod transitions;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource as _;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use update_status_api::v1alpha1::{
    Condition, ConditionStatus, UPGRADE_STATUS_NAME, UpdateInformer, UpgradeStatus,
};

pub use transitions::{Happening, Severity};

use crate::http::metrics::Metrics;
use crate::http::ratelimit::RateLimiter;

/// Notices waiting to be written; beyond this, new ones are dropped (and counted).
const QUEUE: usize = 256;

/// The least time between two Events about one object for one reason, on average.
pub const PER_REASON_INTERVAL: Duration = Duration::from_secs(30);

/// Events about one object for one reason that may be written at once.
const PER_REASON_BURST: u32 = 2;

/// Events a second, on average, across everything.
const RATE: f64 = 0.5;

/// Events that may be written at once across everything.
const BURST: u32 = 20;

/// The name Events give as their reporting controller.
pub const CONTROLLER: &str = "update-status-controller";

/// What an Event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Regarding {
    /// An UpdateInformer; with its uid, so that `oc describe` finds the Event.
    Informer {
        /// Its name.
        name: String,
        /// Its `metadata.uid`.
        uid: Option<String>,
    },
    /// The UpgradeStatus singleton; its uid is read when the Event is written.
    UpgradeStatus,
}

impl Regarding {
    /// The UpdateInformer `informer`.
    pub fn informer(informer: &UpdateInformer) -> Self {
        Regarding::Informer {
            name: informer.metadata.name.clone().unwrap_or_default(),
            uid: informer.metadata.uid.clone(),
        }
    }

    /// The key of the per-object, per-reason rate limit.
    fn key(&self, reason: &str) -> String {
        match self {
            Regarding::Informer { name, .. } => format!("UpdateInformer/{name}/{reason}"),
            Regarding::UpgradeStatus => format!("UpgradeStatus/{reason}"),
        }
    }
}

/// One Event waiting to be written.
#[derive(Debug)]
struct Notice {
    regarding: Regarding,
    happening: Happening,
}

/// Where Events are handed over: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Events {
    queue: mpsc::Sender<Notice>,
    metrics: Metrics,
}

impl Events {
    /// Starts the task that writes Events through `client` as `reporter` (the Deployment's
    /// name and this pod's), until `shutdown`.
    pub fn start(
        client: kube::Client,
        reporter: Reporter,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, notices) = mpsc::channel(QUEUE);
        let writer = Writer {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics: metrics.clone(),
            throttle: Throttle::default(),
        };
        let task = tokio::spawn(writer.run(notices, shutdown));
        (Self { queue, metrics }, task)
    }

    /// Hands `happenings` about `regarding` to the writer.
    pub fn emit(&self, regarding: &Regarding, happenings: impl IntoIterator<Item = Happening>) {
        for happening in happenings {
            tracing::debug!(?regarding, reason = happening.reason, "event");
            let notice = Notice {
                regarding: regarding.clone(),
                happening,
            };
            if self.queue.try_send(notice).is_err() {
                self.metrics.count_event("dropped");
            }
        }
    }
}

/// Follows the UpgradeStatus's `Degraded` condition from one published status to the next.
pub struct DegradedEvents {
    events: Events,
    last: Mutex<Option<(ConditionStatus, String, String)>>,
}

impl DegradedEvents {
    /// Starts from `published`, the conditions of the object as the API server holds it (a
    /// restart or a new leader then repeats no Event).
    pub fn new(events: Events, published: &[Condition]) -> Self {
        Self {
            events,
            last: Mutex::new(transitions::degraded(published)),
        }
    }

    /// Called with each status written: an Event when `Degraded` changed.
    pub fn published(&self, conditions: &[Condition]) {
        let next = transitions::degraded(conditions);
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if let Some(happening) = transitions::degraded_happening(last.as_ref(), next.as_ref()) {
            self.events.emit(&Regarding::UpgradeStatus, [happening]);
        }
        *last = next;
    }
}

/// The two rate limits every Event passes: one per object and reason, one for all.
struct Throttle {
    per_reason: RateLimiter<String>,
    all: RateLimiter<()>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            per_reason: RateLimiter::new(1.0 / PER_REASON_INTERVAL.as_secs_f64(), PER_REASON_BURST),
            all: RateLimiter::new(RATE, BURST),
        }
    }
}

impl Throttle {
    /// Whether an Event keyed `key` may be written at `now`.
    fn admit(&self, key: &str, now: Instant) -> bool {
        self.per_reason.check(key, now).is_ok() && self.all.check(&(), now).is_ok()
    }
}

/// Owns the recorder and the rate limits.
struct Writer {
    recorder: Recorder,
    client: kube::Client,
    metrics: Metrics,
    throttle: Throttle,
}

impl Writer {
    async fn run(self, mut notices: mpsc::Receiver<Notice>, shutdown: CancellationToken) {
        loop {
            let notice = tokio::select! {
                () = shutdown.cancelled() => return,
                n = notices.recv() => match n {
                    Some(n) => n,
                    None => return,
                },
            };
            self.write(notice).await;
        }
    }

    async fn write(&self, notice: Notice) {
        let Notice {
            regarding,
            happening,
        } = notice;
        let now = Instant::now();
        let key = regarding.key(happening.reason);
        if !self.throttle.admit(&key, now) {
            tracing::debug!(event = %key, "event over the rate limit; not written");
            self.metrics.count_event("dropped");
            return;
        }
        let reference = self.reference(&regarding).await;
        let event = Event {
            type_: match happening.severity {
                Severity::Normal => EventType::Normal,
                Severity::Warning => EventType::Warning,
            },
            reason: happening.reason.to_owned(),
            note: Some(transitions::bounded_note(&happening.note)),
            action: happening.action.to_owned(),
            secondary: None,
        };
        match self.recorder.publish(&event, &reference).await {
            Ok(()) => self.metrics.count_event("success"),
            Err(e) => {
                tracing::warn!(event = %key, error = %e, "cannot write an Event");
                self.metrics.count_event("failure");
            }
        }
    }

    /// The reference an Event names: apiVersion, kind, name and uid (no resourceVersion, so
    /// that repeats are recognised as the same Event and folded into its series).
    async fn reference(&self, regarding: &Regarding) -> ObjectReference {
        match regarding {
            Regarding::Informer { name, uid } => ObjectReference {
                api_version: Some(UpdateInformer::api_version(&()).into_owned()),
                kind: Some(UpdateInformer::kind(&()).into_owned()),
                name: Some(name.clone()),
                uid: uid.clone(),
                ..ObjectReference::default()
            },
            Regarding::UpgradeStatus => {
                let api: kube::Api<UpgradeStatus> = kube::Api::all(self.client.clone());
                let uid = match api.get_metadata_opt(UPGRADE_STATUS_NAME).await {
                    Ok(found) => found.and_then(|o| o.metadata.uid),
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot read the UpgradeStatus uid for an Event");
                        None
                    }
                };
                ObjectReference {
                    api_version: Some(UpgradeStatus::api_version(&()).into_owned()),
                    kind: Some(UpgradeStatus::kind(&()).into_owned()),
                    name: Some(UPGRADE_STATUS_NAME.to_owned()),
                    uid,
                    ..ObjectReference::default()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_object_and_reason_gets_two_events_then_one_per_interval_and_all_share_a_budget() {
        let throttle = Throttle::default();
        let start = Instant::now();
        let stale = Regarding::Informer {
            name: "storage".into(),
            uid: None,
        }
        .key("Stale");
        let admitted = (0..100).filter(|_| throttle.admit(&stale, start)).count();
        assert_eq!(admitted, PER_REASON_BURST as usize);
        // Another reason about the same object has a budget of its own.
        let refused = Regarding::Informer {
            name: "storage".into(),
            uid: None,
        }
        .key("ReportRefused");
        assert!(throttle.admit(&refused, start));
        // One more for that object and reason after the interval.
        let later = start + PER_REASON_INTERVAL;
        assert!(throttle.admit(&stale, later));
        assert!(!throttle.admit(&stale, later));

        // Many objects at once: the shared burst, then nothing until it refills.
        let throttle = Throttle::default();
        let admitted = (0..100)
            .filter(|i| throttle.admit(&format!("UpdateInformer/i{i}/Stale"), start))
            .count();
        assert_eq!(admitted, BURST as usize);
        let after = start + Duration::from_secs(2);
        assert!(throttle.admit("UpdateInformer/late/Stale", after));
        assert!(!throttle.admit("UpdateInformer/later/Stale", after));
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let metrics = Metrics::new();
        let (queue, _unread) = mpsc::channel(2);
        let events = Events {
            queue,
            metrics: metrics.clone(),
        };
        let happening = || Happening {
            severity: Severity::Warning,
            reason: "Stale",
            action: "Observe",
            note: String::new(),
        };
        events.emit(&Regarding::UpgradeStatus, (0..5).map(|_| happening()));
        let text = metrics.encode().unwrap_or_default();
        assert!(
            text.contains(r#"update_status_controller_events_total{result="dropped"} 3"#),
            "{text}"
        );
    }
}
