//! The CustomResourceDefinitions, generated from the types and finished with what derive cannot
//! express: root-level CEL rules, release annotations, and no `nullable` or `default` keywords
//! (the controller never writes null and never relies on the API server to default a field).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::{Value, json};

use crate::v1alpha1::{
    InsightType, NODE_NAME_RULE, NodeProgressInsight, UpdateInformer, UpgradeStatus,
};

/// Annotations the cluster version operator needs to apply a manifest from the release payload.
pub const RELEASE_ANNOTATIONS: [(&str, &str); 3] = [
    (
        "include.release.openshift.io/self-managed-high-availability",
        "true",
    ),
    ("include.release.openshift.io/single-node-developer", "true"),
    ("include.release.openshift.io/ibm-cloud-managed", "true"),
];

/// The annotations OpenShift's API conventions require on a CRD of an `*.openshift.io` group:
/// the API review that approved it, and the feature set that ships it. This API has not been
/// through review (its predecessors, openshift/api#2012 and #2233, were closed unmerged), so it
/// says so instead of pointing at an approval it does not have; and it ships only with
/// `TechPreviewNoUpgrade`, as a v1alpha1 API must.
pub const API_ANNOTATIONS: [(&str, &str); 2] = [
    (
        "api-approved.openshift.io",
        "unapproved, pending OpenShift API review (successor of openshift/api#2012 and #2233)",
    ),
    ("release.openshift.io/feature-set", "TechPreviewNoUpgrade"),
];

/// The CEL rule that makes `UpgradeStatus` a singleton (the #2012 draft never validated the name).
pub const UPGRADE_STATUS_NAME_RULE: &str = "self.metadata.name == 'cluster'";

/// The CEL rule that keeps status insights with the informers that own those resources.
pub const STATUS_TYPES_RULE: &str = "!has(self.spec.allowedInsightTypes) || self.metadata.name in ['cluster-version', 'machine-config'] || self.spec.allowedInsightTypes.all(t, t == 'Health')";

/// The CEL rule that keeps UpdateInformers off the built-in names no producer may take over
/// ([`crate::v1alpha1::RESERVED_INFORMER_NAMES`]; a test holds the two together).
pub const RESERVED_NAME_RULE: &str = "!(self.metadata.name in ['alerts'])";

/// Why [`RESERVED_NAME_RULE`] refuses an object; the controller says the same of one it reads.
pub const RESERVED_NAME_MESSAGE: &str = "this name belongs to a built-in informer that no UpdateInformer may take over (only cluster-version and machine-config may be taken over); choose another name";

/// The CEL rule that keeps informer names usable as insight-uid prefixes and URL segments.
pub const INFORMER_NAME_RULE: &str = "size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')";

/// Errors while finishing a generated CRD; they mean a bug in this crate, caught by its tests.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The generated CRD did not round-trip through JSON.
    #[error("generated CRD does not serialize: {0}")]
    Json(#[from] serde_json::Error),
    /// The generated CRD lacked its schema.
    #[error("generated CRD has no openAPIV3Schema")]
    NoSchema,
}

/// The CRD of `UpgradeStatus`.
pub fn upgrade_status() -> Result<CustomResourceDefinition, CrdError> {
    finish(
        UpgradeStatus::crd(),
        &[(
            UPGRADE_STATUS_NAME_RULE,
            "UpgradeStatus is a singleton: its name must be cluster",
        )],
    )
}

/// The CRD of `UpdateInformer`.
pub fn update_informer() -> Result<CustomResourceDefinition, CrdError> {
    finish(
        UpdateInformer::crd(),
        &[
            (
                INFORMER_NAME_RULE,
                "the name of an UpdateInformer must be an RFC 1123 label of at most 63 characters",
            ),
            (RESERVED_NAME_RULE, RESERVED_NAME_MESSAGE),
            (
                STATUS_TYPES_RULE,
                "only the cluster-version and machine-config informers may send status insights; others may only allow Health",
            ),
        ],
    )
}

/// The CRD of `NodeProgressInsight`.
pub fn node_progress_insight() -> Result<CustomResourceDefinition, CrdError> {
    finish(
        NodeProgressInsight::crd(),
        &[(
            NODE_NAME_RULE,
            "a NodeProgressInsight is named after its node: status.name must equal metadata.name",
        )],
    )
}

/// Every CRD, in the order the `crds` subcommand prints them.
pub fn all() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    Ok(vec![
        upgrade_status()?,
        update_informer()?,
        node_progress_insight()?,
    ])
}

/// The openAPIV3Schema of a CRD's only version, as JSON.
pub fn schema_of(crd: &CustomResourceDefinition) -> Result<Value, CrdError> {
    let schema = crd
        .spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .ok_or(CrdError::NoSchema)?;
    Ok(serde_json::to_value(schema)?)
}

fn finish(
    crd: CustomResourceDefinition,
    root_rules: &[(&str, &str)],
) -> Result<CustomResourceDefinition, CrdError> {
    let mut value = serde_json::to_value(&crd)?;
    if let Some(annotations) = value
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
        .map(|m| m.entry("annotations").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        for &(k, v) in RELEASE_ANNOTATIONS.iter().chain(&API_ANNOTATIONS) {
            annotations.insert(k.into(), v.into());
        }
    }
    let schema = value
        .pointer_mut("/spec/versions/0/schema/openAPIV3Schema")
        .ok_or(CrdError::NoSchema)?;
    strip_keywords(schema);
    add_union_branches(schema);
    if let Some(obj) = schema.as_object_mut() {
        let rules: Vec<Value> = root_rules
            .iter()
            .map(|(rule, message)| json!({"rule": rule, "message": message}))
            .collect();
        obj.insert("x-kubernetes-validations".into(), Value::Array(rules));
    }
    Ok(serde_json::from_value(value)?)
}

/// Adds the `oneOf` of the insight union to every schema that has the union's properties.
fn add_union_branches(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let is_union = map
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|props| {
                    props.contains_key("type")
                        && InsightType::ALL
                            .iter()
                            .all(|t| props.contains_key(t.member()))
                });
            if is_union {
                map.insert("oneOf".into(), InsightType::union_branches());
            }
            map.values_mut().for_each(add_union_branches);
        }
        Value::Array(items) => items.iter_mut().for_each(add_union_branches),
        _ => {}
    }
}

/// Removes `nullable` and `default` everywhere: a structural schema without surprises.
fn strip_keywords(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("nullable");
            map.remove("default");
            for (key, child) in map.iter_mut() {
                // Inside `properties`, keys are field names, not keywords: a field named
                // `default` must survive.
                if key == "properties" {
                    if let Value::Object(props) = child {
                        props.values_mut().for_each(strip_keywords);
                    }
                } else {
                    strip_keywords(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_keywords),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserved_name_rule_lists_exactly_the_reserved_names() {
        let listed = RESERVED_NAME_RULE
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(list, _)| list)
            .unwrap();
        let names: Vec<&str> = listed
            .split(',')
            .map(|n| n.trim().trim_matches('\''))
            .collect();
        assert_eq!(names, crate::v1alpha1::RESERVED_INFORMER_NAMES);
    }

    #[test]
    fn crds_are_cluster_scoped_with_a_status_subresource_and_no_nullable() {
        for crd in all().unwrap() {
            assert_eq!(crd.spec.scope, "Cluster");
            let v = &crd.spec.versions[0];
            assert!(
                v.subresources
                    .as_ref()
                    .and_then(|s| s.status.as_ref())
                    .is_some()
            );
            let text = serde_json::to_string(&schema_of(&crd).unwrap()).unwrap();
            assert!(!text.contains("\"nullable\""), "{}", crd.spec.names.kind);
            assert!(!text.contains("\"default\":"), "{}", crd.spec.names.kind);
        }
    }
}
