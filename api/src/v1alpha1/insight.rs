//! Insights: one fact about the update from one informer. Status insights describe one resource
//! (the ClusterVersion, a ClusterOperator, a MachineConfigPool, a Node); health insights describe
//! something abnormal, with its impact and remediation.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::common::{
    Conditions, MAX_SCOPE_RESOURCES, ObjectName, Paragraph, ResourceRef, ShortText, Uid, Url,
    Version,
};
use crate::constraints::{BoundedVec, bounded_int};
use crate::time::Timestamp;

bounded_int!(
    /// A percentage of work done.
    Percent(i32), min = 0, max = 100
);

bounded_int!(
    /// A duration in whole seconds, never negative, at most 30 days: an integer with its unit in
    /// the field name, as OpenShift APIs spell durations (a Go duration string admitted "0" and
    /// "99999999999h").
    Seconds(i64), min = 0, max = 2_592_000
);

bounded_int!(
    /// A number of nodes; comfortably above the largest supported cluster.
    NodeCount(i32), min = 0, max = 100_000
);

/// One stored insight: the producer's uid, when the controller first saw this content, and the
/// content itself.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Insight {
    /// Unique within the informer; the key of the list.
    pub uid: Uid,
    /// When the controller first received this exact content (a repeated report keeps it).
    pub acquired_at: Timestamp,
    /// What the insight says.
    pub insight: InsightPayload,
}

/// The discriminator of the insight union; each value names the member that must be present.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum InsightType {
    ClusterVersion,
    ClusterOperator,
    MachineConfigPool,
    Node,
    Health,
}

impl InsightType {
    /// Every insight type, in the order the union lists them.
    pub const ALL: [InsightType; 5] = [
        InsightType::ClusterVersion,
        InsightType::ClusterOperator,
        InsightType::MachineConfigPool,
        InsightType::Node,
        InsightType::Health,
    ];

    /// The `oneOf` branches that tie each `type` to its member, for the CRD schema.
    pub fn union_branches() -> serde_json::Value {
        InsightType::ALL
            .iter()
            .map(|t| serde_json::json!({"required": [t.member()], "properties": {"type": {"enum": [t.as_str()]}}}))
            .collect()
    }

    /// The JSON field of the member this type selects.
    pub fn member(self) -> &'static str {
        match self {
            InsightType::ClusterVersion => "clusterVersion",
            InsightType::ClusterOperator => "clusterOperator",
            InsightType::MachineConfigPool => "machineConfigPool",
            InsightType::Node => "node",
            InsightType::Health => "health",
        }
    }

    /// The name used in the wire format and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            InsightType::ClusterVersion => "ClusterVersion",
            InsightType::ClusterOperator => "ClusterOperator",
            InsightType::MachineConfigPool => "MachineConfigPool",
            InsightType::Node => "Node",
            InsightType::Health => "Health",
        }
    }

    /// Status insights describe one resource; only the informers that own those resources send them.
    pub fn is_status(self) -> bool {
        self != InsightType::Health
    }
}

/// The content of an insight: a tagged union written as `{type: X, <member of X>: {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "InsightUnion", into = "InsightUnion")]
pub enum InsightPayload {
    ClusterVersion(Box<ClusterVersionInsight>),
    ClusterOperator(ClusterOperatorInsight),
    MachineConfigPool(MachineConfigPoolInsight),
    Node(NodeInsight),
    Health(Box<HealthInsight>),
}

impl InsightPayload {
    /// The conditions of a status insight (a health insight has none).
    pub fn conditions(&self) -> &[super::common::Condition] {
        match self {
            InsightPayload::ClusterVersion(x) => &x.conditions,
            InsightPayload::ClusterOperator(x) => &x.conditions,
            InsightPayload::MachineConfigPool(x) => &x.conditions,
            InsightPayload::Node(x) => &x.conditions,
            InsightPayload::Health(_) => &[],
        }
    }

    /// Carries `lastTransitionTime` over from `old` (an earlier version of the same insight) to
    /// each condition whose `status` did not change, as `metav1` `SetStatusCondition` does: a
    /// transition time moves only when the status does, not when the reason or message does.
    pub fn keep_transition_times(&mut self, old: &InsightPayload) {
        let old = old.conditions();
        if old.is_empty() {
            return;
        }
        let carry = |list: &mut Conditions| {
            let mut v = std::mem::take(list).into_vec();
            for c in &mut v {
                if let Some(o) = old
                    .iter()
                    .find(|o| o.type_ == c.type_ && o.status == c.status)
                {
                    c.last_transition_time = o.last_transition_time;
                }
            }
            // Same length as before, so it still fits.
            *list = BoundedVec::new(v).unwrap_or_default();
        };
        match self {
            InsightPayload::ClusterVersion(x) => carry(&mut x.conditions),
            InsightPayload::ClusterOperator(x) => carry(&mut x.conditions),
            InsightPayload::MachineConfigPool(x) => carry(&mut x.conditions),
            InsightPayload::Node(x) => carry(&mut x.conditions),
            InsightPayload::Health(_) => {}
        }
    }

    /// The union discriminator of this payload.
    pub fn insight_type(&self) -> InsightType {
        match self {
            InsightPayload::ClusterVersion(_) => InsightType::ClusterVersion,
            InsightPayload::ClusterOperator(_) => InsightType::ClusterOperator,
            InsightPayload::MachineConfigPool(_) => InsightType::MachineConfigPool,
            InsightPayload::Node(_) => InsightType::Node,
            InsightPayload::Health(_) => InsightType::Health,
        }
    }
}

/// The wire shape of [`InsightPayload`]: the discriminator and at most one member.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
struct InsightUnion {
    #[serde(rename = "type")]
    type_: Option<InsightType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cluster_version: Option<Box<ClusterVersionInsight>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cluster_operator: Option<ClusterOperatorInsight>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    machine_config_pool: Option<MachineConfigPoolInsight>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<NodeInsight>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    health: Option<Box<HealthInsight>>,
}

/// Why a union was refused.
#[derive(Debug, thiserror::Error)]
pub enum UnionError {
    /// `type` is absent.
    #[error(
        "type is required (one of ClusterVersion, ClusterOperator, MachineConfigPool, Node, Health)"
    )]
    MissingType,
    /// The member named by `type` is absent.
    #[error("type is {0} but {1} is missing")]
    MissingMember(&'static str, &'static str),
    /// A member other than the one named by `type` is present.
    #[error("type is {0} so only {1} may be set, but {2} is set too")]
    ExtraMember(&'static str, &'static str, &'static str),
}

impl TryFrom<InsightUnion> for InsightPayload {
    type Error = UnionError;
    fn try_from(u: InsightUnion) -> Result<Self, UnionError> {
        let t = u.type_.ok_or(UnionError::MissingType)?;
        let present = [
            (InsightType::ClusterVersion, u.cluster_version.is_some()),
            (InsightType::ClusterOperator, u.cluster_operator.is_some()),
            (
                InsightType::MachineConfigPool,
                u.machine_config_pool.is_some(),
            ),
            (InsightType::Node, u.node.is_some()),
            (InsightType::Health, u.health.is_some()),
        ];
        if let Some((other, _)) = present.iter().find(|(k, set)| *set && *k != t) {
            return Err(UnionError::ExtraMember(
                t.as_str(),
                t.member(),
                other.member(),
            ));
        }
        let missing = || UnionError::MissingMember(t.as_str(), t.member());
        Ok(match t {
            InsightType::ClusterVersion => {
                InsightPayload::ClusterVersion(u.cluster_version.ok_or_else(missing)?)
            }
            InsightType::ClusterOperator => {
                InsightPayload::ClusterOperator(u.cluster_operator.ok_or_else(missing)?)
            }
            InsightType::MachineConfigPool => {
                InsightPayload::MachineConfigPool(u.machine_config_pool.ok_or_else(missing)?)
            }
            InsightType::Node => InsightPayload::Node(u.node.ok_or_else(missing)?),
            InsightType::Health => InsightPayload::Health(u.health.ok_or_else(missing)?),
        })
    }
}

impl From<InsightPayload> for InsightUnion {
    fn from(p: InsightPayload) -> Self {
        let mut u = InsightUnion {
            type_: Some(p.insight_type()),
            ..Default::default()
        };
        match p {
            InsightPayload::ClusterVersion(x) => u.cluster_version = Some(x),
            InsightPayload::ClusterOperator(x) => u.cluster_operator = Some(x),
            InsightPayload::MachineConfigPool(x) => u.machine_config_pool = Some(x),
            InsightPayload::Node(x) => u.node = Some(x),
            InsightPayload::Health(x) => u.health = Some(x),
        }
        u
    }
}

impl JsonSchema for InsightPayload {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "InsightPayload".into()
    }
    /// The union is expressed without CEL, so it costs nothing against the API server's CEL
    /// budget however many insights the object holds: at most two properties here, and the
    /// `oneOf` that ties `type` to its member is added by [`crate::crd`] (kube's structural
    /// rewriter would hoist it away if it were emitted here).
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let types: Vec<&str> = InsightType::ALL.iter().map(|t| t.as_str()).collect();
        json_schema!({
            "description": "A tagged union: `type` names the one member that is set.",
            "type": "object",
            "required": ["type"],
            "maxProperties": 2,
            "properties": {
                "type": {"type": "string", "enum": types, "description": "Which member is set."},
                "clusterVersion": g.subschema_for::<ClusterVersionInsight>(),
                "clusterOperator": g.subschema_for::<ClusterOperatorInsight>(),
                "machineConfigPool": g.subschema_for::<MachineConfigPoolInsight>(),
                "node": g.subschema_for::<NodeInsight>(),
                "health": g.subschema_for::<HealthInsight>(),
            },
        })
    }
}

/// Whether an insight belongs to the control plane or to a worker pool.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ScopeType {
    ControlPlane,
    WorkerPool,
}

/// How the control-plane update is going. Whether a progressing update is slow or stalled
/// depends on "now", so it is not stored: readers derive it from the estimate's inputs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ClusterVersionAssessment {
    /// Not enough information.
    Unknown,
    /// Some control-plane operator is not updated yet.
    Progressing,
    /// Every control-plane operator is updated.
    Completed,
}

/// The release the control plane is updating to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetVersion {
    /// The version; absent when the ClusterVersion has no history yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// Set when the update keeps the version and changes the payload architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<Architecture>,
}

/// A payload architecture change.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Architecture {
    /// Migrating to the multi-architecture payload.
    Multi,
}

/// How far the update to a version got, as the ClusterVersion's history says (an enum rather
/// than a boolean, so a third state can be added without a new field).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum UpdateState {
    /// Every component reached the version.
    Completed,
    /// The update to the version never completed.
    Partial,
}

/// The release the control plane is updating from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousVersion {
    /// The version.
    pub version: Version,
    /// Whether the update to this version completed.
    pub state: UpdateState,
}

/// Versions of the current (or last) update. No `previous` means a new install, so the two drafts'
/// `Installation` metadata and the CEL rules that policed it are not needed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneVersions {
    /// Where the update goes.
    pub target: TargetVersion,
    /// Where it comes from; absent for a new install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousVersion>,
}

/// The control plane as a whole: the ClusterVersion's update.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterVersionInsight {
    /// The ClusterVersion's name (normally `version`).
    pub name: ObjectName,
    /// The ClusterVersion.
    pub resource: ResourceRef,
    /// `Updating`: True while the control plane updates.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Conditions,
    /// For display; machines should read the conditions.
    pub assessment: ClusterVersionAssessment,
    /// From where to where.
    pub versions: ControlPlaneVersions,
    /// Share of control-plane operators updated.
    pub completion: Percent,
    /// When the update began; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When the control plane finished updating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// The release's ClusterOperators updated so far and in all: the exact share of the update
    /// done, which the estimate needs (`completion` is rounded).
    pub operators: OperatorCounts,
    /// When an operator last changed its `Progressing` condition (the machine-config operator's
    /// start, when it is the last one updating): the last observed progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_progress_at: Option<Timestamp>,
    /// How long the last completed update took (an hour when the history has none): the
    /// baseline of the estimate.
    ///
    /// The object stores the estimate's inputs, never the estimate: an estimate is computed
    /// from "now", so storing it would rewrite the object on every evaluation while nothing
    /// happened. Readers compute the time remaining, and whether the update is slow or
    /// stalled, as of their own now (`docs/object-contract.md` gives the formula).
    pub expected_duration_seconds: Seconds,
}

/// How many ClusterOperators of the release are updated.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorCounts {
    /// Operators at the target version.
    pub updated: NodeCount,
    /// Operators of the release.
    pub total: NodeCount,
}

/// One ClusterOperator of the release payload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOperatorInsight {
    /// The operator's name.
    pub name: ObjectName,
    /// The ClusterOperator.
    pub resource: ResourceRef,
    /// `Updating` (reasons Updated, Pending, or the operator's own Progressing reason while it
    /// updates) and `Healthy` (AsExpected, Unavailable, Degraded).
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Conditions,
}

/// How a pool's update is going.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum PoolAssessment {
    Pending,
    Completed,
    Degraded,
    Excluded,
    Progressing,
}

/// The node counters of a pool; a node may be counted under several.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum NodeSummaryType {
    Total,
    Available,
    Progressing,
    Outdated,
    Draining,
    Excluded,
    Degraded,
}

/// One node counter.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    /// What is counted; the list key.
    #[serde(rename = "type")]
    pub type_: NodeSummaryType,
    /// How many nodes.
    pub count: NodeCount,
}

/// One MachineConfigPool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MachineConfigPoolInsight {
    /// The pool's name.
    pub name: ObjectName,
    /// The MachineConfigPool.
    pub resource: ResourceRef,
    /// ControlPlane for the pool of control-plane nodes.
    pub scope_type: ScopeType,
    /// For display.
    pub assessment: PoolAssessment,
    /// Share of the pool's nodes updated; absent for a pool without nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<Percent>,
    /// Node counters, keyed by type.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub summaries: BoundedVec<NodeSummary, 7>,
    /// `Updating`.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Conditions,
}

/// One node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeInsight {
    /// The node's name.
    pub name: ObjectName,
    /// The Node.
    pub resource: ResourceRef,
    /// The pool the node belongs to.
    pub pool_resource: ResourceRef,
    /// ControlPlane for control-plane nodes.
    pub scope_type: ScopeType,
    /// The release version the node runs now; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// Seconds left for this node; absent when unknown, zero when it has nothing left to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_to_complete_seconds: Option<Seconds>,
    /// A note for interesting states (why it is unavailable or degraded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Paragraph>,
    /// `Updating` (reasons Draining, Updating, Rebooting, Completed, Paused, Pending),
    /// `Available` and `Degraded`.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Conditions,
}

/// How bad a health insight is.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum ImpactLevel {
    Unknown,
    Info,
    Warning,
    Error,
    Critical,
}

/// What a health insight affects. PascalCase on the wire, as OpenShift API enums are; the
/// renderer prints `oc`'s words ("API Availability", "Update Speed").
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ImpactType {
    None,
    Unknown,
    ApiAvailability,
    ClusterCapacity,
    ApplicationAvailability,
    ApplicationOutage,
    DataLoss,
    UpdateSpeed,
    UpdateStalled,
}

/// Where a health insight belongs and what it involves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.type == 'WorkerPool' ? has(self.pool) : !has(self.pool)",
    "message": "pool must be set exactly when type is WorkerPool",
}]))]
pub struct InsightScope {
    /// The control plane or a worker pool.
    #[serde(rename = "type")]
    pub type_: ScopeType,
    /// The worker pool's name, when `type` is WorkerPool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<ObjectName>,
    /// The objects involved.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub resources: BoundedVec<ResourceRef, MAX_SCOPE_RESOURCES>,
}

/// The impact of a health insight.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InsightImpact {
    /// Severity.
    pub level: ImpactLevel,
    /// Category.
    #[serde(rename = "type")]
    pub type_: ImpactType,
    /// One line, shown in the health table.
    pub summary: ShortText,
    /// A paragraph, shown with `--details=health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Paragraph>,
}

/// How to fix what a health insight reports.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InsightRemediation {
    /// Documentation or a runbook; absent when the source has none (an alert without a
    /// `runbook_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Url>,
    /// When the producer expects the problem to clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_finish: Option<Timestamp>,
}

/// Something abnormal that affects, or is affected by, the update.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthInsight {
    /// When the condition began; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// Where it belongs and what it involves.
    pub scope: InsightScope,
    /// How bad it is.
    pub impact: InsightImpact,
    /// How to fix it.
    pub remediation: InsightRemediation,
}
