//! Offline publication: the UpgradeStatus is written as YAML into the cluster directory, next to
//! the objects it was computed from, replacing the file atomically so readers never see half.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use update_status_api::v1alpha1::{UpgradeStatus, UpgradeStatusStatus};

use super::{PublishError, Sink, upgrade_status};

/// The file name of the published object in a cluster directory.
pub const FILE_NAME: &str = "upgradestatus-cluster.yaml";

/// Writes `<dir>/upgradestatus-cluster.yaml`.
#[derive(Debug, Clone)]
pub struct DirSink {
    path: PathBuf,
}

impl DirSink {
    /// A sink writing into `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
        }
    }

    /// The file it writes.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Sink for DirSink {
    fn write<'a>(
        &'a self,
        status: &'a UpgradeStatusStatus,
    ) -> Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>> {
        Box::pin(async move {
            let yaml = serde_saphyr::to_string(&upgrade_status(status.clone()))
                .map_err(|e| PublishError::Serialize(e.to_string()))?;
            let tmp = self.path.with_extension("yaml.tmp");
            let io = |source| PublishError::Io {
                target: self.path.display().to_string(),
                source,
            };
            tokio::fs::write(&tmp, yaml).await.map_err(io)?;
            tokio::fs::rename(&tmp, &self.path).await.map_err(io)
        })
    }
}

/// Reads a published UpgradeStatus back (YAML or JSON).
pub fn read(path: &Path) -> Result<UpgradeStatus, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let parse_error = |message: String| ReadError::Parse {
        path: path.to_owned(),
        message,
    };
    if text.trim_start().starts_with('{') {
        // JSON (`oc get -o json`): serde_json is an order of magnitude faster than a YAML parser.
        return serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()));
    }
    serde_saphyr::from_str(&text).map_err(|e| parse_error(e.to_string()))
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
