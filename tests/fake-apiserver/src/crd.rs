//! Registering a resource from a CustomResourceDefinition, and pruning by its structural schema.
//!
//! A real server silently drops fields a CRD's schema does not declare (unless
//! `x-kubernetes-preserve-unknown-fields`): a controller that writes a field its own CRD forgot
//! would "work" against a fake that keeps everything and lose data on a cluster. Registering the
//! project's CRDs with [`crate::FakeApiServer::register_crd_yaml`] makes the fake prune the same way.
//! Validation (types, enums, CEL rules) is not modelled: pruning is the part that silently changes
//! what is stored, while validation failures are loud on a real cluster.

use serde_json::Value;

use crate::error::Error;
use crate::registry::ResourceDef;

/// Reads a CRD (YAML or JSON) into the definition of its storage version.
pub(crate) fn from_crd(text: &str) -> Result<ResourceDef, Error> {
    let crd: Value =
        serde_saphyr::from_str(text).map_err(|e| Error::InvalidObject(e.to_string()))?;
    let field = |pointer: &str| {
        crd.pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| Error::InvalidObject(format!("CRD without {pointer}")))
    };
    let group = field("/spec/group")?;
    let plural = field("/spec/names/plural")?;
    let kind = field("/spec/names/kind")?;
    let namespaced = field("/spec/scope")? == "Namespaced";
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::InvalidObject("CRD without spec.versions".to_owned()))?;
    let version = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .or_else(|| versions.first())
        .ok_or_else(|| Error::InvalidObject("CRD without a version".to_owned()))?;
    let name = version
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::InvalidObject("CRD version without a name".to_owned()))?;
    let mut def = ResourceDef::new(group, name, plural, kind);
    def.namespaced = namespaced;
    def.has_status = version.pointer("/subresources/status").is_some();
    def.schema = version.pointer("/schema/openAPIV3Schema").cloned();
    Ok(def)
}

fn preserves(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

/// Drops the fields `schema` does not declare, recursively. At the root, `apiVersion`, `kind` and
/// `metadata` are always kept (metadata is the server's, not the schema's).
pub(crate) fn prune(value: &mut Value, schema: &Value, root: bool) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            if let Some(props) = properties {
                if !preserves(schema) {
                    map.retain(|k, _| {
                        props.contains_key(k)
                            || (root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    });
                }
                for (key, child) in map.iter_mut() {
                    // The real server prunes ObjectMeta by its own rules, never by the CRD's
                    // schema, which usually declares `metadata` as a bare `type: object`.
                    if root && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                        continue;
                    }
                    if let Some(child_schema) = props.get(key) {
                        prune(child, child_schema, false);
                    }
                }
            } else if let Some(additional) = additional.filter(|a| a.is_object()) {
                for child in map.values_mut() {
                    prune(child, additional, false);
                }
            } else if !preserves(schema)
                && additional.and_then(Value::as_bool) != Some(true)
                && !root
            {
                map.clear();
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune(item, item_schema, false);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prunes_undeclared_fields() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {"a": {"type": "string"}}},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            }
        });
        let mut obj = json!({
            "apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"},
            "spec": {"a": "1", "b": 2}, "status": {"anything": 1}, "labels": {"k": "v"}, "junk": 1
        });
        prune(&mut obj, &schema, true);
        assert_eq!(
            obj,
            json!({
                "apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"},
                "spec": {"a": "1"}, "status": {"anything": 1}, "labels": {"k": "v"}
            })
        );
    }

    #[test]
    fn never_prunes_object_meta_even_when_the_schema_declares_metadata() {
        // As OpenShift's config CRDs do: `metadata: {type: object}`, no properties.
        let schema = json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "properties": {"a": {"type": "string"}}}
            }
        });
        let mut obj = json!({
            "apiVersion": "g/v1", "kind": "K",
            "metadata": {"name": "cluster", "labels": {"k": "v"}},
            "spec": {"a": "1", "b": 2}
        });
        prune(&mut obj, &schema, true);
        assert_eq!(
            obj["metadata"],
            json!({"name": "cluster", "labels": {"k": "v"}})
        );
        assert_eq!(obj["spec"], json!({"a": "1"}));
    }
}
