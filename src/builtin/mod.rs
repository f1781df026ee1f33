//! The built-in informers: pure functions from cluster objects and a clock to insights, following
//! `oc adm upgrade status` (`../shared/reference/insight-rules.md` Part B and
//! `docs/object-contract.md`). No IO happens here; the caller loads a [`ClusterState`] and
//! chooses "now".

pub mod alerts;
pub mod cluster_version;
pub mod estimate;
pub mod fit;
pub mod health;
pub mod ids;
pub mod machine_config;
pub mod node_state;
pub mod selector;

use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{InformerName, InsightPayload};
use update_status_api::wire::ReportedInsight;

use crate::cluster::ClusterState;
use crate::cluster::openshift::{ClusterVersion, find_condition};

/// The informer that reports the ClusterVersion, the platform operators and their health.
pub const CLUSTER_VERSION_INFORMER: &str = "cluster-version";
/// The informer that reports pools, nodes and their health.
pub const MACHINE_CONFIG_INFORMER: &str = "machine-config";
/// The informer that reports firing alerts.
pub const ALERTS_INFORMER: &str = "alerts";

/// Whether `name` is one of the controller's own informers. Decided by name, never by what a
/// published object says of an informer (anyone who can write the status could claim
/// `source: BuiltIn`).
pub fn is_builtin_name(name: &str) -> bool {
    [
        CLUSTER_VERSION_INFORMER,
        MACHINE_CONFIG_INFORMER,
        ALERTS_INFORMER,
    ]
    .contains(&name)
}

/// What one built-in informer reports: its complete current set of insights, in emission order.
#[derive(Clone, Debug, PartialEq)]
pub struct InformerOutput {
    /// The informer's name.
    pub informer: InformerName,
    /// Its insights; uids are unique within the informer.
    pub insights: Vec<ReportedInsight>,
}

/// When the current update began, as `oc` uses it for alerts: history[0].startedTime, else the
/// Progressing transition, else Go's zero time.
pub fn update_started_at(cv: &ClusterVersion) -> Timestamp {
    let zero = crate::cluster::go_zero_time();
    match cv.status.history.first() {
        Some(h) => h.started_time.unwrap_or(zero),
        None => find_condition(&cv.status.conditions, "Progressing")
            .and_then(|p| p.last_transition_time)
            .unwrap_or(zero),
    }
}

fn output(name: &str, mut insights: Vec<ReportedInsight>) -> Option<InformerOutput> {
    ids::dedupe_uids(&mut insights);
    Some(InformerOutput {
        informer: InformerName::new(name).ok()?,
        insights,
    })
}

/// Which built-in informers to run: after a change, only those that read what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    /// `cluster-version`.
    pub cluster_version: bool,
    /// `machine-config`.
    pub machine_config: bool,
    /// `alerts` (it runs only when the state has alerts).
    pub alerts: bool,
}

impl Selection {
    /// Every built-in informer.
    pub const ALL: Self = Self {
        cluster_version: true,
        machine_config: true,
        alerts: true,
    };
}

/// Runs every built-in informer over `state`: `cluster-version`, `machine-config`, and `alerts`
/// when the state has alerts. `now` is the assessment's clock (the mocked "now" for files);
/// `wall_now` is the real clock, which `oc` uses only to judge node unavailability.
pub fn assess(state: &ClusterState, now: Timestamp, wall_now: Timestamp) -> Vec<InformerOutput> {
    assess_selected(state, now, wall_now, Selection::ALL)
}

/// Runs the `selected` built-in informers over `state`; the parts of `state` the others read
/// may be left empty.
pub fn assess_selected(
    state: &ClusterState,
    now: Timestamp,
    wall_now: Timestamp,
    selected: Selection,
) -> Vec<InformerOutput> {
    let mut out = Vec::new();
    if selected.cluster_version {
        let mco_image = cluster_version::mco_image_pull_spec(state.mco_deployment.as_ref());
        out.extend(output(
            CLUSTER_VERSION_INFORMER,
            cluster_version::assess_cluster_version(&state.cv, &state.cos, mco_image, now),
        ));
    }
    if selected.machine_config {
        out.extend(output(
            MACHINE_CONFIG_INFORMER,
            machine_config::assess_machine_config(
                &state.cv,
                &state.mcps,
                &state.mcs,
                &state.nodes,
                now,
                wall_now,
            ),
        ));
    }
    if let Some(alerts) = state.alerts.as_ref().filter(|_| selected.alerts) {
        out.extend(output(
            ALERTS_INFORMER,
            alerts::assess_alerts(alerts, update_started_at(&state.cv)),
        ));
    }
    out
}

/// Carries condition transition times over from the previous report: a condition whose status
/// did not change keeps its old `lastTransitionTime` (`metav1` `SetStatusCondition` semantics).
/// Conditions without a source time are stamped "now" on each assessment; without this, every
/// recomputation would look like a change. Insights are matched by uid through a map: a
/// 10,000-node cluster is assessed on every node change.
pub fn keep_transition_times(previous: &[ReportedInsight], current: &mut [ReportedInsight]) {
    let by_uid: std::collections::HashMap<&str, &InsightPayload> = previous
        .iter()
        .map(|p| (p.uid.as_str(), &p.insight))
        .collect();
    for insight in current.iter_mut() {
        if let Some(old) = by_uid.get(insight.uid.as_str()) {
            insight.insight.keep_transition_times(old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::openshift::{
        Alert, AlertData, AlertList, OperatorCondition, UpdateHistory,
    };
    use update_status_api::v1alpha1::{ConditionStatus, find_condition as find};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn state() -> ClusterState {
        let mut s = ClusterState::default();
        s.cv.metadata.name = Some("version".into());
        s.cv.status.history = vec![UpdateHistory {
            state: "Partial".into(),
            version: "4.15.0".into(),
            started_time: Some(ts("2024-01-01T11:00:00Z")),
            ..Default::default()
        }];
        s.cv.status.conditions = vec![OperatorCondition {
            type_: "Progressing".into(),
            status: "True".into(),
            last_transition_time: Some(ts("2024-01-01T10:00:00Z")),
            ..Default::default()
        }];
        s
    }

    /// A state with a platform operator that reports no conditions, so its insight's conditions
    /// have no source time and are stamped "now".
    fn state_with_silent_operator() -> ClusterState {
        let mut s = state();
        let mut co = crate::cluster::ClusterOperator::default();
        co.metadata.name = Some("quiet".into());
        co.metadata.annotations =
            Some([("include.release.openshift.io/x".to_owned(), String::new())].into());
        s.cos.push(co);
        s
    }

    fn names(out: &[InformerOutput]) -> Vec<&str> {
        out.iter().map(|o| o.informer.as_str()).collect()
    }

    #[test]
    fn informers_and_alerts_only_with_alerts() {
        let now = ts("2024-01-01T12:00:00Z");
        let mut s = state();
        assert_eq!(
            names(&assess(&s, now, now)),
            ["cluster-version", "machine-config"]
        );
        let firing = |name: &str| Alert {
            labels: [("alertname", name), ("severity", "warning")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            annotations: [("summary".to_owned(), "same".to_owned())].into(),
            state: "firing".into(),
            active_at: Some(ts("2024-01-01T11:30:00Z")),
        };
        s.alerts = Some(AlertData {
            data: AlertList {
                alerts: vec![firing("A"), firing("A")],
            },
            ..Default::default()
        });
        let out = assess(&s, now, now);
        assert_eq!(names(&out), ["cluster-version", "machine-config", "alerts"]);
        // Two identical alerts still get distinct uids.
        let uids: Vec<&str> = out[2].insights.iter().map(|i| i.uid.as_str()).collect();
        assert_eq!(uids.len(), 2);
        assert_ne!(uids[0], uids[1]);
        assert!(uids[1].ends_with("-2"));
    }

    #[test]
    fn update_start_prefers_history() {
        let mut s = state();
        assert_eq!(update_started_at(&s.cv), ts("2024-01-01T11:00:00Z"));
        s.cv.status.history.clear();
        assert_eq!(update_started_at(&s.cv), ts("2024-01-01T10:00:00Z"));
        s.cv.status.conditions.clear();
        assert_eq!(update_started_at(&s.cv), crate::cluster::go_zero_time());
    }

    #[test]
    fn unchanged_conditions_keep_their_transition_time() {
        let s = state_with_silent_operator();
        let first = assess(&s, ts("2024-01-01T12:00:00Z"), ts("2024-01-01T12:00:00Z"));
        // One minute later nothing changed, but conditions without a source time say "now".
        let mut second = assess(&s, ts("2024-01-01T12:01:00Z"), ts("2024-01-01T12:01:00Z"));
        let cv_updating = |o: &[InformerOutput]| match &o[0].insights[0].insight {
            InsightPayload::ClusterVersion(cv) => find(&cv.conditions, "Updating").cloned(),
            _ => None,
        };
        assert_eq!(
            cv_updating(&second).map(|c| c.status),
            Some(ConditionStatus::True)
        );
        // (Times that are not conditions, such as an estimate relative to now, move on.)
        let all_conditions = |o: &[InformerOutput]| -> Vec<update_status_api::v1alpha1::Condition> {
            o.iter()
                .flat_map(|x| x.insights.iter())
                .flat_map(|i| i.insight.conditions().to_vec())
                .collect()
        };
        assert_ne!(all_conditions(&first), all_conditions(&second));
        for (old, new) in first.iter().zip(second.iter_mut()) {
            keep_transition_times(&old.insights, &mut new.insights);
        }
        assert!(!all_conditions(&first).is_empty());
        assert_eq!(all_conditions(&first), all_conditions(&second));

        // A changed status takes the new time.
        let mut changed = state_with_silent_operator();
        changed.cv.status.conditions[0].status = "False".into();
        changed.cv.status.conditions[0].last_transition_time = None;
        let mut third = assess(
            &changed,
            ts("2024-01-01T12:02:00Z"),
            ts("2024-01-01T12:02:00Z"),
        );
        keep_transition_times(&first[0].insights, &mut third[0].insights);
        assert_eq!(
            cv_updating(&third).map(|c| c.last_transition_time),
            Some(ts("2024-01-01T12:02:00Z"))
        );
    }
}
