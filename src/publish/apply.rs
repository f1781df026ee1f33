//! Publication to the API server: server-side apply of the `UpgradeStatus/cluster` status and of
//! each `NodeProgressInsight` status with one fixed field manager, creating an object first
//! when it does not exist (a node's object owned by the singleton, so it goes away with it).
//!
//! Server-side apply rather than update: no read-modify-write loop, no resourceVersion conflict
//! with another writer of other fields, and the field manager shows in `managedFields` who owns
//! the status. `force` is set because this controller is the status's only rightful owner: a
//! conflict can only come from someone editing it by hand, whose change the next publication
//! must overwrite anyway.

use std::future::Future;
use std::pin::Pin;

use std::sync::Mutex;

use futures::StreamExt;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use update_status_api::v1alpha1::{
    NodeProgressInsight, NodeProgressInsightStatus, UPGRADE_STATUS_NAME, UpgradeStatus,
    UpgradeStatusSpec, UpgradeStatusStatus,
};

use super::nodes::{NodeChange, NodeObjects};
use super::scrub::{informer_names, remove_foreign_informers};
use super::{PublishError, Sink, SinkFuture};

/// How many node objects are written at once. A first publication of a 10,000-node cluster is
/// 20,000 requests (create, then status); one at a time that is minutes, and unbounded it would
/// flood the API server, whose default per-client fairness share is far below this.
pub const NODE_WRITE_CONCURRENCY: usize = 16;

/// How many node objects one LIST page holds when reading them back.
pub const NODE_LIST_PAGE: u32 = 500;

/// The field manager of every write of the status.
pub const FIELD_MANAGER: &str = "update-status-controller";

/// The longest a write may take. The kube client's own read timeout is minutes long (it suits
/// watches); a write stuck on a half-dead connection (a partition, no reset) would otherwise
/// stall publication for that long. A timed-out write is retried with the publisher's backoff.
///
/// Not shorter: server-side apply of an object near etcd's limit takes the API server seconds
/// (it merges and rebuilds the managedFields of thousands of list entries). On a shared 2-core
/// envtest (kube-apiserver v1.36), a 1.5 MiB object took 2.7–3.0 s to apply, and the refusal of
/// a larger one as too large 3–7 s. Cut at 5 s, such an answer was lost, the write taken for a
/// transport failure, and the same too-large write retried forever.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// `call`, or a (transport) error when it has not answered within [`WRITE_TIMEOUT`].
async fn bounded<T>(call: impl Future<Output = Result<T, kube::Error>>) -> Result<T, kube::Error> {
    tokio::time::timeout(WRITE_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(kube::Error::Service(
                format!("no answer from the API server within {WRITE_TIMEOUT:?}").into(),
            ))
        })
}

/// Applies the status of `UpgradeStatus/cluster` and of the NodeProgressInsights.
pub struct ApplySink {
    client: kube::Client,
    api: Api<UpgradeStatus>,
    nodes: Api<NodeProgressInsight>,
    /// The singleton's uid, learnt from its last write: the owner of every node object.
    owner_uid: Mutex<Option<String>>,
}

impl ApplySink {
    /// A sink writing through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self {
            api: Api::all(client.clone()),
            nodes: Api::all(client.clone()),
            client,
            owner_uid: Mutex::new(None),
        }
    }

    async fn apply(&self, status: &UpgradeStatusStatus) -> Result<(), kube::Error> {
        let body = serde_json::json!({
            "apiVersion": "update.openshift.io/v1alpha1",
            "kind": "UpgradeStatus",
            "metadata": { "name": UPGRADE_STATUS_NAME },
            "status": status,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let written = self
            .api
            .patch_status(UPGRADE_STATUS_NAME, &params, &Patch::Apply(&body))
            .await?;
        if let (Ok(mut uid), Some(new)) = (self.owner_uid.lock(), written.metadata.uid.clone()) {
            *uid = Some(new);
        }
        // What another field manager added survives our apply (it owns those list items).
        // Whatever informer the stored status names and ours does not is foreign: remove it
        // now rather than at the next change of leader.
        if let Some(stored) = &written.status {
            let ours = informer_names(status);
            // A failed removal (the object changed meanwhile) is retried at the next publish;
            // it does not make this one fail.
            match remove_foreign_informers(self.client.clone(), stored, |n| ours.contains(n)).await
            {
                Ok(0) => {}
                Ok(removed) => tracing::warn!(
                    removed,
                    "removed informers another writer added to the published UpgradeStatus"
                ),
                Err(e) => tracing::warn!(
                    error = %e,
                    "cannot remove informers another writer added to the published UpgradeStatus"
                ),
            }
        }
        Ok(())
    }

    /// The singleton's uid: remembered from its last write, else read.
    async fn owner(&self) -> Result<String, kube::Error> {
        if let Some(uid) = self.owner_uid.lock().ok().and_then(|u| u.clone()) {
            return Ok(uid);
        }
        let singleton = bounded(self.api.get(UPGRADE_STATUS_NAME)).await?;
        let uid = singleton.metadata.uid.unwrap_or_default();
        if let Ok(mut slot) = self.owner_uid.lock() {
            *slot = Some(uid.clone());
        }
        Ok(uid)
    }

    async fn apply_node_status(
        &self,
        status: &NodeProgressInsightStatus,
    ) -> Result<(), kube::Error> {
        let name = status.node.name.as_str();
        let body = serde_json::json!({
            "apiVersion": "update.openshift.io/v1alpha1",
            "kind": "NodeProgressInsight",
            "metadata": { "name": name },
            "status": status,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.nodes
            .patch_status(name, &params, &Patch::Apply(&body))
            .await
            .map(|_| ())
    }

    /// Creates the node object `name`, owned by the singleton, without status.
    async fn create_node(&self, name: &str) -> Result<(), kube::Error> {
        let body = serde_json::json!({
            "apiVersion": "update.openshift.io/v1alpha1",
            "kind": "NodeProgressInsight",
            "metadata": {
                "name": name,
                "ownerReferences": [{
                    "apiVersion": "update.openshift.io/v1alpha1",
                    "kind": "UpgradeStatus",
                    "name": UPGRADE_STATUS_NAME,
                    "uid": self.owner().await?,
                }],
            },
            "spec": {},
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.nodes
            .patch(name, &params, &Patch::Apply(&body))
            .await
            .map(|_| ())
    }

    /// [`Self::write_node`], answering the node's name with the error when it failed.
    async fn try_write_node(&self, change: &NodeChange) -> Option<(String, PublishError)> {
        self.write_node(change)
            .await
            .err()
            .map(|e| (change.name().to_owned(), e))
    }

    /// Makes one node change: a status apply (creating the object first when it is absent), or
    /// a delete (an object already gone is fine).
    async fn write_node(&self, change: &NodeChange) -> Result<(), PublishError> {
        match change {
            NodeChange::Apply(status) => match bounded(self.apply_node_status(status)).await {
                Ok(()) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    let name = status.node.name.as_str();
                    bounded(self.create_node(name))
                        .await
                        .map_err(|e| refused(&e))?;
                    bounded(self.apply_node_status(status))
                        .await
                        .map_err(|e| refused(&e))
                }
                Err(e) => Err(refused(&e)),
            },
            NodeChange::Delete(name) => {
                match bounded(self.nodes.delete(name, &DeleteParams::default())).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                    Err(e) => Err(refused(&e)),
                }
            }
        }
    }

    async fn create(&self) -> Result<(), kube::Error> {
        let obj = UpgradeStatus::new(UPGRADE_STATUS_NAME, UpgradeStatusSpec::default());
        match self.api.create(&PostParams::default(), &obj).await {
            Ok(_) => Ok(()),
            // Created meanwhile (by a previous leader): fine.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn refused(e: &kube::Error) -> PublishError {
    match e {
        kube::Error::Api(s) if is_too_large(s.code, &s.message) => {
            PublishError::TooLarge(s.message.clone())
        }
        _ => PublishError::Refused(e.to_string()),
    }
}

/// Whether the API server refused a write because of the object's size, which no retry of the
/// same write can overcome:
///
/// - etcd's request limit (`--max-request-bytes`, 1.5 MiB): HTTP 500 `etcdserver: request is
///   too large`;
/// - the gRPC message limit of the API server's etcd client, hit first by larger objects: HTTP
///   500 `rpc error: code = ResourceExhausted desc = trying to send message larger than max`;
/// - the API server's request body limit: HTTP 413 (`RequestEntityTooLarge`);
/// - a validation error (422) about size: a value or the object over a size limit (`too
///   large`, `exceeds ... size/bytes/limit`), or a list over its schema's `maxItems` (`Too
///   many`), which fewer insights cure as well.
pub fn is_too_large(code: u16, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let sized = m.contains("too large")
        || m.contains("larger than max")
        || (m.contains("exceed") && ["size", "bytes", "limit"].iter().any(|w| m.contains(w)));
    match code {
        413 => true,
        422 => sized || m.contains("too many"),
        500 => m.contains("request is too large") || m.contains("larger than max"),
        _ => false,
    }
}

impl Sink for ApplySink {
    fn write_nodes<'a>(
        &'a self,
        changes: &'a [NodeChange],
    ) -> SinkFuture<'a, Vec<(String, PublishError)>> {
        Box::pin(async move {
            let writes: Vec<_> = changes.iter().map(|c| self.try_write_node(c)).collect();
            futures::stream::iter(writes)
                .buffer_unordered(NODE_WRITE_CONCURRENCY)
                .filter_map(std::future::ready)
                .collect()
                .await
        })
    }

    fn write<'a>(
        &'a self,
        status: &'a UpgradeStatusStatus,
    ) -> Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>> {
        Box::pin(async move {
            match bounded(self.apply(status)).await {
                Ok(()) => Ok(()),
                // The status subresource of an absent object: create it, then apply again.
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    bounded(self.create()).await.map_err(|e| refused(&e))?;
                    bounded(self.apply(status)).await.map_err(|e| refused(&e))
                }
                Err(e) => Err(refused(&e)),
            }
        })
    }
}

/// The status already published, if any: a restarted controller (or a new leader) starts from
/// it, so it never publishes an emptier object than it found.
pub async fn read_published(
    client: kube::Client,
) -> Result<Option<UpgradeStatusStatus>, kube::Error> {
    let api: Api<UpgradeStatus> = Api::all(client);
    Ok(bounded(api.get_opt(UPGRADE_STATUS_NAME))
        .await?
        .and_then(|o| o.status))
}

/// The NodeProgressInsights on the API server, read in pages: what a restarted controller
/// (or a new leader) compares with before writing, and what `status` renders.
pub async fn read_nodes(client: kube::Client) -> Result<NodeObjects, kube::Error> {
    let api: Api<NodeProgressInsight> = Api::all(client);
    let mut out = NodeObjects::new();
    let mut params = ListParams::default().limit(NODE_LIST_PAGE);
    loop {
        let page = bounded(api.list(&params)).await?;
        for obj in page.items {
            if let (Some(name), Some(status)) = (obj.metadata.name, obj.status) {
                out.insert(name, status);
            }
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

/// Applies the status of one UpdateInformer (same field manager as the UpgradeStatus).
pub async fn apply_informer_status(
    client: kube::Client,
    name: &str,
    status: &update_status_api::v1alpha1::UpdateInformerStatus,
) -> Result<(), kube::Error> {
    let api: Api<update_status_api::v1alpha1::UpdateInformer> = Api::all(client);
    let body = serde_json::json!({
        "apiVersion": "update.openshift.io/v1alpha1",
        "kind": "UpdateInformer",
        "metadata": { "name": name },
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    bounded(api.patch_status(name, &params, &Patch::Apply(&body)))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::is_too_large;

    #[test]
    fn refusals_for_size_are_told_apart_from_other_failures() {
        // What a real kube-apiserver v1.36 with etcd's default limits answered.
        assert!(is_too_large(500, "etcdserver: request is too large"));
        assert!(is_too_large(
            500,
            "rpc error: code = ResourceExhausted desc = trying to send message larger than max (3886296 vs. 2097152)"
        ));
        assert!(is_too_large(
            413,
            "Request entity too large: limit is 3145728"
        ));
        assert!(is_too_large(
            422,
            "UpgradeStatus.update.openshift.io \"cluster\" is invalid: status.workerPools[0].informers[0].insights: Too many: 2049: must have at most 2048 items"
        ));
        assert!(is_too_large(
            422,
            "the object exceeds the maximum size of 1572864 bytes"
        ));
        // Not about size: retried as they are.
        assert!(!is_too_large(500, "etcdserver: leader changed"));
        assert!(!is_too_large(
            422,
            "status.conditions[0].reason: Invalid value: \"x y\": should match"
        ));
        assert!(!is_too_large(409, "the object has been modified"));
        assert!(!is_too_large(
            403,
            "forbidden: the request is too large for you"
        ));
    }
}
