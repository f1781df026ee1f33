//! Development tokens, as `update-status-controller token` mints them: signed with
//! `certs-dev/token-signing.key`, issued by the development issuer for our audience, valid for
//! ten minutes. For the tests that drive `serve --dev` or a router set up with the dev key.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::time::Duration;

use update_status_controller::auth::{DEFAULT_AUDIENCE, DEV_ISSUER, ServiceAccount, mint};

/// The development signing key (the matching public key is what `serve --dev` trusts).
pub const DEV_KEY: &[u8] = include_bytes!("../../certs-dev/token-signing.key");

/// A development token of the service account `namespace/name`.
pub fn dev_token(namespace: &str, name: &str) -> String {
    dev_token_for(&format!("system:serviceaccount:{namespace}:{name}"))
}

/// A development token for `username`, which must be a `system:serviceaccount:` name.
pub fn dev_token_for(username: &str) -> String {
    token_signed_by(DEV_KEY, username)
}

/// A token shaped as a development token for `username`, signed with `key` (another key makes
/// a forgery the server must refuse).
pub fn token_signed_by(key: &[u8], username: &str) -> String {
    let sa = ServiceAccount::from_username(username)
        .unwrap_or_else(|| panic!("{username} is not a service account"));
    mint(
        key,
        DEV_ISSUER,
        DEFAULT_AUDIENCE,
        &sa,
        None,
        jiff::Timestamp::now(),
        Duration::from_secs(600),
    )
    .unwrap_or_else(|e| panic!("minting a development token: {e}"))
}
