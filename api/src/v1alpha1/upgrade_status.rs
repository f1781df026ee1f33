//! `UpgradeStatus`: the cluster-scoped singleton `cluster` that tells any reader how the update
//! goes. Everything lives in the status subresource; only the controller writes it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Conditions, InformerName, ObjectName, ResourceRef, Version};
use super::insight::{Insight, InsightType, NodeCount, Percent};
use crate::constraints::BoundedVec;
use crate::time::Timestamp;

/// The singleton has no configuration; `spec` exists because Kubernetes objects carry one.
// Each printer column repeats `type_`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "update.openshift.io",
    version = "v1alpha1",
    kind = "UpgradeStatus",
    plural = "upgradestatuses",
    singular = "upgradestatus",
    status = "UpgradeStatusStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "UpgradeStatus reports how a cluster update is going: one object named cluster, written by the update-status-controller from the insights of its informers.",
    printcolumn(
        name = "Updating",
        type_ = "string",
        json_path = ".status.controlPlane.conditions[?(@.type==\"Updating\")].status",
        description = "Whether the control plane is updating"
    ),
    printcolumn(
        name = "Target",
        type_ = "string",
        json_path = ".status.controlPlane.targetVersion",
        description = "The version the cluster is updating to"
    ),
    printcolumn(
        name = "Completion",
        type_ = "integer",
        json_path = ".status.controlPlane.completion",
        description = "Percent of control-plane operators updated"
    ),
    printcolumn(
        name = "Health",
        type_ = "integer",
        json_path = ".status.healthInsights",
        description = "Number of health insights"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct UpgradeStatusSpec {}

/// The only name an UpgradeStatus may have.
pub const UPGRADE_STATUS_NAME: &str = "cluster";

/// At most this many worker pools.
///
/// With [`MAX_INFORMERS`] and [`MAX_INSIGHTS_PER_INFORMER`] this bounds how often the API server
/// must expect to evaluate a per-insight CEL rule: the real kube-apiserver refused the CRD when the
/// product was 32 × 16 × 8192 ("estimated rule cost exceeds budget by factor of 2.1x").
/// `tests/real_api_install.rs` keeps the product at half the budget or less.
pub const MAX_WORKER_POOLS: usize = 32;
/// At most this many informers contribute to one scope.
pub const MAX_INFORMERS: usize = 16;
/// At most this many informer summaries in the object. More informers may be registered: owners
/// of the update's status and informers whose insights the object holds are summarized first,
/// and the rest are counted in `omittedInformers`.
pub const MAX_INFORMER_SUMMARIES: usize = 64;
/// At most this many insights from one informer in one scope. The stored-size budget (etcd
/// refuses objects over about 1.5 MiB, server-side apply's managedFields included) leaves room
/// for fewer node insights than this anyway.
pub const MAX_INSIGHTS_PER_INFORMER: usize = 1024;

/// What the controller publishes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStatusStatus {
    /// The controller's own health (`Available`, `Degraded`), so a reader can tell whether the
    /// rest is fresh. Not about the update.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Conditions,
    /// The moment this status describes: set each time the controller publishes a change.
    /// `status --file` renders the object as of this moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<Timestamp>,
    /// The control plane: the ClusterVersion, its operators and the control-plane pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlane>,
    /// Each worker pool, keyed by name.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub worker_pools: BoundedVec<WorkerPool, MAX_WORKER_POOLS>,
    /// One summary per informer, built-in or remote, keyed by name.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub informers: BoundedVec<InformerSummary, MAX_INFORMER_SUMMARIES>,
    /// How many informers have no summary in `informers` because the list is full; absent
    /// unless more than [`MAX_INFORMER_SUMMARIES`] informers are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted_informers: Option<NodeCount>,
    /// How many health insights the object holds (for `oc get`).
    #[serde(default)]
    pub health_insights: NodeCount,
}

/// The insights one informer contributed to one scope.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InformerInsights {
    /// The informer; the list key.
    pub name: InformerName,
    /// Its insights, keyed by uid, in the order the informer reported them.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["uid"]))]
    pub insights: BoundedVec<Insight, MAX_INSIGHTS_PER_INFORMER>,
}

/// The control plane.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlane {
    /// `Updating`, derived from the ClusterVersion insight.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Conditions,
    /// The ClusterVersion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    /// The pool of control-plane nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_resource: Option<ResourceRef>,
    /// The version the control plane is updating to (copied from the ClusterVersion insight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<Version>,
    /// Percent of control-plane operators updated (copied from the ClusterVersion insight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<Percent>,
    /// What each informer says about the control plane, keyed by informer name.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub informers: BoundedVec<InformerInsights, MAX_INFORMERS>,
}

/// One worker pool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerPool {
    /// The pool's name; the list key.
    pub name: ObjectName,
    /// The MachineConfigPool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    /// `Updating`, derived from the MachineConfigPool insight.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Conditions,
    /// What each informer says about this pool, keyed by informer name.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub informers: BoundedVec<InformerInsights, MAX_INFORMERS>,
}

/// Whether an informer is delivering.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum InformerState {
    /// Reporting within its interval.
    Reporting,
    /// Missed three intervals; its last insights are still shown.
    Stale,
    /// Registered but has not reported yet.
    NeverReported,
    /// Switched off by an administrator (or stepped aside for a remote informer).
    Disabled,
}

/// Where an informer runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum InformerSource {
    /// A scraper inside the controller.
    BuiltIn,
    /// A remote producer registered with an UpdateInformer, reporting over HTTPS.
    Remote,
}

impl InformerSource {
    /// `BuiltIn` for a built-in informer, else `Remote`.
    pub fn of(builtin: bool) -> Self {
        if builtin {
            InformerSource::BuiltIn
        } else {
            InformerSource::Remote
        }
    }
}

/// How many insights of one type were left out of the object to keep it within its size budget.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OmittedInsights {
    /// The insight type; the list key.
    #[serde(rename = "type")]
    pub type_: InsightType,
    /// How many were left out.
    pub count: NodeCount,
}

/// One informer at a glance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InformerSummary {
    /// The informer; the list key.
    pub name: InformerName,
    /// Whether it is built into the controller (a scraper) or a remote producer.
    pub source: InformerSource,
    /// Whether it is delivering.
    pub state: InformerState,
    /// When it last reported (or, for a built-in informer, last recomputed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report_time: Option<Timestamp>,
    /// How many insights it holds, including those left out of this object.
    pub insights: NodeCount,
    /// Insights left out of this object for size, by type.
    #[serde(default, skip_serializing_if = "<[OmittedInsights]>::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub omitted: BoundedVec<OmittedInsights, 5>,
}
