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
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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
    PublishError::Refused(e.to_string())
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
