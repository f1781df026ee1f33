//! The status each UpdateInformer shows its administrator: whether its producer is reporting
//! (`Reporting`: True; or False with reason `Stale`, `NeverReported` or `Disabled`), whether its
//! last report had insights refused (`Degraded`), when it last reported, how many insights are
//! held and left out of the published object, and the latest refusals. Conditions follow
//! `metav1.Condition`: `lastTransitionTime` moves only when `status` does, to the second, and
//! each carries the generation it was computed from.

use update_status_api::constraints::BoundedVec;
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    ConditionMessage, ConditionReason, ConditionStatus, ConditionType, Generation,
    InformerCondition, InformerState, MAX_RECENT_REJECTIONS, NodeCount, RecentRejection,
    UpdateInformerStatus,
};

use crate::store::ReportSummary;

/// What the status of one UpdateInformer is computed from.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// What the store says of the informer (`None`: it has never heard of it).
    pub summary: Option<ReportSummary>,
    /// The UpdateInformer's `metadata.generation`.
    pub generation: Option<Generation>,
    /// Insights left out of the last status built for publication (`None`: none built yet).
    pub omitted: Option<usize>,
    /// Refusals this process saw, newest first.
    pub recent_rejections: Vec<RecentRejection>,
}

/// The status for `seen`, keeping each condition's `lastTransitionTime` from `previous` while
/// its status stays the same, and the refusals `previous` listed that are older than any this
/// process saw (so a restart does not forget them).
pub fn informer_status(
    seen: &Observation,
    previous: Option<&UpdateInformerStatus>,
    now: Timestamp,
) -> UpdateInformerStatus {
    let summary = seen.summary;
    let state = summary.map_or(InformerState::NeverReported, |s| s.state);
    let (reporting, reason, message) = match state {
        InformerState::Reporting => (
            ConditionStatus::True,
            "Reporting",
            "The producer reports within its interval",
        ),
        InformerState::Stale => (
            ConditionStatus::False,
            "Stale",
            "The producer missed three report intervals; its last insights are still shown",
        ),
        InformerState::NeverReported => (
            ConditionStatus::False,
            "NeverReported",
            "The producer has not reported yet",
        ),
        InformerState::Disabled => (
            ConditionStatus::False,
            "Disabled",
            "The informer is disabled; its insights are not shown",
        ),
    };
    let rejected = summary.map_or(0, |s| s.rejected);
    let (degraded, degraded_reason, degraded_message) = if rejected > 0 {
        (
            ConditionStatus::True,
            "InsightsRejected",
            format!(
                "{rejected} insight(s) of the last report were refused; see status.recentRejections"
            ),
        )
    } else {
        (
            ConditionStatus::False,
            "AsExpected",
            "No insight of the last report was refused".to_owned(),
        )
    };
    let now = now.truncated_to_seconds();
    let condition = |type_: &str, status: ConditionStatus, reason: &str, message: &str| {
        let last_transition_time = previous
            .and_then(|p| p.conditions.iter().find(|c| c.type_.as_str() == type_))
            .filter(|c| c.status == status)
            .map_or(now, |c| c.last_transition_time);
        Some(InformerCondition {
            type_: ConditionType::new(type_).ok()?,
            status,
            observed_generation: seen.generation,
            last_transition_time,
            reason: ConditionReason::new(reason).ok()?,
            message: ConditionMessage::new(message).ok()?,
        })
    };
    let conditions = [
        condition("Reporting", reporting, reason, message),
        condition("Degraded", degraded, degraded_reason, &degraded_message),
    ]
    .into_iter()
    .flatten()
    .collect();
    let count = |n: usize| NodeCount::new(i32::try_from(n).unwrap_or(i32::MAX)).unwrap_or_default();
    UpdateInformerStatus {
        observed_generation: seen.generation,
        conditions: BoundedVec::new(conditions).unwrap_or_default(),
        last_report_time: summary.and_then(|s| s.last_report),
        held_insights: count(summary.map_or(0, |s| s.held)),
        omitted_insights: seen.omitted.map(count),
        rejected_insights: count(rejected),
        recent_rejections: BoundedVec::new(recent(&seen.recent_rejections, previous))
            .unwrap_or_default(),
    }
}

/// This process's refusals, then those `previous` listed from before the oldest of them.
fn recent(
    seen: &[RecentRejection],
    previous: Option<&UpdateInformerStatus>,
) -> Vec<RecentRejection> {
    let oldest = seen.last().map(|r| r.time);
    seen.iter()
        .chain(
            previous
                .into_iter()
                .flat_map(|p| p.recent_rejections.iter())
                .filter(|r| oldest.is_none_or(|o| r.time < o)),
        )
        .take(MAX_RECENT_REJECTIONS)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::informers::observed::rejection_message;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn condition<'a>(s: &'a UpdateInformerStatus, type_: &str) -> &'a InformerCondition {
        s.conditions
            .iter()
            .find(|c| c.type_.as_str() == type_)
            .unwrap()
    }

    fn seen(summary: ReportSummary) -> Observation {
        Observation {
            summary: Some(summary),
            generation: Generation::new(4).ok(),
            omitted: Some(1),
            recent_rejections: Vec::new(),
        }
    }

    #[test]
    fn states_become_conditions_and_transition_times_move_only_with_status() {
        let summary = ReportSummary {
            state: InformerState::Reporting,
            last_report: Some(t("2026-01-01T00:00:00Z")),
            held: 3,
            rejected: 0,
        };
        let first = informer_status(&seen(summary), None, t("2026-01-01T00:00:01.75Z"));
        let r = condition(&first, "Reporting");
        assert_eq!(r.status, ConditionStatus::True);
        assert_eq!(r.observed_generation.map(Generation::get), Some(4));
        assert_eq!(
            r.last_transition_time,
            t("2026-01-01T00:00:01Z"),
            "to the second"
        );
        assert_eq!(condition(&first, "Degraded").status, ConditionStatus::False);
        assert_eq!(first.held_insights.get(), 3);
        assert_eq!(first.omitted_insights.map(NodeCount::get), Some(1));
        assert_eq!(first.observed_generation.map(Generation::get), Some(4));
        // The same state later keeps its transition time.
        let again = informer_status(&seen(summary), Some(&first), t("2026-01-01T00:05:00Z"));
        assert_eq!(again, first);
        // Stale and NeverReported are both False: a change of reason alone keeps the time.
        let stale = ReportSummary {
            state: InformerState::Stale,
            ..summary
        };
        let went_stale = informer_status(&seen(stale), Some(&again), t("2026-01-01T00:06:00Z"));
        let never = ReportSummary {
            state: InformerState::NeverReported,
            ..summary
        };
        let then_never =
            informer_status(&seen(never), Some(&went_stale), t("2026-01-01T00:07:00Z"));
        let c = condition(&then_never, "Reporting");
        assert_eq!(c.reason.as_str(), "NeverReported");
        assert_eq!(c.last_transition_time, t("2026-01-01T00:06:00Z"));
        // Refusals make it Degraded, from now.
        let refused = ReportSummary {
            rejected: 2,
            ..summary
        };
        let now = t("2026-01-01T00:08:00Z");
        let degraded = informer_status(&seen(refused), Some(&again), now);
        let d = condition(&degraded, "Degraded");
        assert_eq!(
            (d.status, d.reason.as_str()),
            (ConditionStatus::True, "InsightsRejected")
        );
        assert_eq!(d.last_transition_time, now);
        assert_eq!(
            condition(&degraded, "Reporting").last_transition_time,
            t("2026-01-01T00:00:01Z")
        );
        assert_eq!(degraded.rejected_insights.get(), 2);
    }

    #[test]
    fn an_informer_never_heard_of_has_never_reported() {
        let s = informer_status(&Observation::default(), None, t("2026-01-01T00:00:00Z"));
        let r = condition(&s, "Reporting");
        assert_eq!(
            (r.status, r.reason.as_str()),
            (ConditionStatus::False, "NeverReported")
        );
        assert!(s.last_report_time.is_none());
        assert!(s.omitted_insights.is_none(), "unknown is absent, not zero");
    }

    #[test]
    fn recent_rejections_survive_a_restart_and_stay_bounded() {
        let rejection = |time: &str, message: &str| RecentRejection {
            time: t(time),
            reason: ConditionReason::new("InsightRejected").unwrap(),
            message: rejection_message(message),
        };
        let before = UpdateInformerStatus {
            recent_rejections: BoundedVec::new(vec![
                rejection("2026-01-01T00:02:00Z", "b"),
                rejection("2026-01-01T00:01:00Z", "a"),
            ])
            .unwrap(),
            ..UpdateInformerStatus::default()
        };
        let now = t("2026-01-01T00:10:00Z");
        // A restarted process has seen nothing: the previous list stays.
        let kept = informer_status(&Observation::default(), Some(&before), now);
        assert_eq!(kept.recent_rejections, before.recent_rejections);
        // Newer ones come first; older ones fill up to five.
        let fresh: Vec<_> = (0..4)
            .map(|i| rejection("2026-01-01T00:09:00Z", &format!("new {i}")))
            .collect();
        let seen = Observation {
            recent_rejections: fresh,
            ..Observation::default()
        };
        let merged = informer_status(&seen, Some(&before), now);
        let messages: Vec<&str> = merged
            .recent_rejections
            .iter()
            .map(|r| r.message.as_str())
            .collect();
        assert_eq!(messages, ["new 0", "new 1", "new 2", "new 3", "b"]);
    }
}
