//! The kinds the controller watches, and how each watched object becomes the type the built-in
//! informers read.
//!
//! Objects arrive as `DynamicObject`s and are converted one by one, so an object that does not
//! parse (a field of an unexpected type, an UpdateInformer that breaks a rule) is skipped with a
//! warning instead of failing the whole watch — with typed watches, one bad object would stop
//! every update of its kind.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use update_status_api::v1alpha1::UpdateInformer;

use crate::cluster::openshift::{
    ClusterOperator, ClusterVersion, MachineConfig, MachineConfigPool,
};

/// The namespace of the machine-config operator's Deployment.
pub const MCO_NAMESPACE: &str = "openshift-machine-config-operator";
/// The name of the machine-config operator's Deployment.
pub const MCO_DEPLOYMENT: &str = "machine-config-operator";

/// Node annotations the rules read all start with this; the others are dropped on arrival.
const MCO_ANNOTATION_PREFIX: &str = "machineconfiguration.openshift.io/";

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// `config.openshift.io/v1` ClusterVersion.
pub fn cluster_versions() -> ApiResource {
    resource(
        "config.openshift.io",
        "v1",
        "ClusterVersion",
        "clusterversions",
    )
}

/// `config.openshift.io/v1` APIServer: its `cluster` object holds the TLS profile that
/// `--tls-profile=cluster` follows.
pub fn api_servers() -> ApiResource {
    resource("config.openshift.io", "v1", "APIServer", "apiservers")
}

/// `config.openshift.io/v1` ClusterOperator.
pub fn cluster_operators() -> ApiResource {
    resource(
        "config.openshift.io",
        "v1",
        "ClusterOperator",
        "clusteroperators",
    )
}

/// `machineconfiguration.openshift.io/v1` MachineConfigPool.
pub fn machine_config_pools() -> ApiResource {
    resource(
        "machineconfiguration.openshift.io",
        "v1",
        "MachineConfigPool",
        "machineconfigpools",
    )
}

/// `machineconfiguration.openshift.io/v1` MachineConfig; watched as metadata only, because a
/// rendered MachineConfig carries whole files (megabytes) and the rules read one annotation.
pub fn machine_configs() -> ApiResource {
    resource(
        "machineconfiguration.openshift.io",
        "v1",
        "MachineConfig",
        "machineconfigs",
    )
}

/// Core `v1` Node.
pub fn nodes() -> ApiResource {
    resource("", "v1", "Node", "nodes")
}

/// `apps/v1` Deployment (only the machine-config operator's is watched).
pub fn deployments() -> ApiResource {
    resource("apps", "v1", "Deployment", "deployments")
}

/// `update.openshift.io/v1alpha1` UpdateInformer.
pub fn update_informers() -> ApiResource {
    resource(
        "update.openshift.io",
        "v1alpha1",
        "UpdateInformer",
        "updateinformers",
    )
}

/// Why one watched object was skipped.
#[derive(Debug, thiserror::Error)]
#[error("{kind} {name}: {reason}")]
pub struct ConvertError {
    /// The kind.
    pub kind: &'static str,
    /// The object's name.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

fn typed<T: serde::de::DeserializeOwned>(
    kind: &'static str,
    obj: DynamicObject,
) -> Result<T, ConvertError> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let value = serde_json::to_value(obj).map_err(|e| ConvertError {
        kind,
        name: name.clone(),
        reason: e.to_string(),
    })?;
    serde_json::from_value(value).map_err(|e| ConvertError {
        kind,
        name,
        reason: e.to_string(),
    })
}

/// A ClusterVersion as the rules read it.
pub fn to_cluster_version(obj: DynamicObject) -> Result<ClusterVersion, ConvertError> {
    typed("ClusterVersion", obj)
}

/// A ClusterOperator as the rules read it.
pub fn to_cluster_operator(obj: DynamicObject) -> Result<ClusterOperator, ConvertError> {
    typed("ClusterOperator", obj)
}

/// A MachineConfigPool as the rules read it.
pub fn to_machine_config_pool(obj: DynamicObject) -> Result<MachineConfigPool, ConvertError> {
    typed("MachineConfigPool", obj)
}

/// A MachineConfig from its metadata (all the rules read).
pub fn to_machine_config(metadata: ObjectMeta) -> MachineConfig {
    MachineConfig { metadata }
}

/// The machine-config operator's Deployment.
pub fn to_deployment(obj: DynamicObject) -> Result<Deployment, ConvertError> {
    typed("Deployment", obj)
}

/// An UpdateInformer, checked against every rule of its CRD: one that breaks a rule registers
/// nothing (the API server should have refused it; if it did not, it is not trusted).
pub fn to_update_informer(obj: DynamicObject) -> Result<UpdateInformer, ConvertError> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let fail = |reason: String| ConvertError {
        kind: "UpdateInformer",
        name: name.clone(),
        reason,
    };
    let value = serde_json::to_value(obj).map_err(|e| fail(e.to_string()))?;
    update_status_api::validation::update_informer_from_value(value).map_err(|violations| {
        fail(
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// A Node with only what the rules read (name, labels, machine-config annotations,
/// `spec.unschedulable`, `status.conditions`): at 5,000 nodes, the images, addresses and
/// managed fields a Node carries would dominate the controller's memory.
pub fn to_node(obj: DynamicObject) -> Result<Node, ConvertError> {
    let node: Node = typed("Node", obj)?;
    Ok(trim_node(node))
}

/// See [`to_node`].
pub fn trim_node(node: Node) -> Node {
    let meta = node.metadata;
    let annotations = meta.annotations.map(|all| {
        all.into_iter()
            .filter(|(k, _)| k.starts_with(MCO_ANNOTATION_PREFIX))
            .collect::<BTreeMap<_, _>>()
    });
    Node {
        metadata: ObjectMeta {
            name: meta.name,
            uid: meta.uid,
            labels: meta.labels,
            annotations,
            creation_timestamp: meta.creation_timestamp,
            ..ObjectMeta::default()
        },
        spec: node.spec.map(|s| NodeSpec {
            unschedulable: s.unschedulable,
            ..NodeSpec::default()
        }),
        status: node.status.map(|s| NodeStatus {
            conditions: s.conditions,
            ..NodeStatus::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dynamic(ar: &ApiResource, value: serde_json::Value) -> DynamicObject {
        let mut v = value;
        v["apiVersion"] = ar.api_version.clone().into();
        v["kind"] = ar.kind.clone().into();
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_node_keeps_only_what_the_rules_read() {
        let node = dynamic(
            &nodes(),
            serde_json::json!({
                "metadata": {
                    "name": "worker-1",
                    "labels": {"node-role.kubernetes.io/worker": ""},
                    "annotations": {
                        "machineconfiguration.openshift.io/state": "Working",
                        "volumes.kubernetes.io/controller-managed-attach-detach": "true"
                    },
                    "managedFields": [{"manager": "kubelet"}]
                },
                "spec": {"unschedulable": true, "podCIDR": "10.0.0.0/24"},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "images": [{"names": ["quay.io/x"], "sizeBytes": 1}]
                }
            }),
        );
        let node = to_node(node).unwrap();
        let annotations = node.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.len(), 1);
        assert_eq!(
            annotations["machineconfiguration.openshift.io/state"],
            "Working"
        );
        assert!(node.metadata.managed_fields.is_none());
        assert_eq!(node.spec.as_ref().unwrap().unschedulable, Some(true));
        assert!(node.spec.as_ref().unwrap().pod_cidr.is_none());
        let status = node.status.as_ref().unwrap();
        assert!(status.images.is_none());
        assert_eq!(status.conditions.as_ref().unwrap()[0].type_, "Ready");
    }

    #[test]
    fn an_update_informer_that_breaks_a_rule_is_refused_with_its_name() {
        let bad = dynamic(
            &update_informers(),
            serde_json::json!({
                "metadata": {"name": "Not_A_Label"},
                "spec": {"reporting": "Enabled", "producers": [{"serviceAccount": {"namespace": "a", "name": "b"}}]}
            }),
        );
        let err = to_update_informer(bad).unwrap_err();
        assert_eq!(err.name, "Not_A_Label");
        assert!(
            err.to_string().starts_with("UpdateInformer Not_A_Label: "),
            "{err}"
        );
    }

    #[test]
    fn a_cluster_operator_with_an_unexpected_field_type_is_an_error_not_a_panic() {
        let bad = dynamic(
            &cluster_operators(),
            serde_json::json!({"metadata": {"name": "dns"}, "status": {"conditions": "oops"}}),
        );
        assert_eq!(to_cluster_operator(bad).unwrap_err().name, "dns");
    }
}
