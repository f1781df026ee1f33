//! Offline publication: the UpgradeStatus and the NodeProgressInsights are written as one YAML
//! `List` into the cluster directory, next to the objects they were computed from, replacing the
//! file atomically so readers never see half — nor a singleton from one moment beside nodes from
//! another.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use update_status_api::v1alpha1::{
    NodeProgressInsight, NodeProgressInsightSpec, UpgradeStatusStatus,
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

pub use super::read_back::{Published, ReadError, read};
