//! The status each UpdateInformer shows its administrator: whether its producer is reporting
//! (`Reporting`: True; or False with reason `Stale`, `NeverReported` or `Disabled`), whether its
//! last report had insights refused (`Degraded`), when it last reported, and how many insights
//! were held and refused.

use update_status_api::constraints::BoundedVec;
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    Condition, ConditionStatus, InformerState, NodeCount, UpdateInformerStatus,
};

use crate::store::ReportSummary;

/// The status for `summary` (`None`: the store has never heard of the informer), keeping each
/// condition's `lastTransitionTime` from `previous` while its status and reason stay the same.
pub fn informer_status(
    summary: Option<ReportSummary>,
    previous: Option<&UpdateInformerStatus>,
    now: Timestamp,
) -> UpdateInformerStatus {
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
                "{rejected} insight(s) of the last report were refused; the report's answer lists why"
            ),
        )
    } else {
        (
            ConditionStatus::False,
            "AsExpected",
            "No insight of the last report was refused".to_owned(),
        )
    };
    let keep_time = |type_: &str, status: ConditionStatus, reason: &str| {
        previous
            .and_then(|p| p.conditions.iter().find(|c| c.type_.as_str() == type_))
            .filter(|c| c.status == status && c.reason.as_str() == reason)
            .map_or(now, |c| c.last_transition_time)
    };
    let conditions = [
        Condition::new(
            "Reporting",
            reporting,
            keep_time("Reporting", reporting, reason),
            reason,
            message,
        ),
        Condition::new(
            "Degraded",
            degraded,
            keep_time("Degraded", degraded, degraded_reason),
            degraded_reason,
            &degraded_message,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let count = |n: usize| NodeCount::new(i32::try_from(n).unwrap_or(i32::MAX)).unwrap_or_default();
    UpdateInformerStatus {
        conditions: BoundedVec::new(conditions).unwrap_or_default(),
        last_report_time: summary.and_then(|s| s.last_report),
        accepted_insights: count(summary.map_or(0, |s| s.held)),
        rejected_insights: count(rejected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn condition<'a>(s: &'a UpdateInformerStatus, type_: &str) -> &'a Condition {
        s.conditions
            .iter()
            .find(|c| c.type_.as_str() == type_)
            .unwrap()
    }

    #[test]
    fn states_become_conditions_and_transition_times_are_kept() {
        let summary = ReportSummary {
            state: InformerState::Reporting,
            last_report: Some(t("2026-01-01T00:00:00Z")),
            held: 3,
            rejected: 0,
        };
        let first = informer_status(Some(summary), None, t("2026-01-01T00:00:01Z"));
        assert_eq!(condition(&first, "Reporting").status, ConditionStatus::True);
        assert_eq!(condition(&first, "Degraded").status, ConditionStatus::False);
        assert_eq!(first.accepted_insights.get(), 3);
        // The same state later keeps its transition time.
        let again = informer_status(Some(summary), Some(&first), t("2026-01-01T00:05:00Z"));
        assert_eq!(again, first);
        // Refusals make it Degraded, from now.
        let refused = ReportSummary {
            rejected: 2,
            ..summary
        };
        let now = t("2026-01-01T00:06:00Z");
        let degraded = informer_status(Some(refused), Some(&again), now);
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
        let s = informer_status(None, None, t("2026-01-01T00:00:00Z"));
        let r = condition(&s, "Reporting");
        assert_eq!(
            (r.status, r.reason.as_str()),
            (ConditionStatus::False, "NeverReported")
        );
        assert!(s.last_report_time.is_none());
    }
}
