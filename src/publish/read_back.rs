//! Reading published objects back from a file (`status --file`, `--cluster-dir`): one
//! UpgradeStatus, or the `List` that `snapshot`, the offline sink and `oc get -o json|yaml` write.
//! JSON lists take a fast path that parses each item straight into its type; everything else, and
//! any error, goes through a tree of values that names what is wrong precisely.

use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_json::value::RawValue;
use update_status_api::v1alpha1::{NodeProgressInsight, UpgradeStatus};

use super::nodes::NodeObjects;

/// Published objects read back: the singleton and the node objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// `UpgradeStatus/cluster`.
    pub upgrade_status: UpgradeStatus,
    /// The NodeProgressInsights, by name.
    pub nodes: NodeObjects,
}

/// Reads published objects back (YAML or JSON): one UpgradeStatus, or a `List` holding one
/// UpgradeStatus and any number of NodeProgressInsights (items of other kinds are refused, so
/// a wrong file is not rendered as an empty cluster).
pub fn read(path: &Path) -> Result<Published, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let parse_error = |message: String| ReadError::Parse {
        path: path.to_owned(),
        message,
    };
    if let Some(published) = fast_json(&text) {
        return Ok(published);
    }
    let value: Value = if text.trim_start().starts_with('{') {
        // JSON (`oc get -o json`): serde_json is an order of magnitude faster than a YAML parser.
        serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()))?
    } else {
        let options = serde_saphyr::options! {
            budget: crate::cluster::decode::yaml_budget(text.len()),
        };
        serde_saphyr::from_str_with_options(&text, options)
            .map_err(|e| parse_error(e.to_string()))?
    };
    published(value).map_err(parse_error)
}

/// The kinds of a document that hold published objects as `items`.
fn is_list(kind: &str) -> bool {
    matches!(
        kind,
        "List" | "UpgradeStatusList" | "NodeProgressInsightList"
    )
}

/// A JSON document's kind, and its items left as text until each one's kind is known.
#[derive(serde::Deserialize)]
struct RawDocument<'a> {
    #[serde(default)]
    kind: String,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

/// The kind of one JSON object, read without building the rest.
#[derive(serde::Deserialize)]
struct Probe {
    #[serde(default)]
    kind: String,
}

/// The fast path for JSON (a 10,000-node List is megabytes): each item is parsed straight into
/// its type, without the tree of values that would hold several times the text. It answers only
/// when the document is read without any error, so [`published`] (which it must agree with, see
/// the tests) names every problem.
fn fast_json(text: &str) -> Option<Published> {
    let text = text.trim_start();
    if !text.starts_with('{') {
        return None;
    }
    let document: RawDocument<'_> = serde_json::from_str(text).ok()?;
    if !is_list(&document.kind) {
        if document.kind != "UpgradeStatus" {
            return None;
        }
        return Some(Published {
            upgrade_status: serde_json::from_str(text).ok()?,
            nodes: NodeObjects::new(),
        });
    }
    let mut upgrade_status = None;
    let mut nodes = NodeObjects::new();
    for item in document.items? {
        let probe: Probe = serde_json::from_str(item.get()).ok()?;
        match probe.kind.as_str() {
            "UpgradeStatus" if upgrade_status.is_none() => {
                upgrade_status = Some(serde_json::from_str(item.get()).ok()?);
            }
            "NodeProgressInsight" => {
                let obj: NodeProgressInsight = serde_json::from_str(item.get()).ok()?;
                if let (Some(name), Some(status)) = (obj.metadata.name, obj.status) {
                    nodes.insert(name, status);
                }
            }
            _ => return None,
        }
    }
    Some(Published {
        upgrade_status: upgrade_status?,
        nodes,
    })
}

/// Sorts the objects of a document (an UpgradeStatus or a List) into a [`Published`].
fn published(value: Value) -> Result<Published, String> {
    let items = match value.get("kind").and_then(Value::as_str) {
        Some(kind) if is_list(kind) => match value {
            Value::Object(mut map) => match map.remove("items") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        },
        _ => vec![value],
    };
    let mut upgrade_status = None;
    let mut nodes = NodeObjects::new();
    for (i, item) in items.into_iter().enumerate() {
        let kind = item
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match kind.as_str() {
            "UpgradeStatus" if upgrade_status.is_none() => {
                let obj: UpgradeStatus = serde_path_to_error::deserialize(item)
                    .map_err(|e| format!("item {i} (UpgradeStatus): {e}"))?;
                upgrade_status = Some(obj);
            }
            "UpgradeStatus" => return Err(format!("item {i}: a second UpgradeStatus")),
            "NodeProgressInsight" => {
                let obj: NodeProgressInsight = serde_path_to_error::deserialize(item)
                    .map_err(|e| format!("item {i} (NodeProgressInsight): {e}"))?;
                if let (Some(name), Some(status)) = (obj.metadata.name, obj.status) {
                    nodes.insert(name, status);
                }
            }
            other => {
                return Err(format!(
                    "item {i} is a {other:?}, not an UpgradeStatus or a NodeProgressInsight"
                ));
            }
        }
    }
    let upgrade_status = upgrade_status.ok_or("it holds no UpgradeStatus")?;
    Ok(Published {
        upgrade_status,
        nodes,
    })
}

/// Why a published object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not an UpgradeStatus.
    #[error("{} is not a valid UpgradeStatus: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::dir::{FILE_NAME, list};
    use update_status_api::v1alpha1::UpgradeStatusStatus;

    /// `n` node objects as the machine-config informer publishes them.
    fn node_objects(n: usize) -> NodeObjects {
        (0..n)
            .map(|i| {
                let name = format!("worker-{i:05}");
                let status = serde_json::from_value(serde_json::json!({
                    "informer": "machine-config",
                    "uid": format!("node-{name}"),
                    "acquiredAt": "2026-06-01T12:00:00Z",
                    "name": name,
                    "resource": {"resource": "nodes", "name": name},
                    "poolResource": {"group": "machineconfiguration.openshift.io", "resource": "machineconfigpools", "name": "worker"},
                    "scopeType": "WorkerPool",
                    "version": "4.16.3",
                    "estimatedToCompleteSeconds": 0,
                    "conditions": [
                        {"type": "Updating", "status": "False", "lastTransitionTime": "2026-06-01T11:00:00Z", "reason": "Completed", "message": "The node is updated"},
                        {"type": "Available", "status": "True", "lastTransitionTime": "2026-06-01T11:00:00Z", "reason": "AsExpected", "message": "The node is available"},
                        {"type": "Degraded", "status": "False", "lastTransitionTime": "2026-06-01T11:00:00Z", "reason": "AsExpected", "message": ""},
                    ],
                }))
                .unwrap();
                (name, status)
            })
        .collect()
    }

    /// A 5,000-node List as YAML holds more than the YAML parser's default 250,000 nodes: the
    /// budget grows with the text, so `status --file` and `--cluster-dir` read it.
    #[test]
    fn a_list_of_five_thousand_node_objects_reads_back_from_yaml() {
        let nodes = node_objects(5000);
        let yaml = serde_saphyr::to_string(&list(&UpgradeStatusStatus::default(), &nodes)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, yaml).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.nodes, nodes);
        assert_eq!(
            back.upgrade_status.metadata.name.as_deref(),
            Some("cluster")
        );
    }

    /// The fast path reads what the general one reads, and leaves everything it cannot read to
    /// it, so errors keep their precise messages.
    #[test]
    fn json_is_read_by_the_fast_path_as_by_the_general_one() {
        let nodes = node_objects(3);
        let text = serde_json::to_string(&list(&UpgradeStatusStatus::default(), &nodes)).unwrap();
        let fast = fast_json(&text).expect("a published List takes the fast path");
        assert_eq!(fast.nodes, nodes);
        assert_eq!(
            Some(fast.clone()),
            published(serde_json::from_str(&text).unwrap()).ok()
        );

        let bare = serde_json::to_string(&crate::publish::upgrade_status(
            UpgradeStatusStatus::default(),
        ))
        .unwrap();
        assert_eq!(
            fast_json(&bare).map(|p| p.upgrade_status),
            Some(fast.upgrade_status)
        );

        let mut value: Value = serde_json::from_str(&text).unwrap();
        value["items"][2]["kind"] = "ConfigMap".into();
        let wrong = value.to_string();
        assert!(fast_json(&wrong).is_none());
        let error = published(serde_json::from_str(&wrong).unwrap()).unwrap_err();
        assert_eq!(
            error,
            "item 2 is a \"ConfigMap\", not an UpgradeStatus or a NodeProgressInsight"
        );

        value["items"][2]["kind"] = "NodeProgressInsight".into();
        value["items"][2]["status"]["informer"] = 7.into();
        let invalid = value.to_string();
        assert!(fast_json(&invalid).is_none());
        let error = published(serde_json::from_str(&invalid).unwrap()).unwrap_err();
        assert!(
            error.starts_with("item 2 (NodeProgressInsight): status.informer"),
            "{error}"
        );
    }
}
