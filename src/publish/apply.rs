//! Publication to the API server: server-side apply of the `UpgradeStatus/cluster` status with
//! one fixed field manager, creating the singleton first when it does not exist.
//!
//! Server-side apply rather than update: no read-modify-write loop, no resourceVersion conflict
//! with another writer of other fields, and the field manager shows in `managedFields` who owns
//! the status. `force` is set because this controller is the status's only rightful owner: a
//! conflict can only come from someone editing it by hand, whose change the next publication
//! must overwrite anyway.

use std::future::Future;
use std::pin::Pin;

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use update_status_api::v1alpha1::{
    UPGRADE_STATUS_NAME, UpgradeStatus, UpgradeStatusSpec, UpgradeStatusStatus,
};

use super::{PublishError, Sink};

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

/// Applies the status of `UpgradeStatus/cluster`.
#[derive(Clone)]
pub struct ApplySink {
    api: Api<UpgradeStatus>,
}

impl ApplySink {
    /// A sink writing through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self {
            api: Api::all(client),
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
        self.api
            .patch_status(UPGRADE_STATUS_NAME, &params, &Patch::Apply(&body))
            .await
            .map(|_| ())
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
