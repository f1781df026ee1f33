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
    Draining,
    Updating,
    Rebooting,
    Paused,
    Pending,
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
        estimated_to_complete: a.estimate,
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
    pub total: usize,
    pub available: usize,
    pub progressing: usize,
    pub outdated: usize,
    pub draining: usize,
    pub excluded: usize,
    pub degraded: usize,
    pub updated: usize,
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
    NodeCount::new(
        i32::try_from(n)
            .unwrap_or(NodeCount::MAX)
            .min(NodeCount::MAX),
    )
    .unwrap_or_default()
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
