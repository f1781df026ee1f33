//! Offline publication: the UpgradeStatus and the NodeProgressInsights are written as one YAML
//! `List` into the cluster directory, next to the objects they were computed from, replacing the
//! file atomically so readers never see half — nor a singleton from one moment beside nodes from
//! another.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use update_status_api::v1alpha1::{
    NodeProgressInsight, NodeProgressInsightSpec, UpgradeStatus, UpgradeStatusStatus,
};

use super::nodes::{NodeChange, NodeObjects};
use super::{PublishError, Sink, SinkFuture, upgrade_status};

/// The file name of the published objects in a cluster directory.
pub const FILE_NAME: &str = "upgradestatus-cluster.yaml";

/// Writes `<dir>/upgradestatus-cluster.yaml`.
#[derive(Debug)]
pub struct DirSink {
    path: PathBuf,
    /// Everything the file holds, rewritten whole on each write.
    held: Mutex<(UpgradeStatusStatus, NodeObjects)>,
}

impl DirSink {
    /// A sink writing into `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
            held: Mutex::new(Default::default()),
        }
    }

    /// The file it writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn flush(&self) -> Result<(), PublishError> {
        let yaml = {
            let held = self
                .held
                .lock()
                .map_err(|_| PublishError::Serialize("the sink's lock is poisoned".into()))?;
            serde_saphyr::to_string(&list(&held.0, &held.1))
                .map_err(|e| PublishError::Serialize(e.to_string()))?
        };
        let tmp = self.path.with_extension("yaml.tmp");
        let io = |source| PublishError::Io {
            target: self.path.display().to_string(),
            source,
        };
        tokio::fs::write(&tmp, yaml).await.map_err(io)?;
        tokio::fs::rename(&tmp, &self.path).await.map_err(io)
    }
}

/// The objects as one `v1` `List`, the singleton first and then the nodes in name order: what
/// `oc get upgradestatus,nodeprogressinsights -o yaml` prints, and what `status --file` reads.
/// Serialized as it is written, one object at a time: a tree of 10,000 node objects built first
/// would hold several times the output in memory.
pub fn list<'a>(status: &'a UpgradeStatusStatus, nodes: &'a NodeObjects) -> List<'a> {
    List { status, nodes }
}

/// See [`list`].
pub struct List<'a> {
    status: &'a UpgradeStatusStatus,
    nodes: &'a NodeObjects,
}

impl Serialize for List<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("apiVersion", "v1")?;
        map.serialize_entry("kind", "List")?;
        map.serialize_entry("items", &Items(self))?;
        map.end()
    }
}

/// The items of a [`List`], each built as it is written.
struct Items<'a>(&'a List<'a>);

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.nodes.len() + 1))?;
        seq.serialize_element(&upgrade_status(self.0.status.clone()))?;
        for (name, node) in self.0.nodes {
            let mut obj = NodeProgressInsight::new(name, NodeProgressInsightSpec {});
            obj.status = Some(node.clone());
            seq.serialize_element(&obj)?;
        }
        seq.end()
    }
}

impl Sink for DirSink {
    fn write<'a>(
        &'a self,
        status: &'a UpgradeStatusStatus,
    ) -> SinkFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            if let Ok(mut held) = self.held.lock() {
                held.0 = status.clone();
            }
            self.flush().await
        })
    }

    fn write_nodes<'a>(
        &'a self,
        changes: &'a [NodeChange],
    ) -> SinkFuture<'a, Vec<(String, PublishError)>> {
        Box::pin(async move {
            if let Ok(mut held) = self.held.lock() {
                for change in changes {
                    change.clone().record(&mut held.1);
                }
            }
            match self.flush().await {
                Ok(()) => Vec::new(),
                Err(e) => changes
                    .iter()
                    .map(|c| (c.name().to_owned(), PublishError::Refused(e.to_string())))
                    .collect(),
            }
        })
    }
}

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

/// Sorts the objects of a document (an UpgradeStatus or a List) into a [`Published`].
fn published(value: Value) -> Result<Published, String> {
    let items = match value.get("kind").and_then(Value::as_str) {
        Some("List" | "UpgradeStatusList" | "NodeProgressInsightList") => match value {
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

    /// A 5,000-node List as YAML holds more than the YAML parser's default 250,000 nodes: the
    /// budget grows with the text, so `status --file` and `--cluster-dir` read it.
    #[test]
    fn a_list_of_five_thousand_node_objects_reads_back_from_yaml() {
        let nodes: NodeObjects = (0..5000)
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
            .collect();
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
}
