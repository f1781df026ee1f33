//! Whether the data sources of the built-in informers answer, as the UpgradeStatus's own
//! `Degraded` condition shows it: a reader of the object must be able to tell that, say, alert
//! insights are missing because Thanos could not be read, rather than because nothing fires.

use std::collections::BTreeMap;
use std::sync::Mutex;

use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{Condition, ConditionStatus};

/// A source that stopped answering.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    since: Timestamp,
    message: String,
}

#[derive(Debug, Default)]
struct Inner {
    problems: BTreeMap<&'static str, Problem>,
    /// When the last problem cleared: `Degraded=False` transitioned then.
    cleared_at: Option<Timestamp>,
}

/// The state of every data source, shared by the pollers and the publisher.
#[derive(Debug, Default)]
pub struct SourceHealth {
    inner: Mutex<Inner>,
}

impl SourceHealth {
    /// All sources healthy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `source` failed with `message`; true when it was healthy until now. The
    /// first failure's message is kept while the failure lasts, so the published condition
    /// (and the object) does not change with every retry's wording.
    pub fn failed(&self, source: &'static str, now: Timestamp, message: String) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        if inner.problems.contains_key(source) {
            return false;
        }
        inner.problems.insert(
            source,
            Problem {
                since: now,
                message,
            },
        );
        true
    }

    /// Records that `source` answered; true when it had been failing.
    pub fn succeeded(&self, source: &'static str, now: Timestamp) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        let recovered = inner.problems.remove(source).is_some();
        if recovered && inner.problems.is_empty() {
            inner.cleared_at = Some(now);
        }
        recovered
    }

    /// The `Degraded` condition: True naming each failing source (since the earliest failure),
    /// otherwise False since the last recovery, or since `started`.
    pub fn degraded_condition(&self, started: Timestamp) -> Option<Condition> {
        let inner = self.inner.lock().ok()?;
        let Some(since) = inner.problems.values().map(|p| p.since).min() else {
            return Condition::new(
                "Degraded",
                ConditionStatus::False,
                inner.cleared_at.unwrap_or(started),
                "AsExpected",
                "Every data source of the built-in informers answers",
            )
            .ok();
        };
        let reason = match inner.problems.keys().next() {
            Some(&"alerts") if inner.problems.len() == 1 => "AlertsUnavailable",
            Some(&super::kube::INFORMER_STATUS_SOURCE) if inner.problems.len() == 1 => {
                "InformerStatusNotWritable"
            }
            _ => "SourcesUnavailable",
        };
        let message = inner
            .problems
            .iter()
            .map(|(source, p)| format!("{source}: {}", p.message))
            .collect::<Vec<_>>()
            .join("; ");
        // Bounded, as the condition's message is: the cut keeps the start, which names the source.
        let message: String = message.chars().take(1024).collect();
        Condition::new("Degraded", ConditionStatus::True, since, reason, &message).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn degraded_follows_failures_with_stable_times_and_messages() {
        let health = SourceHealth::new();
        let started = at("2026-01-01T00:00:00Z");
        let c = health.degraded_condition(started).unwrap();
        assert_eq!(c.status, ConditionStatus::False);
        assert_eq!(c.last_transition_time, started);

        let t1 = at("2026-01-01T00:01:00Z");
        assert!(health.failed("alerts", t1, "connection refused".into()));
        assert!(!health.failed("alerts", at("2026-01-01T00:02:00Z"), "timed out".into()));
        let c = health.degraded_condition(started).unwrap();
        assert_eq!(c.status, ConditionStatus::True);
        assert_eq!(c.reason.as_str(), "AlertsUnavailable");
        assert_eq!(c.message.as_str(), "alerts: connection refused");
        assert_eq!(c.last_transition_time, t1);

        let t3 = at("2026-01-01T00:03:00Z");
        assert!(health.succeeded("alerts", t3));
        assert!(!health.succeeded("alerts", t3));
        let c = health.degraded_condition(started).unwrap();
        assert_eq!(c.status, ConditionStatus::False);
        assert_eq!(c.last_transition_time, t3);
    }
}
