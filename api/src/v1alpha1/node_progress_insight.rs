//! `NodeProgressInsight`: one cluster-scoped object per node, named after the node, holding that
//! node's insight. Node insights live here rather than in `UpgradeStatus/cluster` so that the
//! singleton's size does not grow with the cluster (a 5,000-node singleton was refused by etcd)
//! and a node's change rewrites about a kilobyte instead of the whole object. The objects are
//! owned by `UpgradeStatus/cluster`, so they go away with it; only the controller writes them.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{InformerName, Uid};
use super::insight::NodeInsight;
use crate::time::Timestamp;

/// A node's object has no configuration; `spec` exists because Kubernetes objects carry one.
// Each printer column repeats `type_`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "update.openshift.io",
    version = "v1alpha1",
    kind = "NodeProgressInsight",
    plural = "nodeprogressinsights",
    singular = "nodeprogressinsight",
    status = "NodeProgressInsightStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "NodeProgressInsight reports how the update of one node goes: one object per node, named after it, written by the update-status-controller and owned by UpgradeStatus/cluster.",
    printcolumn(
        name = "Pool",
        type_ = "string",
        json_path = ".status.poolResource.name",
        description = "The MachineConfigPool of the node"
    ),
    printcolumn(
        name = "Updating",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Updating\")].reason",
        description = "Where the node is in its update"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.version",
        description = "The release version the node runs"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct NodeProgressInsightSpec {}

/// The CEL rule that names each object after its node (as #2233 did), so a reader can GET the
/// insight of a node it knows by name.
pub const NODE_NAME_RULE: &str = "!has(self.status) || self.status.name == self.metadata.name";

/// What the controller publishes about one node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeProgressInsightStatus {
    /// The informer that reported the insight.
    pub informer: InformerName,
    /// The insight's uid within that informer.
    pub uid: Uid,
    /// When the controller first received this exact content (a repeated report keeps it).
    pub acquired_at: Timestamp,
    /// The insight; `name` equals the object's name.
    #[serde(flatten)]
    pub node: NodeInsight,
}
