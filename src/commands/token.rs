//! `token`: mint a development producer token with the development key. Only offline mode
//! accepts it: in a cluster, tokens come from the kubelet and are checked by TokenReview.

use super::CommandError;
use crate::auth::mint::mint;
use crate::auth::{DEV_ISSUER, ServiceAccount};
use crate::cli::TokenArgs;

/// The token, for `Authorization: Bearer`.
pub fn run(args: &TokenArgs) -> Result<String, CommandError> {
    let sa = args
        .service_account
        .split_once('/')
        .and_then(|(ns, name)| ServiceAccount::from_username(&format!("system:serviceaccount:{ns}:{name}")))
        .ok_or_else(|| {
            CommandError::BadArgument(format!(
                "--service-account {:?} must be <namespace>/<name>, for example example-storage/storage-operator",
                args.service_account
            ))
        })?;
    let key = std::fs::read(&args.key_file).map_err(|source| CommandError::ReadFile {
        path: args.key_file.clone(),
        source,
    })?;
    Ok(mint(
        &key,
        DEV_ISSUER,
        &args.audience,
        &sa,
        args.uid.as_deref(),
        jiff::Timestamp::now(),
        args.expires,
    )?)
}
