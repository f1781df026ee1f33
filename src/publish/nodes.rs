//! The per-node objects: what must change on the API server so that the NodeProgressInsights
//! there are the ones the store computes. Only nodes whose insight changed are written, so an
//! idle cluster causes no writes and a node's change costs one small write, whatever the size of
//! the cluster.

use std::collections::BTreeMap;

use update_status_api::v1alpha1::NodeProgressInsightStatus;

/// The node objects as last written (or found on the API server), by name.
pub type NodeObjects = BTreeMap<String, NodeProgressInsightStatus>;

/// One write of a node object.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeChange {
    /// Create or update the object named after `status.name` with this status.
    Apply(Box<NodeProgressInsightStatus>),
    /// Delete the object of this name: its node (or its insight) is gone.
    Delete(String),
}

impl NodeChange {
    /// The name of the object it writes.
    pub fn name(&self) -> &str {
        match self {
            NodeChange::Apply(status) => status.node.name.as_str(),
            NodeChange::Delete(name) => name,
        }
    }

    /// Records a successful write in `written`.
    pub fn record(self, written: &mut NodeObjects) {
        match self {
            NodeChange::Apply(status) => {
                written.insert(status.node.name.as_str().to_owned(), *status);
            }
            NodeChange::Delete(name) => {
                written.remove(&name);
            }
        }
    }
}

/// The writes that turn `written` into `wanted`: objects that differ or are missing are
/// applied, objects no longer wanted are deleted; equal ones are left alone.
pub fn changes(written: &NodeObjects, wanted: &NodeObjects) -> Vec<NodeChange> {
    let mut out: Vec<NodeChange> = wanted
        .iter()
        .filter(|(name, status)| written.get(*name) != Some(status))
        .map(|(_, status)| NodeChange::Apply(Box::new(status.clone())))
        .collect();
    out.extend(
        written
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .map(|name| NodeChange::Delete(name.clone())),
    );
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A node object's status of the worker pool at `version`.
    pub(crate) fn node(name: &str, version: &str) -> NodeProgressInsightStatus {
        serde_json::from_value(serde_json::json!({
            "informer": "machine-config",
            "uid": name,
            "acquiredAt": "2026-06-01T12:00:00Z",
            "name": name,
            "resource": {"resource": "nodes", "name": name},
            "poolResource": {"group": "machineconfiguration.openshift.io", "resource": "machineconfigpools", "name": "worker"},
            "scopeType": "WorkerPool",
            "version": version,
        }))
        .unwrap()
    }

    fn objects(nodes: &[NodeProgressInsightStatus]) -> NodeObjects {
        nodes
            .iter()
            .map(|n| (n.node.name.as_str().to_owned(), n.clone()))
            .collect()
    }

    #[test]
    fn only_what_differs_is_written() {
        let written = objects(&[
            node("a", "4.16.3"),
            node("b", "4.16.3"),
            node("c", "4.16.3"),
        ]);
        let wanted = objects(&[
            node("a", "4.16.3"),
            node("b", "4.17.0"),
            node("d", "4.16.3"),
        ]);
        let got = changes(&written, &wanted);
        assert_eq!(
            got,
            vec![
                NodeChange::Apply(Box::new(node("b", "4.17.0"))),
                NodeChange::Apply(Box::new(node("d", "4.16.3"))),
                NodeChange::Delete("c".into()),
            ]
        );
        let mut after = written.clone();
        for change in got {
            change.record(&mut after);
        }
        assert_eq!(after, wanted);
        assert!(changes(&after, &wanted).is_empty(), "nothing left to write");
    }
}
