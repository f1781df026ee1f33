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
