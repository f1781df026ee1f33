//! The `alerts` informer: firing alerts that matter to the update become health insights, as
//! `oc`'s `parseAlertDataToInsights` (alerts.go) decides.

use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{ImpactLevel, ImpactType};
use update_status_api::wire::ReportedInsight;

use super::fit;
use super::health::{Health, Scope};
use crate::cluster::go_zero_time;
use crate::cluster::openshift::{Alert, AlertData};

/// Alerts known to affect updates: shown even when they fired before the update began.
const ALLOWED: [&str; 2] = ["PodDisruptionBudgetLimit", "PodDisruptionBudgetAtLimit"];

/// `alertImpactLevel`: warning and critical matter; everything else is informational.
fn level(severity: &str) -> ImpactLevel {
    match severity {
        "warning" => ImpactLevel::Warning,
        "critical" => ImpactLevel::Critical,
        _ => ImpactLevel::Info,
    }
}

/// One alert as a health insight, or `None` when `oc` would not show it.
fn alert_insight(alert: &Alert, update_started_at: Timestamp) -> Option<ReportedInsight> {
    let name = alert.label("alertname");
    if name.is_empty() {
        return None;
    }
    let during = update_started_at < alert.active_at.unwrap_or_else(go_zero_time);
    let mut description = match (ALLOWED.contains(&name), during) {
        (true, true) => "Alert known to affect updates started firing during the update.",
        (true, false) => {
            "Alert known to affect updates has been firing since before the update started."
        }
        (false, true) => "Alert started firing during the update.",
        (false, false) => return None,
    }
    .to_owned();
    if alert.state == "pending" {
        return None;
    }
    let level = level(alert.label("severity"));
    if level < ImpactLevel::Warning {
        return None;
    }
    let (desc, msg) = (alert.annotation("description"), alert.annotation("message"));
    match (desc.is_empty(), msg.is_empty()) {
        (false, false) => {
            description.push_str(&format!(" The alert description is: {desc} | {msg}"))
        }
        (false, true) => description.push_str(&format!(" The alert description is: {desc}")),
        (true, false) => description.push_str(&format!(" The alert description is: {msg}")),
        (true, true) => description.push_str(" The alert has no description."),
    }
    let summary = match alert.annotation("summary") {
        "" => name,
        s => s,
    };
    let summary = format!("Alert is firing: {summary}");
    let runbook = alert.annotation("runbook_url");
    Health {
        kind: "alert",
        started_at: alert.active_at,
        scope: Scope::ControlPlane,
        resources: vec![fit::resource_ref(
            "config.openshift.io",
            "alerts",
            name,
            alert.label("namespace"),
        )],
        level,
        impact_type: ImpactType::Unknown,
        summary: &summary,
        description: &description,
        reference: (!runbook.is_empty()).then_some(runbook),
    }
    .build()
}

/// Every alert `oc` would show, in the order the alerts came. `update_started_at` is when the
/// current update began (history[0].startedTime, or the Progressing transition without history).
pub fn assess_alerts(alerts: &AlertData, update_started_at: Timestamp) -> Vec<ReportedInsight> {
    alerts
        .data
        .alerts
        .iter()
        .filter_map(|a| alert_insight(a, update_started_at))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use update_status_api::v1alpha1::{HealthInsight, InsightPayload, ScopeType};

    const STARTED: &str = "2024-01-01T12:00:00Z";

    fn alert(
        name: &str,
        severity: &str,
        state: &str,
        active_at: &str,
        annotations: &[(&str, &str)],
    ) -> Alert {
        let mut labels = vec![
            ("severity", severity),
            ("namespace", "openshift-monitoring"),
        ];
        if !name.is_empty() {
            labels.push(("alertname", name));
        }
        Alert {
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            state: state.into(),
            active_at: Some(active_at.parse().unwrap()),
        }
    }

    fn one(a: Alert) -> Option<HealthInsight> {
        let data = AlertData {
            data: crate::cluster::openshift::AlertList { alerts: vec![a] },
            ..Default::default()
        };
        let mut out = assess_alerts(&data, STARTED.parse().unwrap());
        assert!(out.len() <= 1);
        out.pop().map(|r| match r.insight {
            InsightPayload::Health(h) => *h,
            other => panic!("unexpected {other:?}"),
        })
    }

    const DURING: &str = "2024-01-01T12:10:00Z";
    const BEFORE: &str = "2024-01-01T11:00:00Z";

    #[test]
    fn which_alerts_are_shown() {
        let rows = [
            (
                alert("KubePodNotReady", "warning", "firing", DURING, &[]),
                Some(ImpactLevel::Warning),
            ),
            (
                alert("KubePodNotReady", "critical", "firing", DURING, &[]),
                Some(ImpactLevel::Critical),
            ),
            (
                alert("KubePodNotReady", "warning", "pending", DURING, &[]),
                None,
            ),
            (
                alert("KubePodNotReady", "info", "firing", DURING, &[]),
                None,
            ),
            (alert("Watchdog", "none", "firing", DURING, &[]), None),
            (
                alert("KubePodNotReady", "warning", "firing", BEFORE, &[]),
                None,
            ),
            (
                alert("KubePodNotReady", "warning", "firing", STARTED, &[]),
                None,
            ),
            (
                alert(
                    "PodDisruptionBudgetAtLimit",
                    "warning",
                    "firing",
                    BEFORE,
                    &[],
                ),
                Some(ImpactLevel::Warning),
            ),
            (
                alert(
                    "PodDisruptionBudgetLimit",
                    "critical",
                    "firing",
                    BEFORE,
                    &[],
                ),
                Some(ImpactLevel::Critical),
            ),
            (alert("", "critical", "firing", DURING, &[]), None),
        ];
        for (a, want) in rows {
            assert_eq!(one(a.clone()).map(|h| h.impact.level), want, "{a:?}");
        }
    }

    #[test]
    fn descriptions_summaries_and_references() {
        let rows = [
            (
                alert(
                    "PodDisruptionBudgetAtLimit",
                    "warning",
                    "firing",
                    DURING,
                    &[("description", "d"), ("message", "m")],
                ),
                "Alert known to affect updates started firing during the update. The alert description is: d | m",
            ),
            (
                alert(
                    "PodDisruptionBudgetAtLimit",
                    "warning",
                    "firing",
                    BEFORE,
                    &[("description", "d")],
                ),
                "Alert known to affect updates has been firing since before the update started. The alert description is: d",
            ),
            (
                alert("X", "warning", "firing", DURING, &[("message", "m")]),
                "Alert started firing during the update. The alert description is: m",
            ),
            (
                alert("X", "warning", "firing", DURING, &[]),
                "Alert started firing during the update. The alert has no description.",
            ),
        ];
        for (a, want) in rows {
            assert_eq!(one(a).unwrap().impact.description.as_deref(), Some(want));
        }

        let h = one(alert(
            "X",
            "warning",
            "firing",
            DURING,
            &[
                ("summary", "Something broke"),
                ("runbook_url", "https://r/x.md"),
            ],
        ))
        .unwrap();
        assert_eq!(
            h.impact.summary.as_str(),
            "Alert is firing: Something broke"
        );
        assert_eq!(h.remediation.reference.as_deref(), Some("https://r/x.md"));
        assert_eq!(h.impact.type_, ImpactType::Unknown);
        assert_eq!(h.started_at, Some(DURING.parse().unwrap()));
        assert_eq!(h.scope.type_, ScopeType::ControlPlane);
        let r = &h.scope.resources[0];
        assert_eq!(
            (
                r.group.as_deref(),
                r.resource.as_str(),
                r.namespace.as_deref(),
                r.name.as_str()
            ),
            (
                Some("config.openshift.io"),
                "alerts",
                Some("openshift-monitoring"),
                "X"
            )
        );

        let h = one(alert("NoSummary", "warning", "firing", DURING, &[])).unwrap();
        assert_eq!(h.impact.summary.as_str(), "Alert is firing: NoSummary");
        assert!(h.remediation.reference.is_none());
    }

    #[test]
    fn alerts_without_activation_time_fired_before_the_update() {
        let mut a = alert(
            "PodDisruptionBudgetAtLimit",
            "warning",
            "firing",
            DURING,
            &[],
        );
        a.active_at = None;
        let h = one(a).unwrap();
        assert!(h.started_at.is_none());
        assert!(
            h.impact
                .description
                .unwrap()
                .contains("since before the update started")
        );
    }
}
