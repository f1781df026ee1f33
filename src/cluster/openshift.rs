//! Minimal, tolerant serde types for the OpenShift objects the built-in informers read. Only the
//! fields the rules use are declared; unknown fields are ignored and absent or `null` values take
//! their defaults, because real clusters (and `oc get -o yaml` dumps) vary from release to release.
//! Node and Deployment come from `k8s_openapi`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Deserializer};
use update_status_api::time::Timestamp;

/// Reads `null` as the default value, so `conditions: null` is an empty list rather than an error.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `config.openshift.io/v1` ClusterVersion: the update's history, desired release and conditions.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ClusterVersion {
    /// Name (normally `version`) and annotations.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// What the cluster-version operator reports.
    #[serde(default, deserialize_with = "null_default")]
    pub status: ClusterVersionStatus,
}

/// The status of a ClusterVersion.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterVersionStatus {
    /// The release the cluster is reconciling to.
    #[serde(default, deserialize_with = "null_default")]
    pub desired: Release,
    /// Updates, most recent first.
    #[serde(default, deserialize_with = "null_default")]
    pub history: Vec<UpdateHistory>,
    /// Progressing, Failing, Available, ...
    #[serde(default, deserialize_with = "null_default")]
    pub conditions: Vec<OperatorCondition>,
}

/// A release: version and payload image.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Release {
    /// The release version, such as `4.15.0`.
    #[serde(default, deserialize_with = "null_default")]
    pub version: String,
    /// The payload pull spec.
    #[serde(default, deserialize_with = "null_default")]
    pub image: String,
}

/// One entry of the ClusterVersion's update history.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpdateHistory {
    /// `Completed` or `Partial`.
    #[serde(default, deserialize_with = "null_default")]
    pub state: String,
    /// When this update began.
    #[serde(default)]
    pub started_time: Option<Timestamp>,
    /// When it completed, if it did.
    #[serde(default)]
    pub completion_time: Option<Timestamp>,
    /// The release version.
    #[serde(default, deserialize_with = "null_default")]
    pub version: String,
    /// The payload pull spec.
    #[serde(default, deserialize_with = "null_default")]
    pub image: String,
}

/// The history state of a finished update.
pub const HISTORY_COMPLETED: &str = "Completed";
/// The history state of an update that has not finished.
pub const HISTORY_PARTIAL: &str = "Partial";

/// A ClusterVersion or ClusterOperator condition (`ClusterOperatorStatusCondition`).
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OperatorCondition {
    /// Available, Progressing, Degraded, Failing, ...
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    /// When the status last changed; `None` stands for Go's zero time.
    #[serde(default)]
    pub last_transition_time: Option<Timestamp>,
    /// CamelCase reason; may be empty.
    #[serde(default, deserialize_with = "null_default")]
    pub reason: String,
    /// Human-readable message; may be empty.
    #[serde(default, deserialize_with = "null_default")]
    pub message: String,
}

impl OperatorCondition {
    /// Whether the status is exactly `status`.
    pub fn is(&self, status: &str) -> bool {
        self.status == status
    }
}

/// Finds the condition of `type_`, as `findClusterOperatorStatusCondition` does (first match).
pub fn find_condition<'a>(
    conditions: &'a [OperatorCondition],
    type_: &str,
) -> Option<&'a OperatorCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// `config.openshift.io/v1` ClusterOperator: versions and conditions of one operator.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ClusterOperator {
    /// Name and the include/exclude annotations that mark platform operators.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// What the operator reports.
    #[serde(default, deserialize_with = "null_default")]
    pub status: ClusterOperatorStatus,
}

/// The status of a ClusterOperator.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ClusterOperatorStatus {
    /// Available, Progressing, Degraded, ...
    #[serde(default, deserialize_with = "null_default")]
    pub conditions: Vec<OperatorCondition>,
    /// Operand versions; the one named `operator` is the operator's release version.
    #[serde(default, deserialize_with = "null_default")]
    pub versions: Vec<OperandVersion>,
}

/// One operand version of a ClusterOperator.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct OperandVersion {
    /// The operand, such as `operator` or `operator-image`.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Its version (or image pull spec for `operator-image`).
    #[serde(default, deserialize_with = "null_default")]
    pub version: String,
}

/// `machineconfiguration.openshift.io/v1` MachineConfigPool: which nodes, which config, paused.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MachineConfigPool {
    /// Name, plus the labels and annotations that mark a layered pool.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// Selector, pause and target configuration.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: MachineConfigPoolSpec,
}

/// The spec of a MachineConfigPool.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineConfigPoolSpec {
    /// The nodes of the pool; absent selects nothing, empty selects everything.
    #[serde(default)]
    pub node_selector: Option<LabelSelector>,
    /// A paused pool does not update its nodes.
    #[serde(default, deserialize_with = "null_default")]
    pub paused: bool,
    /// The rendered configuration the pool targets.
    #[serde(default, deserialize_with = "null_default")]
    pub configuration: PoolConfiguration,
}

/// The configuration a pool targets.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PoolConfiguration {
    /// The rendered MachineConfig's name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
}

/// `machineconfiguration.openshift.io/v1` MachineConfig; only its annotations matter (the release
/// version it renders).
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MachineConfig {
    /// Name and the `release-image-version` annotation.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
}

/// What the Thanos querier's `/api/v1/alerts` returns.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AlertData {
    /// `success` normally.
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    /// The alerts.
    #[serde(default, deserialize_with = "null_default")]
    pub data: AlertList,
}

/// The `data` member of [`AlertData`].
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AlertList {
    /// Firing and pending alerts.
    #[serde(default, deserialize_with = "null_default")]
    pub alerts: Vec<Alert>,
}

/// One Prometheus alert.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `alertname`, `namespace`, `severity`, ...
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`, `message`, `runbook_url`, ...
    #[serde(default, deserialize_with = "null_default")]
    pub annotations: BTreeMap<String, String>,
    /// `firing` or `pending`.
    #[serde(default, deserialize_with = "null_default")]
    pub state: String,
    /// When it became active; `None` stands for Go's zero time.
    #[serde(default)]
    pub active_at: Option<Timestamp>,
}

impl Alert {
    /// A label, or "" when absent.
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map_or("", String::as_str)
    }

    /// An annotation, or "" when absent.
    pub fn annotation(&self, key: &str) -> &str {
        self.annotations.get(key).map_or("", String::as_str)
    }
}

/// An object's name, or "" when absent.
pub fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

/// An annotation of an object, or "" when absent.
pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> &'a str {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map_or("", String::as_str)
}

/// An annotation of an object, distinguishing absent (`None`) from empty.
pub fn annotation_opt<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_nulls_and_unknown_fields() {
        let cv: ClusterVersion = serde_json::from_value(serde_json::json!({
            "apiVersion": "config.openshift.io/v1",
            "kind": "ClusterVersion",
            "metadata": {"name": "version"},
            "spec": {"channel": "stable-4.15"},
            "status": {"history": null, "conditions": [{"type": "Progressing", "status": "True",
                "lastTransitionTime": "2024-02-07T16:31:03Z", "reason": null}],
                "desired": {"version": "4.15.0", "extra": 1}}
        }))
        .unwrap();
        assert!(cv.status.history.is_empty());
        assert_eq!(cv.status.desired.version, "4.15.0");
        let p = find_condition(&cv.status.conditions, "Progressing").unwrap();
        assert!(p.is("True"));
        assert_eq!(p.reason, "");
        assert_eq!(
            p.last_transition_time.unwrap().to_string(),
            "2024-02-07T16:31:03Z"
        );
    }

    #[test]
    fn pool_selector_absent_differs_from_empty() {
        let absent: MachineConfigPool =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "a"}, "spec": {}}))
                .unwrap();
        let empty: MachineConfigPool = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "a"}, "spec": {"nodeSelector": {}, "paused": null}}),
        )
        .unwrap();
        assert!(absent.spec.node_selector.is_none());
        assert!(empty.spec.node_selector.is_some());
        assert!(!empty.spec.paused);
    }

    #[test]
    fn alert_helpers_default_to_empty() {
        let a: Alert = serde_json::from_value(serde_json::json!({
            "labels": {"alertname": "X"}, "activeAt": "2023-11-24T15:43:23.156620559Z"
        }))
        .unwrap();
        assert_eq!(a.label("alertname"), "X");
        assert_eq!(a.label("namespace"), "");
        assert_eq!(a.annotation("summary"), "");
        assert_eq!(a.active_at.unwrap().as_nanos() % 1_000_000_000, 156_620_559);
    }
}
