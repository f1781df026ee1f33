//! `status`: render an UpgradeStatus as `oc adm upgrade status` prints it, from the object alone.

use update_status_api::time::Timestamp;

use super::{CommandError, parse_now};
use crate::cli::{DetailsArg, StatusArgs};
use crate::clock::wall_now;
use crate::publish::dir::{FILE_NAME, read};
use crate::render::{Details, render};

/// The text `oc adm upgrade status` would print for the object `args` names.
pub fn run(args: &StatusArgs) -> Result<String, CommandError> {
    let path = match (&args.file, &args.cluster_dir) {
        (Some(f), _) => f.clone(),
        (None, Some(dir)) => dir.join(FILE_NAME),
        (None, None) => return Err(CommandError::NoSource),
    };
    let obj = read(&path)?;
    let status = obj
        .status
        .ok_or_else(|| CommandError::NoStatus(path.clone()))?;
    // A recorded object is rendered as of the moment it describes, unless told otherwise.
    let now: Timestamp = parse_now(args.now.as_deref())?
        .or(status.observed_at)
        .unwrap_or_else(wall_now);
    Ok(render(&status, now, &details(args.details))?)
}

fn details(d: DetailsArg) -> Details {
    match d {
        DetailsArg::None => Details::none(),
        DetailsArg::All => Details::all(),
        DetailsArg::Nodes => Details {
            nodes: true,
            ..Details::none()
        },
        DetailsArg::Health => Details {
            health: true,
            ..Details::none()
        },
        DetailsArg::Operators => Details {
            operators: true,
            ..Details::none()
        },
    }
}
