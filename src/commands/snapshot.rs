//! `snapshot`: compute the UpgradeStatus of a recorded cluster once and print it.

use std::io::Write;
use std::path::Path;

use super::{CommandError, parse_now};
use crate::builtin;
use crate::cli::{OutputFormat, SnapshotArgs};
use crate::clock::wall_now;
use crate::cluster::{ClusterSource, ClusterState, DirectorySource, OcMockSource, mock_now};
use crate::publish::Publication;
use crate::publish::dir::list;
use crate::store::Store;

/// Loads a directory of objects, or an `oc` mock case given by its `-cv.yaml` file.
pub fn load(path: &Path) -> Result<ClusterState, CommandError> {
    if path.is_dir() {
        return Ok(DirectorySource::new(path).load()?);
    }
    let is_mock = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with("-cv.yaml"));
    if is_mock {
        return Ok(OcMockSource::new(path).load()?);
    }
    Err(CommandError::BadPath(path.to_owned()))
}

/// Runs every built-in informer on `state` at `now` through a fresh store.
pub fn evaluate(
    state: &ClusterState,
    now: update_status_api::time::Timestamp,
    budget_bytes: usize,
) -> Publication {
    let mut store = Store::new();
    for output in builtin::assess(state, now, wall_now()) {
        store.replace(&output.informer, true, output.insights, now);
    }
    store.publication(now, budget_bytes)
}

/// Writes the UpgradeStatus and NodeProgressInsights of the recorded cluster at `args.path` to
/// `out`, as one `List`. The cluster's objects are freed before the output is written, and the
/// output is written as it is serialized: at 5,000 nodes, holding either would double the peak
/// memory.
pub fn run(args: &SnapshotArgs, out: impl std::io::Write) -> Result<(), CommandError> {
    let state = load(&args.path)?;
    let now = parse_now(args.now.as_deref())?.unwrap_or_else(|| mock_now(&state));
    let publication = evaluate(&state, now, args.budget_bytes);
    drop(state);
    let obj = list(&publication.status, &publication.nodes);
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    match args.output {
        OutputFormat::Yaml => serde_saphyr::to_io_writer(&mut out, &obj)
            .map_err(|e| CommandError::Output(e.to_string()))?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &obj)
                .map_err(|e| CommandError::Output(e.to_string()))?;
            out.write_all(b"\n")
                .map_err(|e| CommandError::Output(e.to_string()))?;
        }
    }
    out.flush().map_err(|e| CommandError::Output(e.to_string()))
}
