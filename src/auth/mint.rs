//! Mints development producer tokens shaped like Kubernetes projected service-account tokens, for
//! the `token` subcommand and tests. Offline mode only: in a cluster the kubelet projects real ones.

use std::time::Duration;

use jsonwebtoken::{Header, encode};
use serde::Serialize;
use update_status_api::constraints::ConstraintError;
use update_status_api::v1alpha1::KubeUid;

use super::ServiceAccount;
use super::keys::{KeyError, encoding_key};

/// The longest lifetime a minted token may have. Development tokens are short-lived on purpose:
/// offline verification has no revocation, so expiry is the only way a leaked one stops working.
pub const MAX_MINT_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Why no token was minted. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The signing key was refused.
    #[error("token signing key")]
    Key(#[from] KeyError),
    /// The issuer or audience is empty.
    #[error("the token {0} must not be empty")]
    Empty(&'static str),
    /// The UID is not a Kubernetes UID.
    #[error("service account uid")]
    Uid(#[source] ConstraintError),
    /// The lifetime is zero or over [`MAX_MINT_LIFETIME`].
    #[error("token lifetime {0:?} must be between 1 s and {MAX_MINT_LIFETIME:?}")]
    Lifetime(Duration),
    /// `now` is before the Unix epoch, which JWT times cannot express.
    #[error("token issue time {0} is before 1970")]
    BeforeEpoch(jiff::Timestamp),
    /// The JWT library failed to sign.
    #[error("signing the token")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// The claims of a projected service-account token (kubernetes pkg/serviceaccount/claims.go).
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: [&'a str; 1],
    sub: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(rename = "kubernetes.io")]
    kubernetes: KubernetesClaim<'a>,
}

#[derive(Serialize)]
struct KubernetesClaim<'a> {
    namespace: &'a str,
    serviceaccount: ServiceAccountClaim<'a>,
}

#[derive(Serialize)]
struct ServiceAccountClaim<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a str>,
}

/// Signs a token for `sa` with `private_key_pem` (PKCS#8 `PRIVATE KEY`, or `RSA PRIVATE KEY`),
/// valid from `now` for `expires_in`, with the algorithm the key's type fixes.
///
/// The token carries `iss`, `aud` (an array, as Kubernetes writes it), `sub`, `iat`, `nbf`, `exp`
/// and `kubernetes.io: {namespace, serviceaccount: {name, uid}}`. `now` is a parameter so that
/// tests can mint tokens that are expired or not yet valid.
pub fn mint(
    private_key_pem: &[u8],
    issuer: &str,
    audience: &str,
    sa: &ServiceAccount,
    uid: Option<&str>,
    now: jiff::Timestamp,
    expires_in: Duration,
) -> Result<String, MintError> {
    if issuer.is_empty() {
        return Err(MintError::Empty("issuer"));
    }
    if audience.is_empty() {
        return Err(MintError::Empty("audience"));
    }
    if let Some(uid) = uid {
        KubeUid::new(uid).map_err(MintError::Uid)?;
    }
    if expires_in < Duration::from_secs(1) || expires_in > MAX_MINT_LIFETIME {
        return Err(MintError::Lifetime(expires_in));
    }
    let iat = now.as_second();
    if iat < 0 {
        return Err(MintError::BeforeEpoch(now));
    }
    // Bounded by MAX_MINT_LIFETIME, and jiff timestamps end in year 9999: no overflow.
    let exp = iat.saturating_add(i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX));
    let (key, algorithm) = encoding_key(private_key_pem)?;
    let claims = Claims {
        iss: issuer,
        aud: [audience],
        sub: sa.username(),
        iat,
        nbf: iat,
        exp,
        kubernetes: KubernetesClaim {
            namespace: sa.namespace.as_str(),
            serviceaccount: ServiceAccountClaim {
                name: sa.name.as_str(),
                uid,
            },
        },
    };
    encode(&Header::new(algorithm.jwt()), &claims, &key).map_err(MintError::Sign)
}
