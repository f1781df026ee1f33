//! The one-shot subcommands (`snapshot`, `status`, `token`, `report`), as library functions that
//! return what to print, so tests call them the way the binary does.

pub mod freshness;
pub mod pages;
pub mod report;
pub mod snapshot;
pub mod status;
pub mod status_watch;
pub mod token;

use std::path::PathBuf;

/// Why a subcommand failed; every variant names what the user gave.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The cluster objects could not be loaded.
    #[error(transparent)]
    Source(#[from] crate::cluster::SourceError),
    /// The path is neither a directory nor an `oc` mock `-cv.yaml` file.
    #[error("{}: expected a directory of Kubernetes objects or an oc mock file ending in -cv.yaml", .0.display())]
    BadPath(PathBuf),
    /// A time argument is not RFC 3339.
    #[error("--now {value:?} is not an RFC 3339 time such as 2024-02-27T15:42:58Z: {message}")]
    BadTime { value: String, message: String },
    /// The object could not be rendered.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// The UpgradeStatus file could not be read.
    #[error(transparent)]
    Read(#[from] crate::publish::dir::ReadError),
    /// The object has no status to render.
    #[error("{}: the UpgradeStatus has no status yet", .0.display())]
    NoStatus(PathBuf),
    /// Serializing or writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(String),
    /// `status` could not read the object from the cluster.
    #[error(
        "cannot read UpgradeStatus/cluster from the cluster ({0}); or pass --file or --cluster-dir"
    )]
    Cluster(String),
    /// The cluster has no UpgradeStatus yet.
    #[error(
        "the cluster has no UpgradeStatus/cluster yet: is the update-status-controller running?"
    )]
    NotPublished,
    /// A token could not be minted.
    #[error(transparent)]
    Mint(#[from] crate::auth::mint::MintError),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A malformed argument.
    #[error("{0}")]
    BadArgument(String),
    /// The report could not be delivered.
    #[error(transparent)]
    Report(#[from] report::ReportError),
}

/// Parses an optional `--now`.
pub fn parse_now(
    value: Option<&str>,
) -> Result<Option<update_status_api::time::Timestamp>, CommandError> {
    value
        .map(|v| {
            v.parse().map_err(|e: jiff::Error| CommandError::BadTime {
                value: v.to_owned(),
                message: e.to_string(),
            })
        })
        .transpose()
}
