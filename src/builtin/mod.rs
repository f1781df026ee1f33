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
use update_status_api::v1alpha1::{Condition, InformerName, InsightPayload};
use update_status_api::wire::ReportedInsight;

use crate::cluster::ClusterState;
use crate::cluster::openshift::{ClusterVersion, find_condition};

/// The informer that reports the ClusterVersion, the platform operators and their health.
pub const CLUSTER_VERSION_INFORMER: &str = "cluster-version";
/// The informer that reports pools, nodes and their health.
pub const MACHINE_CONFIG_INFORMER: &str = "machine-config";
/// The informer that reports firing alerts.
pub const ALERTS_INFORMER: &str = "alerts";

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

/// Runs every built-in informer over `state`: `cluster-version`, `machine-config`, and `alerts`
/// when the state has alerts. `now` is the assessment's clock (the mocked "now" for files);
/// `wall_now` is the real clock, which `oc` uses only to judge node unavailability.
pub fn assess(state: &ClusterState, now: Timestamp, wall_now: Timestamp) -> Vec<InformerOutput> {
    let mco_image = cluster_version::mco_image_pull_spec(state.mco_deployment.as_ref());
    let mut out = Vec::new();
    out.extend(output(
        CLUSTER_VERSION_INFORMER,
        cluster_version::assess_cluster_version(&state.cv, &state.cos, mco_image, now),
    ));
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
    if let Some(alerts) = &state.alerts {
        out.extend(output(
            ALERTS_INFORMER,
            alerts::assess_alerts(alerts, update_started_at(&state.cv)),
        ));
    }
    out
}

fn conditions(payload: &InsightPayload) -> &[Condition] {
    match payload {
        InsightPayload::ClusterVersion(x) => &x.conditions,
        InsightPayload::ClusterOperator(x) => &x.conditions,
        InsightPayload::MachineConfigPool(x) => &x.conditions,
        InsightPayload::Node(x) => &x.conditions,
        InsightPayload::Health(_) => &[],
    }
}

/// Applies `f` to every condition of a status insight.
fn for_each_condition(payload: &mut InsightPayload, f: impl FnMut(&mut Condition)) {
    use update_status_api::constraints::BoundedVec;
    fn apply<const N: usize>(list: &mut BoundedVec<Condition, N>, f: impl FnMut(&mut Condition)) {
        let mut v = std::mem::take(list).into_vec();
        v.iter_mut().for_each(f);
        // Same length as before, so it still fits.
        *list = BoundedVec::new(v).unwrap_or_default();
    }
    match payload {
        InsightPayload::ClusterVersion(x) => apply(&mut x.conditions, f),
        InsightPayload::ClusterOperator(x) => apply(&mut x.conditions, f),
        InsightPayload::MachineConfigPool(x) => apply(&mut x.conditions, f),
        InsightPayload::Node(x) => apply(&mut x.conditions, f),
        InsightPayload::Health(_) => {}
    }
}

/// Carries condition transition times over from the previous report: a condition whose status
/// and reason did not change keeps its old `lastTransitionTime`. Conditions without a source time
/// are stamped "now" on each assessment; without this, every recomputation would look like a
/// change (`metav1` `SetStatusCondition` semantics).
pub fn keep_transition_times(previous: &[ReportedInsight], current: &mut [ReportedInsight]) {
    for insight in current.iter_mut() {
        let Some(old) = previous.iter().find(|p| p.uid == insight.uid) else {
            continue;
        };
        let old_conditions = conditions(&old.insight);
        for_each_condition(&mut insight.insight, |c| {
            if let Some(o) = old_conditions
                .iter()
                .find(|o| o.type_ == c.type_ && o.status == c.status && o.reason == c.reason)
            {
                c.last_transition_time = o.last_transition_time;
            }
        });
    }
}
