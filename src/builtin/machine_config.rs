//! The `machine-config` informer: pool membership, each node's update state, the pool summaries,
//! and the node and paused-pool health insights, as `oc`'s `assessNodesStatus` and
//! `assessMachineConfigPool` compute them (workerpool.go, status.go).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use update_status_api::constraints::BoundedVec;
use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::{
    ConditionStatus, ImpactLevel, ImpactType, InsightPayload, MachineConfigPoolInsight, NodeCount,
    NodeInsight, NodeSummary, NodeSummaryType, Percent, PoolAssessment, ResourceRef, ScopeType,
    Seconds,
};
use update_status_api::wire::ReportedInsight;

use super::fit;
use super::health::{Health, Scope};
use super::ids::status_uid;
use super::node_state::{LayeredNodeState, keys, states};
use super::selector::Selector;
use crate::cluster::openshift::{
    ClusterVersion, MachineConfig, MachineConfigPool, annotation, annotation_opt, find_condition,
    name_of,
};

const MCO_GROUP: &str = "machineconfiguration.openshift.io";
const MASTER: &str = "master";
const WORKER: &str = "worker";
const DOC_MCO: &str = "https://docs.openshift.com/container-platform/latest/post_installation_configuration/machine-configuration-tasks.html#understanding-the-machine-config-operator";
const DOC_PAUSED: &str = "https://docs.openshift.com/container-platform/latest/support/troubleshooting/troubleshooting-operator-issues.html#troubleshooting-disabling-autoreboot-mco_troubleshooting-operator-issues";
const PAUSED_DESCRIPTION: &str = "Pool is paused, which stops all changes to the nodes in the pool, including updates. The nodes will not be updated until the pool is unpaused by the administrator.";

/// Where a node is in its update (`oc`'s phase), in `oc`'s sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Being drained before the update.
    Draining,
    /// The daemon applies the new configuration.
    Updating,
    /// Rebooting into the new configuration.
    Rebooting,
    /// Its pool is paused.
    Paused,
    /// Waiting for its turn.
    Pending,
    /// At the target (or finishing, when the daemon is Done but the node is not yet counted).
    Updated,
}

impl Phase {
    /// The name `oc` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Draining => "Draining",
            Phase::Updating => "Updating",
            Phase::Rebooting => "Rebooting",
            Phase::Paused => "Paused",
            Phase::Pending => "Pending",
            Phase::Updated => "Updated",
        }
    }
}

/// Everything `oc` decides about one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeAssessment {
    /// The node's name.
    pub name: String,
    /// Its phase.
    pub phase: Phase,
    /// The release it runs, "" when unknown.
    pub version: String,
    /// `None` prints `?`, zero prints `-`.
    pub estimate: Option<GoDuration>,
    /// The MESSAGE column, before the node name is shortened to `<node>`.
    pub message: String,
    /// Counted as unavailable (LayeredNodeState).
    pub is_unavailable: bool,
    /// The daemon is Degraded or Unreconcilable.
    pub is_degraded: bool,
    /// On its way to the target version.
    pub is_updating: bool,
    /// At the target version.
    pub is_updated: bool,
    /// `GetUnavailableMessage`, for the Available condition.
    pub unavailable_message: String,
    /// When it became unavailable, if known.
    pub unavailable_since: Option<Timestamp>,
}

/// Pools' selectors, with `oc`'s precedence: master, then custom pools (in list order; `oc` uses
/// Go map order, which is random), then worker.
struct Membership<'a> {
    master: Option<Selector>,
    worker: Option<Selector>,
    custom: Vec<(&'a str, Selector)>,
}

impl<'a> Membership<'a> {
    fn new(pools: &'a [MachineConfigPool]) -> Self {
        let mut m = Membership {
            master: None,
            worker: None,
            custom: Vec::new(),
        };
        for pool in pools {
            // oc refuses to run with an invalid selector; here that pool selects nothing, so the
            // rest of the cluster is still reported.
            let selector = Selector::compile(pool.spec.node_selector.as_ref())
                .unwrap_or_else(|_| Selector::nothing());
            match name_of(&pool.metadata) {
                MASTER => m.master = Some(selector),
                WORKER => m.worker = Some(selector),
                other => m.custom.push((other, selector)),
            }
        }
        m
    }

    /// `whichPool`: the pool a node belongs to, if any.
    fn pool_of(&self, node: &Node) -> Option<&'a str> {
        let empty = BTreeMap::new();
        let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
        if self.master.as_ref().is_some_and(|s| s.matches(labels)) {
            return Some(MASTER);
        }
        if let Some((name, _)) = self.custom.iter().find(|(_, s)| s.matches(labels)) {
            return Some(name);
        }
        if self.worker.as_ref().is_some_and(|s| s.matches(labels)) {
            return Some(WORKER);
        }
        None
    }
}

/// The release version a MachineConfig renders, and whether it is known.
fn machine_config_version<'a>(mcs: &'a [MachineConfig], name: &str) -> (&'a str, bool) {
    mcs.iter()
        .find(|mc| name_of(&mc.metadata) == name)
        .map_or(("", false), |mc| {
            let v = annotation(&mc.metadata, keys::RELEASE_IMAGE_VERSION);
            (v, !v.is_empty())
        })
}

/// `multiArchMigration`: the last two history entries have the same version and different images.
pub fn multi_arch_history(cv: &ClusterVersion) -> bool {
    let h = &cv.status.history;
    matches!((h.first(), h.get(1)), (Some(a), Some(b)) if a.version == b.version && a.image != b.image)
}

fn is_node_degraded(node: &Node) -> bool {
    let meta = &node.metadata;
    if meta.annotations.is_none() || annotation(meta, keys::DESIRED_CONFIG).is_empty() {
        return false;
    }
    matches!(
        annotation(meta, keys::STATE),
        states::DEGRADED | states::UNRECONCILABLE
    )
}

fn is_node_draining(node: &Node, is_updating: bool) -> bool {
    let desired = annotation(&node.metadata, keys::DESIRED_DRAIN);
    let applied = annotation(&node.metadata, keys::LAST_APPLIED_DRAIN);
    if desired.is_empty() || applied.is_empty() {
        return false;
    }
    if desired != applied && desired.split('-').next() == Some("drain") {
        return true;
    }
    // The daemon has not switched from Done to Working yet: count it as draining, not completed.
    is_updating && annotation(&node.metadata, keys::STATE) == states::DONE
}

fn calculate_phase(
    pool: &MachineConfigPool,
    node: &Node,
    is_updating: bool,
    is_updated: bool,
) -> Phase {
    if is_updating && is_node_draining(node, is_updating) {
        return Phase::Draining;
    }
    if is_updating {
        return match annotation(&node.metadata, keys::STATE) {
            states::REBOOTING => Phase::Rebooting,
            states::DONE => Phase::Updated,
            _ => Phase::Updating,
        };
    }
    if is_updated {
        Phase::Updated
    } else if pool.spec.paused {
        Phase::Paused
    } else {
        Phase::Pending
    }
}

/// The health insights `oc` derives from one node (`nodeInsights`), in its order.
struct NodeHealth {
    summary: String,
    description: String,
    seriously_unavailable: bool,
}

/// Assesses one node of `pool` (`assessNodesStatus`'s loop body).
fn assess_node(
    cv: &ClusterVersion,
    pool: &MachineConfigPool,
    node: &Node,
    mcs: &[MachineConfig],
    multi_arch_in_progress: bool,
    wall_now: Timestamp,
) -> (NodeAssessment, NodeHealth) {
    let meta = &node.metadata;
    let latest = cv.status.history.first().map(|h| h.version.as_str());
    let desired_config = annotation_opt(meta, keys::DESIRED_CONFIG);
    let current_config = annotation(meta, keys::CURRENT_CONFIG);
    let (current_version, found_current) = machine_config_version(mcs, current_config);
    let (desired_version, found_desired) =
        machine_config_version(mcs, desired_config.unwrap_or(""));

    let mut lns = LayeredNodeState::new(node);
    let is_unavailable = lns.is_unavailable(pool);
    let is_degraded = is_node_degraded(node);
    let annotation_matched = current_config == desired_config.unwrap_or("");
    let desired_annotation_updated = desired_config.unwrap_or("") == pool.spec.configuration.name;
    let is_latest = |v: &str| latest == Some(v);
    let is_updated = found_current
        && is_latest(current_version)
        && (!multi_arch_in_progress
            || desired_config.is_none()
            || (annotation_matched && desired_annotation_updated));
    let is_updating = !is_updated
        && found_current
        && found_desired
        && is_latest(desired_version)
        && !annotation_matched
        && desired_annotation_updated;

    let phase = calculate_phase(pool, node, is_updating, is_updated);
    let mut estimate = match phase {
        Phase::Paused | Phase::Updated => Some(GoDuration::default()),
        Phase::Pending => None,
        Phase::Draining => Some(GoDuration::from_mins(10)),
        Phase::Updating | Phase::Rebooting => Some(GoDuration::from_mins(5)),
    };
    let done_or_unknown = if is_updated {
        Some(GoDuration::default())
    } else {
        None
    };

    let mut message = String::new();
    let mut summary = String::new();
    let mut description = String::new();
    if is_unavailable && !is_updating {
        message = lns.unavailable_reason();
        summary = lns.unavailable_message();
        description = lns.unavailable_description();
        estimate = done_or_unknown;
    }
    if is_degraded {
        message = annotation(meta, keys::REASON).to_owned();
        description.clone_from(&message);
        estimate = done_or_unknown;
    }

    let assessment = NodeAssessment {
        name: name_of(meta).to_owned(),
        phase,
        version: current_version.to_owned(),
        estimate,
        message,
        is_unavailable,
        is_degraded,
        is_updating,
        is_updated,
        unavailable_message: lns.unavailable_message(),
        unavailable_since: lns.unavailable_since(),
    };
    let health = NodeHealth {
        summary,
        description,
        seriously_unavailable: lns.seriously_unavailable(wall_now),
    };
    (assessment, health)
}

/// A node estimate in whole seconds (they are whole minutes, or zero).
fn whole_seconds(d: GoDuration) -> Option<Seconds> {
    Seconds::new(d.as_nanos() / GoDuration::SECOND).ok()
}

fn pool_ref(name: &str) -> ResourceRef {
    fit::resource_ref(MCO_GROUP, "machineconfigpools", name, "")
}

fn node_ref(name: &str) -> ResourceRef {
    fit::resource_ref("", "nodes", name, "")
}

/// The Node status insight (contract: "Node insight").
fn node_insight(pool_name: &str, a: &NodeAssessment, now: Timestamp) -> ReportedInsight {
    let (status, reason, message) = match a.phase {
        Phase::Draining => (ConditionStatus::True, "Draining", "The node is draining"),
        Phase::Updating => (ConditionStatus::True, "Updating", "The node is updating"),
        Phase::Rebooting => (ConditionStatus::True, "Rebooting", "The node is rebooting"),
        Phase::Updated if a.is_updated => {
            (ConditionStatus::False, "Completed", "The node is updated")
        }
        Phase::Updated => (
            ConditionStatus::False,
            "Finishing",
            "The node applied the new configuration and is finishing its update",
        ),
        Phase::Paused => (
            ConditionStatus::False,
            "Paused",
            "The update of the node is paused",
        ),
        Phase::Pending => (
            ConditionStatus::False,
            "Pending",
            "The update of the node is pending",
        ),
    };
    let updating = fit::condition("Updating", status, now, reason, message);
    let available = if a.is_unavailable {
        let reason = if a.is_updating {
            "Updating"
        } else {
            "Unavailable"
        };
        fit::condition(
            "Available",
            ConditionStatus::False,
            a.unavailable_since.unwrap_or(now),
            reason,
            &a.unavailable_message,
        )
    } else {
        fit::condition(
            "Available",
            ConditionStatus::True,
            now,
            "AsExpected",
            "The node is available",
        )
    };
    let degraded = if a.is_degraded {
        fit::condition(
            "Degraded",
            ConditionStatus::True,
            now,
            "Degraded",
            &a.message,
        )
    } else {
        fit::condition(
            "Degraded",
            ConditionStatus::False,
            now,
            "AsExpected",
            "The node is not degraded",
        )
    };
    let insight = NodeInsight {
        name: fit::object_name(&a.name),
        resource: node_ref(&a.name),
        pool_resource: pool_ref(pool_name),
        scope_type: if pool_name == MASTER {
            ScopeType::ControlPlane
        } else {
            ScopeType::WorkerPool
        },
        version: fit::version(&a.version),
        estimated_to_complete_seconds: a.estimate.and_then(whole_seconds),
        message: fit::non_empty_paragraph(&a.message),
        conditions: BoundedVec::new(vec![updating, available, degraded]).unwrap_or_default(),
    };
    ReportedInsight {
        uid: status_uid("node", &a.name),
        insight: InsightPayload::Node(insight),
    }
}

/// `nodeInsights`: seriously unavailable (and not updating), then degraded.
fn node_health(
    pool_name: &str,
    a: &NodeAssessment,
    h: &NodeHealth,
    out: &mut Vec<ReportedInsight>,
) {
    let scope = if pool_name == MASTER {
        Scope::ControlPlane
    } else {
        Scope::Pool(pool_name)
    };
    if h.seriously_unavailable && !a.is_updating {
        out.extend(
            Health {
                kind: "node-unavailable",
                started_at: a.unavailable_since,
                scope,
                resources: vec![node_ref(&a.name)],
                level: ImpactLevel::Warning,
                impact_type: ImpactType::UpdateSpeed,
                summary: &h.summary,
                description: &h.description,
                reference: Some(DOC_MCO),
            }
            .build(),
        );
    }
    if a.is_degraded {
        let summary = format!("Node {} is degraded", a.name);
        out.extend(
            Health {
                kind: "node-degraded",
                started_at: None,
                scope,
                resources: vec![node_ref(&a.name)],
                level: ImpactLevel::Error,
                impact_type: ImpactType::UpdateStalled,
                summary: &summary,
                description: &h.description,
                reference: Some(DOC_MCO),
            }
            .build(),
        );
    }
}

/// The node counters of a pool, as `assessMachineConfigPool` counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolCounts {
    /// Nodes in the pool.
    pub total: usize,
    /// Nodes not unavailable.
    pub available: usize,
    /// Nodes draining, updating or rebooting that are not degraded.
    pub progressing: usize,
    /// Nodes not yet updated.
    pub outdated: usize,
    /// Nodes draining.
    pub draining: usize,
    /// Nodes of a paused pool.
    pub excluded: usize,
    /// Nodes whose daemon is Degraded or Unreconcilable.
    pub degraded: usize,
    /// Nodes in phase Updated.
    pub updated: usize,
    /// Nodes pending.
    pub pending: usize,
}

/// Counts `nodes` and decides the pool's assessment.
pub fn count_pool(nodes: &[NodeAssessment]) -> (PoolCounts, PoolAssessment) {
    let mut c = PoolCounts {
        total: nodes.len(),
        ..Default::default()
    };
    for n in nodes {
        if !n.is_unavailable {
            c.available += 1;
        }
        if n.is_degraded {
            c.degraded += 1;
        }
        match n.phase {
            Phase::Paused => {
                c.excluded += 1;
                c.outdated += 1;
            }
            Phase::Pending => {
                c.pending += 1;
                c.outdated += 1;
            }
            Phase::Draining | Phase::Updating | Phase::Rebooting => {
                if n.phase == Phase::Draining {
                    c.draining += 1;
                }
                c.outdated += 1;
                if !n.is_degraded {
                    c.progressing += 1;
                }
            }
            Phase::Updated => c.updated += 1,
        }
    }
    let assessment = if c.updated == c.total {
        PoolAssessment::Completed
    } else if c.pending == c.total {
        PoolAssessment::Pending
    } else if c.degraded > 0 {
        PoolAssessment::Degraded
    } else if c.excluded > 0 {
        PoolAssessment::Excluded
    } else {
        PoolAssessment::Progressing
    };
    (c, assessment)
}

fn count(n: usize) -> NodeCount {
    fit::count(n)
}

/// The MachineConfigPool status insight (contract: "MachineConfigPool insight").
fn pool_insight(
    pool_name: &str,
    c: &PoolCounts,
    assessment: PoolAssessment,
    now: Timestamp,
) -> ReportedInsight {
    let summaries = [
        (NodeSummaryType::Total, c.total),
        (NodeSummaryType::Available, c.available),
        (NodeSummaryType::Progressing, c.progressing),
        (NodeSummaryType::Outdated, c.outdated),
        (NodeSummaryType::Draining, c.draining),
        (NodeSummaryType::Excluded, c.excluded),
        (NodeSummaryType::Degraded, c.degraded),
    ]
    .into_iter()
    .map(|(type_, n)| NodeSummary {
        type_,
        count: count(n),
    })
    .collect();
    let (status, reason, message) = match assessment {
        PoolAssessment::Completed => (
            ConditionStatus::False,
            "Completed",
            "All nodes in the pool are updated",
        ),
        PoolAssessment::Pending => (
            ConditionStatus::False,
            "Pending",
            "No node in the pool has started updating",
        ),
        PoolAssessment::Excluded => (
            ConditionStatus::False,
            "Paused",
            "The pool is paused and some of its nodes are excluded from the update",
        ),
        PoolAssessment::Degraded | PoolAssessment::Progressing => (
            ConditionStatus::True,
            "Updating",
            "Nodes in the pool are updating",
        ),
    };
    let insight = MachineConfigPoolInsight {
        name: fit::object_name(pool_name),
        resource: pool_ref(pool_name),
        scope_type: if pool_name == MASTER {
            ScopeType::ControlPlane
        } else {
            ScopeType::WorkerPool
        },
        assessment,
        completion: fit::percent(c.updated, c.total).and_then(|p| Percent::new(p).ok()),
        summaries: BoundedVec::new(summaries).unwrap_or_default(),
        conditions: BoundedVec::new(vec![fit::condition(
            "Updating", status, now, reason, message,
        )])
        .unwrap_or_default(),
    };
    ReportedInsight {
        uid: status_uid("mcp", pool_name),
        insight: InsightPayload::MachineConfigPool(insight),
    }
}

/// `machineConfigPoolInsights`: a paused pool with excluded nodes will not finish the update.
fn paused_pool_health(pool: &MachineConfigPool, c: &PoolCounts) -> Option<ReportedInsight> {
    if c.excluded == 0 || !pool.spec.paused {
        return None;
    }
    let name = name_of(&pool.metadata);
    let summary = format!("Outdated nodes in a paused pool '{name}' will not be updated");
    Health {
        kind: "mcp-paused",
        started_at: None,
        scope: Scope::Pool(name),
        resources: vec![pool_ref(name)],
        level: ImpactLevel::Warning,
        impact_type: ImpactType::UpdateStalled,
        summary: &summary,
        description: PAUSED_DESCRIPTION,
        reference: Some(DOC_PAUSED),
    }
    .build()
}

/// Everything the `machine-config` informer reports, pool by pool in list order: the pool's
/// insight, then per node (in node-list order) its insight and health insights, then the pool's
/// paused insight. Nodes no pool selects are not reported, as in `oc`. `wall_now` is the real
/// clock, which `oc` uses to judge whether an unavailable node is serious.
pub fn assess_machine_config(
    cv: &ClusterVersion,
    pools: &[MachineConfigPool],
    mcs: &[MachineConfig],
    nodes: &[Node],
    now: Timestamp,
    wall_now: Timestamp,
) -> Vec<ReportedInsight> {
    let progressing_true =
        find_condition(&cv.status.conditions, "Progressing").is_some_and(|p| p.is("True"));
    let multi_arch_in_progress = multi_arch_history(cv) && progressing_true;
    let membership = Membership::new(pools);
    let mut out = Vec::new();
    for pool in pools {
        let pool_name = name_of(&pool.metadata);
        let mut assessed = Vec::new();
        let mut node_insights = Vec::new();
        for node in nodes
            .iter()
            .filter(|n| membership.pool_of(n) == Some(pool_name))
        {
            let (a, h) = assess_node(cv, pool, node, mcs, multi_arch_in_progress, wall_now);
            node_insights.push(node_insight(pool_name, &a, now));
            node_health(pool_name, &a, &h, &mut node_insights);
            assessed.push(a);
        }
        let (counts, assessment) = count_pool(&assessed);
        out.push(pool_insight(pool_name, &counts, assessment, now));
        out.extend(node_insights);
        out.extend(paused_pool_health(pool, &counts));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::openshift::{OperatorCondition, UpdateHistory};
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
    use update_status_api::v1alpha1::{Condition, HealthInsight, find_condition};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    const NOW: &str = "2024-01-01T12:00:00Z";
    const WALL: &str = "2030-01-01T00:00:00Z";

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pool(name: &str, role: &str, paused: bool) -> MachineConfigPool {
        let mut p = MachineConfigPool::default();
        p.metadata.name = Some(name.into());
        p.spec.node_selector = Some(LabelSelector {
            match_labels: Some(map(&[(&format!("node-role.kubernetes.io/{role}"), "")])),
            ..Default::default()
        });
        p.spec.paused = paused;
        p.spec.configuration.name = format!("rendered-{name}-new");
        p
    }

    fn mc(name: &str, version: &str) -> MachineConfig {
        let mut m = MachineConfig::default();
        m.metadata.name = Some(name.into());
        m.metadata.annotations = Some(map(&[(keys::RELEASE_IMAGE_VERSION, version)]));
        m
    }

    fn mcs() -> Vec<MachineConfig> {
        vec![
            mc("rendered-worker-old", "4.14.0"),
            mc("rendered-worker-new", "4.15.0"),
            mc("rendered-master-old", "4.14.0"),
            mc("rendered-master-new", "4.15.0"),
        ]
    }

    fn node(name: &str, roles: &[&str], annotations: &[(&str, &str)]) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        n.metadata.labels = Some(
            roles
                .iter()
                .map(|r| (format!("node-role.kubernetes.io/{r}"), String::new()))
                .collect(),
        );
        n.metadata.annotations = Some(map(annotations));
        n.spec = Some(NodeSpec::default());
        n.status = Some(NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(ts("2023-12-01T00:00:00Z").0)),
                ..Default::default()
            }]),
            ..Default::default()
        });
        n
    }

    /// Annotations of a worker node at `current` wanting `desired`, in daemon `state`.
    fn at(
        current: &'static str,
        desired: &'static str,
        state: &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        vec![
            (keys::CURRENT_CONFIG, current),
            (keys::DESIRED_CONFIG, desired),
            (keys::STATE, state),
        ]
    }

    fn cv(progressing: &str) -> ClusterVersion {
        let mut cv = ClusterVersion::default();
        cv.metadata.name = Some("version".into());
        cv.status.history = vec![
            UpdateHistory {
                state: "Partial".into(),
                version: "4.15.0".into(),
                image: "new".into(),
                started_time: Some(ts("2024-01-01T11:00:00Z")),
                ..Default::default()
            },
            UpdateHistory {
                state: "Completed".into(),
                version: "4.14.0".into(),
                image: "old".into(),
                ..Default::default()
            },
        ];
        cv.status.conditions = vec![OperatorCondition {
            type_: "Progressing".into(),
            status: progressing.into(),
            ..Default::default()
        }];
        cv
    }

    fn run(pools: &[MachineConfigPool], nodes: &[Node]) -> Vec<ReportedInsight> {
        assess_machine_config(&cv("True"), pools, &mcs(), nodes, ts(NOW), ts(WALL))
    }

    fn nodes_of(out: &[ReportedInsight]) -> Vec<&NodeInsight> {
        out.iter()
            .filter_map(|r| match &r.insight {
                InsightPayload::Node(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    fn pools_of(out: &[ReportedInsight]) -> Vec<&MachineConfigPoolInsight> {
        out.iter()
            .filter_map(|r| match &r.insight {
                InsightPayload::MachineConfigPool(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn health_of(out: &[ReportedInsight]) -> Vec<&HealthInsight> {
        out.iter()
            .filter_map(|r| match &r.insight {
                InsightPayload::Health(h) => Some(&**h),
                _ => None,
            })
            .collect()
    }

    fn cond<'a>(c: &'a [Condition], t: &str) -> (ConditionStatus, &'a str) {
        let c = find_condition(c, t).unwrap();
        (c.status, c.reason.as_str())
    }

    #[test]
    fn pool_membership_master_then_custom_then_worker() {
        let mut infra = pool("infra", "infra", false);
        infra.spec.configuration.name = "rendered-worker-new".into();
        let pools = [
            infra,
            pool("master", "master", false),
            pool("worker", "worker", false),
        ];
        let nodes = [
            node(
                "m",
                &["master", "worker", "infra"],
                &at("rendered-master-old", "rendered-master-old", "Done"),
            ),
            node(
                "i",
                &["worker", "infra"],
                &at("rendered-worker-old", "rendered-worker-old", "Done"),
            ),
            node(
                "w",
                &["worker"],
                &at("rendered-worker-old", "rendered-worker-old", "Done"),
            ),
            node("nobody", &["other"], &[]),
        ];
        let out = run(&pools, &nodes);
        let placed: Vec<(&str, &str, ScopeType)> = nodes_of(&out)
            .iter()
            .map(|n| (n.name.as_str(), n.pool_resource.name.as_str(), n.scope_type))
            .collect();
        assert_eq!(
            placed,
            [
                ("i", "infra", ScopeType::WorkerPool),
                ("m", "master", ScopeType::ControlPlane),
                ("w", "worker", ScopeType::WorkerPool),
            ]
        );
        let uids: Vec<&str> = out.iter().map(|r| r.uid.as_str()).collect();
        assert_eq!(
            uids,
            [
                "mcp-infra",
                "node-i",
                "mcp-master",
                "node-m",
                "mcp-worker",
                "node-w"
            ]
        );
    }

    #[test]
    fn invalid_or_absent_selectors_select_nothing() {
        let mut bad = pool("worker", "worker", false);
        bad.spec.node_selector = Some(LabelSelector {
            match_expressions: Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                    key: "a".into(),
                    operator: "Bogus".into(),
                    values: None,
                },
            ]),
            ..Default::default()
        });
        let mut absent = pool("infra", "infra", false);
        absent.spec.node_selector = None;
        let out = run(&[absent, bad], &[node("w", &["worker", "infra"], &[])]);
        assert!(nodes_of(&out).is_empty());
        assert_eq!(pools_of(&out).len(), 2);
    }

    #[test]
    fn node_phase_table() {
        let drain = |state: &'static str| {
            let mut a = at("rendered-worker-old", "rendered-worker-new", state);
            a.push((keys::DESIRED_DRAIN, "drain-rendered-worker-new"));
            a.push((keys::LAST_APPLIED_DRAIN, "uncordon-rendered-worker-old"));
            a
        };
        let done_drain = {
            let mut a = at("rendered-worker-old", "rendered-worker-new", "Done");
            a.push((keys::DESIRED_DRAIN, "uncordon-x"));
            a.push((keys::LAST_APPLIED_DRAIN, "uncordon-x"));
            a
        };
        let five = Some(GoDuration::from_mins(5));
        let zero = Some(GoDuration::default());
        /// (annotations, paused pool, Updating (status, reason), estimate, version)
        type Row<'a> = (
            Vec<(&'a str, &'a str)>,
            bool,
            (ConditionStatus, &'a str),
            Option<GoDuration>,
            Option<&'a str>,
        );
        let rows: Vec<Row<'_>> = vec![
            (
                at("rendered-worker-new", "rendered-worker-new", "Done"),
                false,
                (ConditionStatus::False, "Completed"),
                zero,
                Some("4.15.0"),
            ),
            (
                at("rendered-worker-old", "rendered-worker-new", "Working"),
                false,
                (ConditionStatus::True, "Updating"),
                five,
                Some("4.14.0"),
            ),
            (
                at("rendered-worker-old", "rendered-worker-new", ""),
                false,
                (ConditionStatus::True, "Updating"),
                five,
                Some("4.14.0"),
            ),
            (
                at("rendered-worker-old", "rendered-worker-new", "Rebooting"),
                false,
                (ConditionStatus::True, "Rebooting"),
                five,
                Some("4.14.0"),
            ),
            (
                drain("Working"),
                false,
                (ConditionStatus::True, "Draining"),
                Some(GoDuration::from_mins(10)),
                Some("4.14.0"),
            ),
            // The daemon has not left Done yet: oc counts it as draining.
            (
                done_drain,
                false,
                (ConditionStatus::True, "Draining"),
                Some(GoDuration::from_mins(10)),
                Some("4.14.0"),
            ),
            (
                at("rendered-worker-old", "rendered-worker-old", "Done"),
                false,
                (ConditionStatus::False, "Pending"),
                None,
                Some("4.14.0"),
            ),
            (
                at("rendered-worker-old", "rendered-worker-old", "Done"),
                true,
                (ConditionStatus::False, "Paused"),
                zero,
                Some("4.14.0"),
            ),
            // Desired config is not the pool's target: not updating yet.
            (
                at("rendered-worker-old", "rendered-other", "Working"),
                false,
                (ConditionStatus::False, "Pending"),
                None,
                Some("4.14.0"),
            ),
            // Unknown current MachineConfig: version unknown, pending.
            (
                at("rendered-gone", "rendered-gone", "Done"),
                false,
                (ConditionStatus::False, "Pending"),
                None,
                None,
            ),
        ];
        for (annotations, paused, updating, est, version) in rows {
            let out = run(
                &[pool("worker", "worker", paused)],
                &[node("w", &["worker"], &annotations)],
            );
            let n = nodes_of(&out)[0];
            assert_eq!(cond(&n.conditions, "Updating"), updating, "{annotations:?}");
            assert_eq!(
                n.estimated_to_complete_seconds,
                est.and_then(whole_seconds),
                "{annotations:?}"
            );
            assert_eq!(n.version.as_deref(), version, "{annotations:?}");
        }
    }

    #[test]
    fn done_daemon_while_updating_is_finishing() {
        // isUpdating with state Done and no drain annotations: phase Updated, not completed.
        let out = run(
            &[pool("worker", "worker", false)],
            &[node(
                "w",
                &["worker"],
                &at("rendered-worker-old", "rendered-worker-new", "Done"),
            )],
        );
        let n = nodes_of(&out)[0];
        assert_eq!(
            cond(&n.conditions, "Updating"),
            (ConditionStatus::False, "Finishing")
        );
        assert_eq!(n.estimated_to_complete_seconds, Seconds::new(0).ok());
        // Not done (current != desired) and the daemon is not Degraded: unavailable while updating.
        assert_eq!(
            cond(&n.conditions, "Available"),
            (ConditionStatus::False, "Updating")
        );
        let p = pools_of(&out)[0];
        assert_eq!(p.completion.map(|c| c.get()), Some(100));
    }

    #[test]
    fn multi_arch_migration_requires_matching_annotations() {
        let mut v = cv("True");
        v.status.history[1].version = "4.15.0".into();
        let mut m = mcs();
        m.push(mc("rendered-worker-arch", "4.15.0"));
        let pools = [pool("worker", "worker", false)];
        let n = node(
            "w",
            &["worker"],
            &at("rendered-worker-arch", "rendered-worker-new", "Working"),
        );
        let out =
            assess_machine_config(&v, &pools, &m, std::slice::from_ref(&n), ts(NOW), ts(WALL));
        assert_eq!(
            cond(&nodes_of(&out)[0].conditions, "Updating"),
            (ConditionStatus::True, "Updating")
        );
        // Without Progressing the migration is over: the version alone decides.
        v.status.conditions[0].status = "False".into();
        let out = assess_machine_config(&v, &pools, &m, &[n], ts(NOW), ts(WALL));
        assert_eq!(
            cond(&nodes_of(&out)[0].conditions, "Updating"),
            (ConditionStatus::False, "Completed")
        );
    }

    #[test]
    fn unavailable_and_degraded_override_the_row() {
        let mut not_ready = node(
            "node-not-ready",
            &["worker"],
            &at("rendered-worker-old", "rendered-worker-old", "Done"),
        );
        if let Some(c) = not_ready
            .status
            .as_mut()
            .and_then(|s| s.conditions.as_mut())
        {
            c[0].status = "False".into();
            c[0].message = Some("kubelet stopped".into());
            c[0].last_transition_time = Some(Time(ts("2024-01-01T11:37:16Z").0));
        }
        let mut updated_cordoned = node(
            "node-cordoned",
            &["worker"],
            &at("rendered-worker-new", "rendered-worker-new", "Done"),
        );
        updated_cordoned.spec = Some(NodeSpec {
            unschedulable: Some(true),
            ..Default::default()
        });
        let mut degraded = at("rendered-worker-old", "rendered-worker-new", "Degraded");
        degraded.push((
            keys::REASON,
            "failed to drain node: node-degraded after 1 hour",
        ));
        let degraded = node("node-degraded", &["worker"], &degraded);
        let out = run(
            &[pool("worker", "worker", false)],
            &[not_ready, updated_cordoned, degraded],
        );
        let n = nodes_of(&out);

        assert_eq!(
            cond(&n[0].conditions, "Available"),
            (ConditionStatus::False, "Unavailable")
        );
        assert_eq!(n[0].message.as_deref(), Some("Not ready"));
        assert_eq!(n[0].estimated_to_complete_seconds, None);
        let available = find_condition(&n[0].conditions, "Available").unwrap();
        assert_eq!(
            available.message.as_str(),
            "Node node-not-ready is not ready"
        );
        assert_eq!(available.last_transition_time, ts("2024-01-01T11:37:16Z"));

        assert_eq!(
            cond(&n[1].conditions, "Available"),
            (ConditionStatus::False, "Unavailable")
        );
        assert_eq!(
            cond(&n[1].conditions, "Updating"),
            (ConditionStatus::False, "Completed")
        );
        assert_eq!(
            n[1].message.as_deref(),
            Some("Node is marked unschedulable")
        );
        assert_eq!(n[1].estimated_to_complete_seconds, Seconds::new(0).ok());

        assert_eq!(
            cond(&n[2].conditions, "Degraded"),
            (ConditionStatus::True, "Degraded")
        );
        assert_eq!(
            n[2].message.as_deref(),
            Some("failed to drain node: node-degraded after 1 hour")
        );
        assert_eq!(n[2].estimated_to_complete_seconds, None);

        // Health: the not-ready node (long ago by the wall clock) and the degraded node; the
        // cordoned node is not serious.
        let h = health_of(&out);
        let summaries: Vec<&str> = h.iter().map(|h| h.impact.summary.as_str()).collect();
        assert_eq!(
            summaries,
            [
                "Node node-not-ready is not ready",
                "Node node-degraded is degraded"
            ]
        );
        assert_eq!(
            (h[0].impact.level, h[0].impact.type_),
            (ImpactLevel::Warning, ImpactType::UpdateSpeed)
        );
        assert_eq!(h[0].started_at, Some(ts("2024-01-01T11:37:16Z")));
        assert_eq!(
            h[0].impact.description.as_deref(),
            Some(
                "Node has a Ready!=True condition with Reason \"Not ready\" and message \"kubelet stopped\""
            )
        );
        assert_eq!(
            (h[1].impact.level, h[1].impact.type_),
            (ImpactLevel::Error, ImpactType::UpdateStalled)
        );
        assert_eq!(h[1].started_at, None);
        assert_eq!(h[1].scope.pool.as_deref(), Some("worker"));

        let p = pools_of(&out)[0];
        let counts: Vec<(NodeSummaryType, i32)> = p
            .summaries
            .iter()
            .map(|s| (s.type_, s.count.get()))
            .collect();
        assert_eq!(
            counts,
            [
                (NodeSummaryType::Total, 3),
                (NodeSummaryType::Available, 1),
                (NodeSummaryType::Progressing, 0),
                (NodeSummaryType::Outdated, 2),
                (NodeSummaryType::Draining, 0),
                (NodeSummaryType::Excluded, 0),
                (NodeSummaryType::Degraded, 1),
            ]
        );
        assert_eq!(p.assessment, PoolAssessment::Degraded);
        assert_eq!(p.completion.map(|c| c.get()), Some(33));
    }

    #[test]
    fn fresh_not_ready_node_and_degraded_node_without_reason_give_no_insight() {
        let mut fresh = node(
            "fresh",
            &["worker"],
            &at("rendered-worker-old", "rendered-worker-old", "Done"),
        );
        if let Some(c) = fresh.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            c[0].status = "False".into();
            c[0].last_transition_time = Some(Time(ts("2029-12-31T23:58:00Z").0));
        }
        let quiet = node(
            "quiet",
            &["worker"],
            &at("rendered-worker-old", "rendered-worker-new", "Degraded"),
        );
        let out = run(&[pool("worker", "worker", false)], &[fresh, quiet]);
        assert!(health_of(&out).is_empty());
        assert_eq!(
            cond(&nodes_of(&out)[1].conditions, "Degraded"),
            (ConditionStatus::True, "Degraded")
        );
    }

    fn assessed(phase: Phase, unavailable: bool, degraded: bool) -> NodeAssessment {
        NodeAssessment {
            name: "n".into(),
            phase,
            version: String::new(),
            estimate: None,
            message: String::new(),
            is_unavailable: unavailable,
            is_degraded: degraded,
            is_updating: false,
            is_updated: phase == Phase::Updated,
            unavailable_message: String::new(),
            unavailable_since: None,
        }
    }

    #[test]
    fn pool_counts_and_assessment_table() {
        use Phase::*;
        let rows: Vec<(Vec<NodeAssessment>, PoolAssessment, [usize; 7])> = vec![
            (vec![], PoolAssessment::Completed, [0, 0, 0, 0, 0, 0, 0]),
            (
                vec![assessed(Updated, false, false); 2],
                PoolAssessment::Completed,
                [2, 2, 0, 0, 0, 0, 0],
            ),
            (
                vec![assessed(Pending, false, false); 2],
                PoolAssessment::Pending,
                [2, 2, 0, 2, 0, 0, 0],
            ),
            (
                vec![
                    assessed(Paused, false, false),
                    assessed(Updated, false, false),
                ],
                PoolAssessment::Excluded,
                [2, 2, 0, 1, 0, 1, 0],
            ),
            (
                vec![
                    assessed(Draining, true, true),
                    assessed(Draining, false, false),
                ],
                PoolAssessment::Degraded,
                [2, 1, 1, 2, 2, 0, 1],
            ),
            (
                vec![
                    assessed(Updating, true, false),
                    assessed(Rebooting, false, false),
                    assessed(Pending, false, false),
                ],
                PoolAssessment::Progressing,
                [3, 2, 2, 3, 0, 0, 0],
            ),
        ];
        for (
            nodes,
            want,
            [
                total,
                available,
                progressing,
                outdated,
                draining,
                excluded,
                degraded,
            ],
        ) in rows
        {
            let (c, a) = count_pool(&nodes);
            assert_eq!(a, want, "{nodes:?}");
            assert_eq!(
                (
                    c.total,
                    c.available,
                    c.progressing,
                    c.outdated,
                    c.draining,
                    c.excluded,
                    c.degraded
                ),
                (
                    total,
                    available,
                    progressing,
                    outdated,
                    draining,
                    excluded,
                    degraded
                ),
                "{nodes:?}"
            );
        }
    }

    #[test]
    fn paused_pools_with_excluded_nodes_get_an_insight_scoped_to_the_pool() {
        let pools = [
            pool("master", "master", true),
            pool("worker", "worker", true),
        ];
        let nodes = [
            node(
                "m",
                &["master"],
                &at("rendered-master-old", "rendered-master-old", "Done"),
            ),
            node(
                "w",
                &["worker"],
                &at("rendered-worker-new", "rendered-worker-new", "Done"),
            ),
        ];
        let out = run(&pools, &nodes);
        let h = health_of(&out);
        // The worker pool is paused but has nothing excluded (its node is updated).
        assert_eq!(h.len(), 1);
        assert_eq!(
            h[0].impact.summary.as_str(),
            "Outdated nodes in a paused pool 'master' will not be updated"
        );
        assert_eq!(
            (h[0].scope.type_, h[0].scope.pool.as_deref()),
            (ScopeType::WorkerPool, Some("master"))
        );
        assert_eq!(
            h[0].scope.resources[0].resource.as_str(),
            "machineconfigpools"
        );
        assert_eq!(h[0].started_at, None);
        let uids: Vec<&str> = out.iter().map(|r| r.uid.as_str()).collect();
        assert_eq!(&uids[..2], ["mcp-master", "node-m"]);
        assert!(uids[2].starts_with("mcp-paused-"));
        let p = pools_of(&out);
        assert_eq!(
            (p[0].assessment, p[0].completion.map(|c| c.get())),
            (PoolAssessment::Excluded, Some(0))
        );
        assert_eq!(
            cond(&p[0].conditions, "Updating"),
            (ConditionStatus::False, "Paused")
        );
        assert_eq!(
            cond(&p[1].conditions, "Updating"),
            (ConditionStatus::False, "Completed")
        );
    }

    #[test]
    fn empty_pool_has_no_completion() {
        let out = run(&[pool("zbeast", "zbeast", false)], &[]);
        let p = pools_of(&out)[0];
        assert!(p.completion.is_none());
        assert_eq!(p.assessment, PoolAssessment::Completed);
        assert_eq!(p.summaries.len(), 7);
    }
}
