//! Removing what the controller did not write from `UpgradeStatus/cluster`: the summary and
//! insight groups of informers it does not recognise (a deleted UpdateInformer's, or ones that
//! someone able to write the status added, claiming to be built in).
//!
//! Server-side apply cannot remove them: list items another field manager wrote stay owned by
//! it, whatever the controller applies, and applying the same values only shares ownership. A
//! JSON patch can, and each `remove` is guarded by a `test` of the item's name, so a status
//! that changed meanwhile is refused whole (422) rather than losing the wrong item.

use std::collections::HashSet;

use kube::Api;
use serde_json::{Value, json};
use update_status_api::v1alpha1::{
    InformerName, UPGRADE_STATUS_NAME, UpgradeStatus, UpgradeStatusStatus,
};

use super::apply::FIELD_MANAGER;

/// The JSON patch removing every informer `keep` refuses from `status`: its summary and its
/// groups in the control plane and in each worker pool. Empty when there is nothing to remove.
pub fn foreign_informer_removals(
    status: &UpgradeStatusStatus,
    keep: impl Fn(&InformerName) -> bool,
) -> Vec<Value> {
    let mut ops = Vec::new();
    let mut remove = |path: String, name: &InformerName| {
        ops.push(json!({"op": "test", "path": format!("{path}/name"), "value": name.as_str()}));
        ops.push(json!({"op": "remove", "path": path}));
    };
    // Highest index first, so each index still names the same item when its turn comes.
    for (i, s) in status.informers.iter().enumerate().rev() {
        if !keep(&s.name) {
            remove(format!("/status/informers/{i}"), &s.name);
        }
    }
    if let Some(cp) = &status.control_plane {
        for (i, g) in cp.informers.iter().enumerate().rev() {
            if !keep(&g.name) {
                remove(format!("/status/controlPlane/informers/{i}"), &g.name);
            }
        }
    }
    for (p, pool) in status.worker_pools.iter().enumerate() {
        for (i, g) in pool.informers.iter().enumerate().rev() {
            if !keep(&g.name) {
                remove(format!("/status/workerPools/{p}/informers/{i}"), &g.name);
            }
        }
    }
    ops
}

/// Every informer `status` names: its summaries and its groups in every scope (with more
/// informers than summaries, a group's informer may have no summary).
pub fn informer_names(status: &UpgradeStatusStatus) -> HashSet<&InformerName> {
    let groups = status
        .control_plane
        .iter()
        .flat_map(|cp| cp.informers.iter())
        .chain(status.worker_pools.iter().flat_map(|p| p.informers.iter()))
        .map(|g| &g.name);
    status
        .informers
        .iter()
        .map(|s| &s.name)
        .chain(groups)
        .collect()
}

/// Removes from the stored `UpgradeStatus/cluster` every informer `keep` refuses (see the
/// module). Answers how many items went.
pub async fn remove_foreign_informers(
    client: kube::Client,
    stored: &UpgradeStatusStatus,
    keep: impl Fn(&InformerName) -> bool,
) -> Result<usize, kube::Error> {
    let ops = foreign_informer_removals(stored, keep);
    if ops.is_empty() {
        return Ok(0);
    }
    let api: Api<UpgradeStatus> = Api::all(client.clone());
    let url = format!(
        "{}/{UPGRADE_STATUS_NAME}/status?fieldManager={FIELD_MANAGER}",
        api.resource_url()
    );
    let body = serde_json::to_vec(&ops).map_err(kube::Error::SerdeError)?;
    let request = http::Request::patch(url)
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .body(body)
        .map_err(kube::Error::HttpError)?;
    client.request_text(request).await?;
    Ok(ops.len() / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_of_a_refused_informer_is_removed_highest_index_first_behind_a_test() {
        let status: UpgradeStatusStatus = serde_json::from_value(json!({
            "informers": [
                {"name": "a", "source": "BuiltIn", "state": "Reporting", "insights": 0},
                {"name": "ghost", "source": "BuiltIn", "state": "Reporting", "insights": 0},
                {"name": "ghost2", "source": "Remote", "state": "Reporting", "insights": 0},
            ],
            "workerPools": [{
                "name": "worker",
                "resource": {"group": "machineconfiguration.openshift.io", "resource": "machineconfigpools", "name": "worker"},
                "conditions": [],
                "informers": [{"name": "ghost", "insights": []}, {"name": "a", "insights": []}],
            }],
        }))
        .unwrap();
        let ops = foreign_informer_removals(&status, |n| n.as_str() == "a");
        let paths: Vec<(&str, &str)> = ops
            .iter()
            .map(|o| (o["op"].as_str().unwrap(), o["path"].as_str().unwrap()))
            .collect();
        assert_eq!(
            paths,
            [
                ("test", "/status/informers/2/name"),
                ("remove", "/status/informers/2"),
                ("test", "/status/informers/1/name"),
                ("remove", "/status/informers/1"),
                ("test", "/status/workerPools/0/informers/0/name"),
                ("remove", "/status/workerPools/0/informers/0"),
            ]
        );
        assert_eq!(ops[0]["value"], "ghost2");
        assert!(foreign_informer_removals(&status, |_| true).is_empty());
    }
}
