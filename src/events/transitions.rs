//! Which Events a change of state deserves. Pure functions of two successive states, so that
//! what an administrator sees in `oc describe` is decided (and tested) apart from how it is
//! written: an Event marks a transition, never a steady state, and a state read back from the
//! API server after a restart is the baseline, so a restart repeats nothing.

use update_status_api::v1alpha1::{
    Condition, ConditionStatus, RecentRejection, UpdateInformerStatus,
};

/// Whether an Event reports normal operation or something to look at (`type` on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Normal operation.
    Normal,
    /// Something an administrator may need to act on.
    Warning,
}

/// One Event to write: what `kubectl describe` shows as Type, Reason and Message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Happening {
    /// Normal or Warning.
    pub severity: Severity,
    /// One CamelCase word (`Stale`, `ReportRefused`, ...).
    pub reason: &'static str,
    /// What the controller did or observed, one CamelCase word (the Event's `action`).
    pub action: &'static str,
    /// For people; cut to [`MAX_NOTE_BYTES`] when written.
    pub note: String,
}

/// The API server refuses an Event whose `note` is longer than this.
pub const MAX_NOTE_BYTES: usize = 1024;

/// The reason of an UpdateInformer's `Reporting` condition, if it has one.
fn reporting_reason(status: Option<&UpdateInformerStatus>) -> Option<&str> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_.as_str() == "Reporting")
        .map(|c| c.reason.as_str())
}

/// The Events an UpdateInformer's status change from `previous` (as the API server holds it)
/// to `next` (as just written) deserves: its producer reporting for the first time, going
/// stale, reporting again, being disabled; and reports refused since `previous` was written.
pub fn informer_happenings(
    previous: Option<&UpdateInformerStatus>,
    next: &UpdateInformerStatus,
) -> Vec<Happening> {
    let mut out = Vec::new();
    let before = reporting_reason(previous);
    let after = reporting_reason(Some(next));
    if before != after {
        let last = next
            .last_report_time
            .map_or_else(|| "never".to_owned(), |t| t.to_string());
        let happening = match (before, after) {
            (_, Some("Stale")) => Some((
                Severity::Warning,
                "Stale",
                format!(
                    "The producer missed three report intervals (last report: {last}); its last insights are still shown"
                ),
            )),
            (_, Some("Disabled")) => Some((
                Severity::Normal,
                "Disabled",
                "The informer was disabled (spec.enabled: false); its insights are no longer shown"
                    .to_owned(),
            )),
            (None | Some("NeverReported"), Some("Reporting")) => Some((
                Severity::Normal,
                "FirstReport",
                format!("The producer reported for the first time, at {last}"),
            )),
            (Some(_), Some("Reporting")) => Some((
                Severity::Normal,
                "ReportingAgain",
                format!(
                    "The producer reports again (last report: {last}); it was {}",
                    before.unwrap_or("unknown")
                ),
            )),
            _ => None,
        };
        if let Some((severity, reason, note)) = happening {
            out.push(Happening {
                severity,
                reason,
                action: "Observe",
                note,
            });
        }
    }
    if let Some(refused) = refusals_since(previous, next) {
        out.push(refused);
    }
    out
}

/// One `ReportRefused` Event for the refusals `next` lists that are newer than any `previous`
/// listed, naming the newest.
fn refusals_since(
    previous: Option<&UpdateInformerStatus>,
    next: &UpdateInformerStatus,
) -> Option<Happening> {
    let known = previous.and_then(|p| p.recent_rejections.iter().map(|r| r.time).max());
    let fresh: Vec<&RecentRejection> = next
        .recent_rejections
        .iter()
        .filter(|r| known.is_none_or(|k| r.time > k))
        .collect();
    let newest = fresh.iter().max_by_key(|r| r.time)?;
    let more = if fresh.len() > 1 {
        format!(
            " ({} refusals since the last status; newest shown)",
            fresh.len()
        )
    } else {
        String::new()
    };
    Some(Happening {
        severity: Severity::Warning,
        reason: "ReportRefused",
        action: "Refuse",
        note: format!(
            "A report was refused{more}: {}: {}",
            newest.reason.as_str(),
            newest.message.as_str()
        ),
    })
}

/// The `Degraded` condition among `conditions`, as (status, reason, message).
pub fn degraded(conditions: &[Condition]) -> Option<(ConditionStatus, String, String)> {
    conditions
        .iter()
        .find(|c| c.type_.as_str() == "Degraded")
        .map(|c| {
            (
                c.status,
                c.reason.as_str().to_owned(),
                c.message.as_str().to_owned(),
            )
        })
}

/// The Event the UpgradeStatus's `Degraded` condition moving from `previous` to `next`
/// deserves: Warning `Degraded` when it becomes True or its reason changes while True, Normal
/// `Recovered` when it stops being True.
pub fn degraded_happening(
    previous: Option<&(ConditionStatus, String, String)>,
    next: Option<&(ConditionStatus, String, String)>,
) -> Option<Happening> {
    fn when_true(
        c: Option<&(ConditionStatus, String, String)>,
    ) -> Option<&(ConditionStatus, String, String)> {
        c.filter(|(status, _, _)| *status == ConditionStatus::True)
    }
    match (when_true(previous), when_true(next)) {
        (None, Some((_, reason, message))) => Some(Happening {
            severity: Severity::Warning,
            reason: "Degraded",
            action: "Publish",
            note: format!("{reason}: {message}"),
        }),
        (Some((_, before, _)), Some((_, reason, message))) if before != reason => Some(Happening {
            severity: Severity::Warning,
            reason: "Degraded",
            action: "Publish",
            note: format!("{reason} (was {before}): {message}"),
        }),
        (Some((_, before, _)), None) => Some(Happening {
            severity: Severity::Normal,
            reason: "Recovered",
            action: "Publish",
            note: format!("No longer Degraded (was {before})"),
        }),
        _ => None,
    }
}

/// `note` cut to at most [`MAX_NOTE_BYTES`] bytes, at a character boundary.
pub fn bounded_note(note: &str) -> String {
    if note.len() <= MAX_NOTE_BYTES {
        return note.to_owned();
    }
    let mut end = MAX_NOTE_BYTES - '…'.len_utf8();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(value: serde_json::Value) -> UpdateInformerStatus {
        serde_json::from_value(value).unwrap()
    }

    fn reporting(reason: &str, rejections: serde_json::Value) -> UpdateInformerStatus {
        let ok = if reason == "Reporting" {
            "True"
        } else {
            "False"
        };
        status(serde_json::json!({
            "lastReportTime": "2026-12-08T10:00:00Z",
            "conditions": [{"type": "Reporting", "status": ok, "lastTransitionTime": "2026-12-08T10:00:00Z",
                            "reason": reason, "message": "m"}],
            "recentRejections": rejections,
        }))
    }

    fn reasons(h: &[Happening]) -> Vec<&'static str> {
        h.iter().map(|h| h.reason).collect()
    }

    #[test]
    fn each_transition_of_the_reporting_condition_has_its_event_and_a_steady_state_none() {
        let none = serde_json::json!([]);
        let never = reporting("NeverReported", none.clone());
        let on = reporting("Reporting", none.clone());
        let stale = reporting("Stale", none.clone());
        let off = reporting("Disabled", none.clone());
        assert_eq!(
            reasons(&informer_happenings(Some(&never), &on)),
            ["FirstReport"]
        );
        assert_eq!(reasons(&informer_happenings(None, &on)), ["FirstReport"]);
        assert_eq!(reasons(&informer_happenings(Some(&on), &stale)), ["Stale"]);
        let again = informer_happenings(Some(&stale), &on);
        assert_eq!(reasons(&again), ["ReportingAgain"]);
        assert!(again[0].note.contains("it was Stale"), "{}", again[0].note);
        assert_eq!(reasons(&informer_happenings(Some(&on), &off)), ["Disabled"]);
        assert_eq!(informer_happenings(Some(&stale), &stale), []);
        assert_eq!(informer_happenings(Some(&on), &on), []);
        // Registered and silent: nothing to say until it reports.
        assert_eq!(informer_happenings(None, &never), []);
        let s = &informer_happenings(Some(&on), &stale)[0];
        assert_eq!(s.severity, Severity::Warning);
        assert!(s.note.contains("2026-12-08T10:00:00Z"), "{}", s.note);
    }

    #[test]
    fn only_refusals_newer_than_those_already_listed_make_one_event_naming_the_newest() {
        let old = serde_json::json!([
            {"time": "2026-12-08T10:00:00Z", "reason": "InsightRejected", "message": "old"}
        ]);
        let new = serde_json::json!([
            {"time": "2026-12-08T10:02:00Z", "reason": "TooManyInsights", "message": "newest"},
            {"time": "2026-12-08T10:01:00Z", "reason": "InsightRejected", "message": "newer"},
            {"time": "2026-12-08T10:00:00Z", "reason": "InsightRejected", "message": "old"}
        ]);
        let before = reporting("Reporting", old.clone());
        let after = reporting("Reporting", new);
        let h = informer_happenings(Some(&before), &after);
        assert_eq!(reasons(&h), ["ReportRefused"]);
        assert_eq!(h[0].severity, Severity::Warning);
        assert!(h[0].note.contains("2 refusals"), "{}", h[0].note);
        assert!(
            h[0].note.contains("TooManyInsights: newest"),
            "{}",
            h[0].note
        );
        // Written again with nothing new: no Event (a restart reads the same list back).
        assert_eq!(informer_happenings(Some(&after), &after), []);
        // A first status that already lists a refusal reports it.
        let first = reporting("Reporting", old);
        assert_eq!(
            reasons(&informer_happenings(None, &first)),
            ["FirstReport", "ReportRefused"]
        );
    }

    #[test]
    fn degraded_events_mark_becoming_true_a_new_reason_and_recovery() {
        let c = |s: ConditionStatus, r: &str| (s, r.to_owned(), format!("because {r}"));
        let ok = c(ConditionStatus::False, "AsExpected");
        let big = c(ConditionStatus::True, "StatusTooLarge");
        let source = c(ConditionStatus::True, "SourceFailing");
        let h = degraded_happening(Some(&ok), Some(&big)).unwrap();
        assert_eq!((h.reason, h.severity), ("Degraded", Severity::Warning));
        assert!(h.note.contains("because StatusTooLarge"), "{}", h.note);
        assert_eq!(
            degraded_happening(None, Some(&big)).unwrap().reason,
            "Degraded"
        );
        let changed = degraded_happening(Some(&big), Some(&source)).unwrap();
        assert!(
            changed.note.contains("was StatusTooLarge"),
            "{}",
            changed.note
        );
        let back = degraded_happening(Some(&source), Some(&ok)).unwrap();
        assert_eq!(
            (back.reason, back.severity),
            ("Recovered", Severity::Normal)
        );
        assert_eq!(
            degraded_happening(Some(&big), None).unwrap().reason,
            "Recovered"
        );
        assert_eq!(degraded_happening(Some(&big), Some(&big)), None);
        assert_eq!(degraded_happening(Some(&ok), Some(&ok)), None);
        assert_eq!(degraded_happening(None, Some(&ok)), None);
    }

    #[test]
    fn notes_are_cut_to_what_the_api_server_accepts_at_a_character_boundary() {
        let long = "é".repeat(2000);
        let cut = bounded_note(&long);
        assert!(cut.len() <= MAX_NOTE_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded_note("short"), "short");
    }
}
