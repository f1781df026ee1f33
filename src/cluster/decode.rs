//! Turning file text into typed objects: YAML or JSON, one or many documents, single objects, typed
//! lists (`ClusterOperatorList`) and `v1 List`, dispatched on `apiVersion` and `kind`.
//!
//! Public so the `cluster_objects` fuzz target (`fuzz/`) can reach the decoder without files.

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::SourceError;
use super::openshift::{
    AlertData, ClusterOperator, ClusterVersion, MachineConfig, MachineConfigPool,
};

/// One object read from a file, typed by its kind.
#[derive(Debug)]
pub enum Object {
    ClusterVersion(Box<ClusterVersion>),
    ClusterOperator(Box<ClusterOperator>),
    MachineConfigPool(Box<MachineConfigPool>),
    MachineConfig(Box<MachineConfig>),
    Node(Box<Node>),
    Deployment(Box<Deployment>),
    /// A Thanos `/api/v1/alerts` answer (it has no `kind`).
    Alerts(Box<AlertData>),
    /// A Kubernetes object of a kind no informer reads; `kind` is empty when it has none.
    Other {
        kind: String,
    },
}

impl Object {
    /// The kind, for messages.
    pub fn kind(&self) -> &str {
        match self {
            Object::ClusterVersion(_) => "ClusterVersion",
            Object::ClusterOperator(_) => "ClusterOperator",
            Object::MachineConfigPool(_) => "MachineConfigPool",
            Object::MachineConfig(_) => "MachineConfig",
            Object::Node(_) => "Node",
            Object::Deployment(_) => "Deployment",
            Object::Alerts(_) => "alerts document",
            Object::Other { kind } if kind.is_empty() => "object without a kind",
            Object::Other { kind } => kind,
        }
    }
}

/// One decoded object and where it was in its file (`items[3]`, `document 2`), for messages.
#[derive(Debug)]
pub struct Located {
    /// The object.
    pub object: Object,
    /// Where it was in its file; empty for the only object of a file.
    pub location: String,
}

impl Located {
    /// `ClusterOperator at items[3]`, for messages.
    pub fn describe(&self) -> String {
        describe(self.object.kind(), &self.location)
    }
}

fn describe(kind: &str, location: &str) -> String {
    if location.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} at {location}")
    }
}

/// Reads a file as text.
pub(crate) fn read_text(path: &Path) -> Result<String, SourceError> {
    std::fs::read_to_string(path).map_err(|source| SourceError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads and decodes every object in a file.
pub(crate) fn read_objects(path: &Path) -> Result<Vec<Located>, SourceError> {
    let text = read_text(path)?;
    decode_text(path, &text)
}

/// Decodes every object in `text` (which came from `path`).
pub fn decode_text(path: &Path, text: &str) -> Result<Vec<Located>, SourceError> {
    if let Some(objects) = fast_json_list(text) {
        return Ok(objects);
    }
    decode_general(path, text)
}

/// [`decode_text`] without its fast path for JSON lists: what the fast path must agree with
/// whenever it answers (the fuzz target checks that).
pub fn decode_general(path: &Path, text: &str) -> Result<Vec<Located>, SourceError> {
    let documents = parse_documents(path, text)?;
    let many = documents.len() > 1;
    let mut out = Vec::new();
    for (i, doc) in documents.into_iter().enumerate() {
        let location = if many {
            format!("document {}", i + 1)
        } else {
            String::new()
        };
        decode_value(path, doc, &location, None, &mut out)?;
    }
    Ok(out)
}

/// The kind and version of a JSON object, read without building the rest.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    api_version: String,
}

/// A JSON list whose items are left as text until their kind is known.
#[derive(serde::Deserialize)]
struct RawList<'a> {
    #[serde(default)]
    kind: String,
    #[serde(borrow)]
    items: Vec<&'a serde_json::value::RawValue>,
}

/// The fast path for large JSON lists (a 5,000-node cluster is megabytes of them): each item is
/// parsed straight into its type, with no intermediate tree. Anything unusual (not a `v1 List`, an
/// item of another version, any error) returns `None`, and the general path decodes the file and
/// reports errors precisely.
fn fast_json_list(text: &str) -> Option<Vec<Located>> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    let list: RawList<'_> = serde_json::from_str(trimmed).ok()?;
    if list.kind != "List" {
        return None;
    }
    let mut out = Vec::with_capacity(list.items.len());
    for (i, raw) in list.items.iter().enumerate() {
        let probe: Probe = serde_json::from_str(raw.get()).ok()?;
        let object = match (probe.kind.as_str(), probe.api_version.as_str()) {
            ("Node", "v1") => Object::Node(Box::new(serde_json::from_str(raw.get()).ok()?)),
            ("ClusterOperator", "config.openshift.io/v1") => {
                Object::ClusterOperator(Box::new(serde_json::from_str(raw.get()).ok()?))
            }
            ("MachineConfig", "machineconfiguration.openshift.io/v1") => {
                Object::MachineConfig(Box::new(serde_json::from_str(raw.get()).ok()?))
            }
            ("MachineConfigPool", "machineconfiguration.openshift.io/v1") => {
                Object::MachineConfigPool(Box::new(serde_json::from_str(raw.get()).ok()?))
            }
            _ => return None,
        };
        let named = match &object {
            Object::Node(n) => n.metadata.name.as_deref(),
            Object::ClusterOperator(c) => c.metadata.name.as_deref(),
            Object::MachineConfig(m) => m.metadata.name.as_deref(),
            Object::MachineConfigPool(p) => p.metadata.name.as_deref(),
            _ => None,
        };
        if named.is_none_or(str::is_empty) {
            return None;
        }
        out.push(Located {
            object,
            location: format!("items[{i}]"),
        });
    }
    Some(out)
}

/// Parses YAML (possibly several `---` documents) or JSON. JSON is tried first when the text looks
/// like JSON, because some fixture ".yaml" files are JSON and serde_json reports JSON errors better.
fn parse_documents(path: &Path, text: &str) -> Result<Vec<Value>, SourceError> {
    let malformed = |message: String| SourceError::Malformed {
        path: path.to_owned(),
        message,
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(v) = serde_json::from_str::<Value>(trimmed)
    {
        return Ok(vec![v]);
    }
    // YAML 1.2 core: `n`, `no`, `on` and `0755` stay strings, as Kubernetes names and labels can be.
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        budget: yaml_budget(trimmed.len()),
    };
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(trimmed, options)
        .map_err(|e| malformed(e.to_string()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The YAML parser's limits for a text of `len` bytes: its defaults (250,000 nodes, 1,000,000
/// events), raised in proportion to the text, which a 5,000-node list outgrows (about 60 nodes
/// per Kubernetes object). Every YAML node costs at least two bytes of text, so a bound linear
/// in the size still refuses what only aliases could inflate (their own limits stay).
pub fn yaml_budget(len: usize) -> Option<serde_saphyr::Budget> {
    serde_saphyr::budget! {
        max_nodes: (len / 2).max(250_000),
        max_events: len.max(1_000_000),
    }
}

/// The API group of an `apiVersion` (`config.openshift.io/v1` → `config.openshift.io`, `v1` → "").
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Decodes one value (an object or a list) into `out`. `default_kind` is the item kind of a typed
/// list, used for items that omit their own `kind` (client-go writes typed lists that way).
fn decode_value(
    path: &Path,
    value: Value,
    location: &str,
    default_kind: Option<(&str, &str)>,
    out: &mut Vec<Located>,
) -> Result<(), SourceError> {
    let Value::Object(mut map) = value else {
        return Err(SourceError::Malformed {
            path: path.to_owned(),
            message: format!(
                "{} is not a mapping (a Kubernetes object or list was expected)",
                if location.is_empty() {
                    "the document"
                } else {
                    location
                }
            ),
        });
    };
    let text_field = |m: &Map<String, Value>, k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let mut kind = text_field(&map, "kind");
    let mut api_version = text_field(&map, "apiVersion");
    if kind.is_empty()
        && let Some((k, v)) = default_kind
    {
        kind = k.to_owned();
        api_version = v.to_owned();
    }

    if let Some(item_kind) = list_item_kind(&kind) {
        let items = match map.remove("items") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(SourceError::InvalidField {
                    path: path.to_owned(),
                    object: describe(&kind, location),
                    field: "items".into(),
                    message: "must be a list".into(),
                });
            }
        };
        let typed = (!item_kind.is_empty()).then_some((item_kind, api_version.as_str()));
        for (i, item) in items.into_iter().enumerate() {
            let loc = if location.is_empty() {
                format!("items[{i}]")
            } else {
                format!("{location} items[{i}]")
            };
            decode_value(path, item, &loc, typed, out)?;
        }
        return Ok(());
    }

    if kind.is_empty() {
        let object = if map.get("data").and_then(|d| d.get("alerts")).is_some() {
            Object::Alerts(Box::new(typed(path, location, "alerts document", map)?))
        } else {
            Object::Other {
                kind: String::new(),
            }
        };
        out.push(Located {
            object,
            location: location.to_owned(),
        });
        return Ok(());
    }

    let group = group_of(&api_version);
    // An object without apiVersion is matched on its kind alone, to be lenient with hand-written files.
    let in_group = |g: &str| api_version.is_empty() || group == g;
    // k8s-openapi checks apiVersion and kind itself and insists on one exact version; the kind was
    // matched here already, so they are removed to accept any version of the group.
    map.remove("apiVersion");
    map.remove("kind");
    let object = match kind.as_str() {
        "ClusterVersion" if in_group("config.openshift.io") => {
            let cv: ClusterVersion = typed(path, location, &kind, map)?;
            require_name(path, location, &kind, cv.metadata.name.as_deref())?;
            Object::ClusterVersion(Box::new(cv))
        }
        "ClusterOperator" if in_group("config.openshift.io") => {
            let co: ClusterOperator = typed(path, location, &kind, map)?;
            require_name(path, location, &kind, co.metadata.name.as_deref())?;
            Object::ClusterOperator(Box::new(co))
        }
        "MachineConfigPool" if in_group("machineconfiguration.openshift.io") => {
            let p: MachineConfigPool = typed(path, location, &kind, map)?;
            require_name(path, location, &kind, p.metadata.name.as_deref())?;
            Object::MachineConfigPool(Box::new(p))
        }
        "MachineConfig" if in_group("machineconfiguration.openshift.io") => {
            let mc: MachineConfig = typed(path, location, &kind, map)?;
            require_name(path, location, &kind, mc.metadata.name.as_deref())?;
            Object::MachineConfig(Box::new(mc))
        }
        "Node" if in_group("") => {
            let n: Node = typed(path, location, &kind, map)?;
            require_name(path, location, &kind, n.metadata.name.as_deref())?;
            Object::Node(Box::new(n))
        }
        "Deployment" if in_group("apps") => {
            let d: Deployment = typed(path, location, &kind, map)?;
            require_name(path, location, &kind, d.metadata.name.as_deref())?;
            Object::Deployment(Box::new(d))
        }
        _ => Object::Other { kind },
    };
    out.push(Located {
        object,
        location: location.to_owned(),
    });
    Ok(())
}

/// For a list kind, the kind of its items ("" for a `v1 List`, whose items name their own kind).
fn list_item_kind(kind: &str) -> Option<&str> {
    if kind == "List" {
        Some("")
    } else {
        kind.strip_suffix("List").filter(|k| !k.is_empty())
    }
}

/// Deserializes a typed object, naming the offending field path on failure.
fn typed<T: DeserializeOwned>(
    path: &Path,
    location: &str,
    kind: &str,
    map: Map<String, Value>,
) -> Result<T, SourceError> {
    let value = Value::Object(map);
    // The fast path; only a failure pays for tracking the path of the offending field.
    if let Ok(t) = T::deserialize(&value) {
        return Ok(t);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        SourceError::InvalidField {
            path: path.to_owned(),
            object: describe(kind, location),
            field: if field == "." { "(root)".into() } else { field },
            message: e.into_inner().to_string(),
        }
    })
}

fn require_name(
    path: &Path,
    location: &str,
    kind: &str,
    name: Option<&str>,
) -> Result<(), SourceError> {
    match name {
        Some(n) if !n.is_empty() => Ok(()),
        _ => Err(SourceError::MissingField {
            path: PathBuf::from(path),
            object: describe(kind, location),
            field: "metadata.name".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<Vec<Located>, SourceError> {
        decode_text(Path::new("t.yaml"), text)
    }

    #[test]
    fn single_objects_typed_lists_and_v1_lists() {
        let objs = decode(
            "apiVersion: config.openshift.io/v1\nkind: ClusterVersion\nmetadata: {name: version}\n",
        )
        .unwrap();
        assert!(matches!(objs[0].object, Object::ClusterVersion(_)));

        let objs = decode(r#"{"apiVersion":"config.openshift.io/v1","kind":"ClusterOperatorList","items":[{"metadata":{"name":"a"}},{"kind":"ClusterOperator","metadata":{"name":"b"}}]}"#).unwrap();
        assert_eq!(objs.len(), 2);
        assert!(
            objs.iter()
                .all(|o| matches!(o.object, Object::ClusterOperator(_)))
        );

        let objs = decode("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: n1}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n").unwrap();
        assert!(matches!(objs[0].object, Object::Node(_)));
        assert!(matches!(objs[1].object, Object::Deployment(_)));
        assert_eq!(objs[2].object.kind(), "ConfigMap");
        assert_eq!(objs[2].location, "items[2]");
    }

    #[test]
    fn several_yaml_documents() {
        let objs = decode("kind: MachineConfig\nmetadata: {name: a}\n---\nkind: MachineConfig\nmetadata: {name: b}\n").unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1].location, "document 2");
    }

    #[test]
    fn alerts_json_has_no_kind() {
        let objs = decode(r#"{"status":"success","data":{"alerts":[{"labels":{"alertname":"A"},"state":"firing"}]}}"#).unwrap();
        let Object::Alerts(a) = &objs[0].object else {
            panic!("not alerts: {:?}", objs[0].object)
        };
        assert_eq!(a.data.alerts.len(), 1);
    }

    #[test]
    fn errors_name_the_file_object_and_field() {
        let e = decode("kind: ClusterOperator\nmetadata: {}\n").unwrap_err();
        assert!(matches!(e, SourceError::MissingField { .. }));
        assert!(e.to_string().contains("t.yaml"), "{e}");
        assert!(e.to_string().contains("metadata.name"), "{e}");

        let e = decode("apiVersion: v1\nkind: List\nitems:\n- kind: ClusterOperator\n  metadata: {name: a}\n  status: {conditions: [{type: Available, lastTransitionTime: yesterday}]}\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("items[0]"), "{msg}");
        assert!(
            msg.contains("status.conditions[0].lastTransitionTime"),
            "{msg}"
        );

        let e = decode("a: [1, 2\n").unwrap_err();
        assert!(matches!(e, SourceError::Malformed { .. }), "{e}");
        let e = decode("- 1\n- 2\n").unwrap_err();
        assert!(matches!(e, SourceError::Malformed { .. }), "{e}");
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "",
            "---",
            "null",
            "{",
            "kind: List\nitems: 3\n",
            "kind: NodeList\nitems: [1]\n",
            "kind: Node\nmetadata: 5\n",
            "\u{feff}{}",
            "kind: List\nitems:\n- kind: List\n  items: [{kind: Node, metadata: {name: x}, spec: {unschedulable: maybe}}]\n",
        ] {
            let _ = decode(text);
        }
        assert!(decode("").unwrap().is_empty());
    }
}
