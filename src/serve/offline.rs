//! The offline cluster: a directory of objects standing in for the API server. UpdateInformers
//! are read from it, and a cheap fingerprint tells when anything in it changed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;
use update_status_api::v1alpha1::UpdateInformer;
use update_status_api::validation;

use crate::publish::dir::FILE_NAME;

/// Why the UpdateInformers could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An UpdateInformer breaks a rule of its CRD.
    #[error("{}: invalid UpdateInformer: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// The object files of `dir` (YAML or JSON), sorted; the published UpgradeStatus is not one.
pub fn object_files(dir: &Path) -> Result<Vec<PathBuf>, OfflineError> {
    let read_err = |source| OfflineError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        let published = path.file_name().is_some_and(|n| n == FILE_NAME);
        if wanted && !published && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// What changes when any object file changes: names, sizes and modification times.
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    object_files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect()
}

/// Every UpdateInformer in `dir`, validated against its CRD's rules. Files that hold other
/// kinds are skipped; an invalid UpdateInformer is an error naming its file.
pub fn update_informers(dir: &Path) -> Result<Vec<UpdateInformer>, OfflineError> {
    let mut out = Vec::new();
    for path in object_files(dir)? {
        let text = std::fs::read_to_string(&path).map_err(|source| OfflineError::Read {
            path: path.clone(),
            source,
        })?;
        if !text.contains("UpdateInformer") {
            continue;
        }
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| OfflineError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
        for doc in docs {
            if doc.get("kind").and_then(Value::as_str) != Some("UpdateInformer") {
                continue;
            }
            let informer = validation::update_informer_from_value(doc).map_err(|violations| {
                OfflineError::Invalid {
                    path: path.clone(),
                    message: violations
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                }
            })?;
            out.push(informer);
        }
    }
    Ok(out)
}
