//! The offline authenticator: verifies service-account tokens locally against one public key,
//! with no cluster to ask (DESIGN §8; in a cluster TokenReview is authoritative).
//!
//! What it checks, in order, each failure named in [`AuthError::Invalid`]:
//! 1. size and JWS compact shape;
//! 2. the header: JSON, `alg` equal to the key's algorithm (fixed when the key is loaded, never
//!    read from the token), no `crit` extensions;
//! 3. the signature, with the configured key;
//! 4. the registered claims, all required (`set_required_spec_claims`): `iss` is the configured
//!    issuer (one string), `aud` is exactly our audience (alone: a token also valid for the API
//!    server could be replayed there), `exp` and `nbf` are numbers and the time is inside them
//!    give or take a small leeway (`validate_nbf` is off by default in jsonwebtoken: turned on),
//!    `sub` is a string;
//! 5. `sub` is a service account, and the `kubernetes.io` claim, when present, names the same
//!    account and a well-formed UID.
//!
//! Offline verification cannot see revocation (a deleted pod or service account): tokens stay
//! valid until they expire, which is why this is the development and no-cluster authenticator.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation, decode};
use serde::Deserialize;
use serde_json::{Map, Value};
use update_status_api::v1alpha1::KubeUid;

use super::bearer::MAX_TOKEN_BYTES;
use super::keys::{KeyError, SigningAlgorithm, decoding_key};
use super::{AuthError, AuthFuture, Authenticator, Identity, ServiceAccount, screen};

/// The clock skew tolerated on `exp` and `nbf` by default: small, because the only clocks
/// involved are the cluster's (Kubernetes itself allows 60 s).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The largest leeway accepted: more would quietly extend every token's life.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The claims every token must carry; jsonwebtoken checks `aud`, `iss`, `sub` only when present
/// unless they are listed here (research §2.D2).
const REQUIRED_CLAIMS: [&str; 5] = ["exp", "nbf", "iss", "aud", "sub"];

/// What a token must say to be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtSettings {
    /// The only accepted `iss` (offline: [`super::DEV_ISSUER`], or the cluster's issuer URL).
    pub issuer: String,
    /// The audience `aud` must contain (normally [`super::DEFAULT_AUDIENCE`]).
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, whole seconds, at most [`MAX_LEEWAY`].
    pub leeway: Duration,
}

impl JwtSettings {
    /// Settings with the default leeway.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: DEFAULT_LEEWAY,
        }
    }
}

/// Why a [`JwtAuthenticator`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    /// The key file could not be read.
    #[error("reading token verification key {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds no usable public key.
    #[error("token verification key {}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// The key bytes hold no usable public key.
    #[error("token verification key")]
    Key(#[from] KeyError),
    /// The issuer or audience is empty, which would make the check meaningless.
    #[error("the token {0} must not be empty")]
    Empty(&'static str),
    /// The leeway is over [`MAX_LEEWAY`].
    #[error("token leeway {leeway:?} is over the maximum {MAX_LEEWAY:?}")]
    LeewayTooLarge {
        /// The leeway asked for.
        leeway: Duration,
    },
}

/// Verifies tokens against one public key file; see the module documentation for the checks.
pub struct JwtAuthenticator {
    key: DecodingKey,
    algorithm: SigningAlgorithm,
    validation: Validation,
    issuer: String,
    audience: String,
}

// By hand so that no future field can print key material.
impl fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_seconds", &self.validation.leeway)
            .finish_non_exhaustive()
    }
}

impl JwtAuthenticator {
    /// Builds the authenticator from a PEM public key (SPKI `PUBLIC KEY`, or `RSA PUBLIC KEY`).
    pub fn from_public_key_pem(pem: &[u8], settings: JwtSettings) -> Result<Self, JwtConfigError> {
        let (key, algorithm) = decoding_key(pem)?;
        Self::with_key(key, algorithm, settings)
    }

    /// Builds the authenticator from a PEM public key file, naming the file in any error.
    pub fn from_public_key_file(
        path: &Path,
        settings: JwtSettings,
    ) -> Result<Self, JwtConfigError> {
        let pem = std::fs::read(path).map_err(|source| JwtConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let (key, algorithm) = decoding_key(&pem).map_err(|source| JwtConfigError::KeyFile {
            path: path.to_owned(),
            source,
        })?;
        Self::with_key(key, algorithm, settings)
    }

    fn with_key(
        key: DecodingKey,
        algorithm: SigningAlgorithm,
        settings: JwtSettings,
    ) -> Result<Self, JwtConfigError> {
        if settings.issuer.is_empty() {
            return Err(JwtConfigError::Empty("issuer"));
        }
        if settings.audience.is_empty() {
            return Err(JwtConfigError::Empty("audience"));
        }
        if settings.leeway > MAX_LEEWAY {
            return Err(JwtConfigError::LeewayTooLarge {
                leeway: settings.leeway,
            });
        }
        // Never `Validation::new(header.alg)`: the one algorithm is the key's.
        let mut validation = Validation::new(algorithm.jwt());
        validation.set_required_spec_claims(&REQUIRED_CLAIMS);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = settings.leeway.as_secs();
        Ok(Self {
            key,
            algorithm,
            validation,
            issuer: settings.issuer,
            audience: settings.audience,
        })
    }

    /// The algorithm tokens must be signed with (the key's).
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// Verifies `token` now, synchronously (no I/O: the key is in memory).
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("size: the token is longer than 8 KiB"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(
                "format: not a JWS compact token (three dot-separated parts)",
            ));
        };
        self.check_header(header)?;
        let claims = decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| self.explain(e.kind(), token, payload))?
            .claims;
        screen::exact_audience(&claims, &self.audience)?;
        identity(claims)
    }

    /// Refuses a header whose `alg` is not the key's before any cryptography, so `none`, `HS256`
    /// and friends are named as what they are.
    fn check_header(&self, header: &str) -> Result<(), AuthError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| invalid("header: not base64url"))?;
        let header: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|_| invalid("header: not a JSON object"))?;
        match header.get("alg") {
            Some(Value::String(alg)) if alg == self.algorithm.name() => {}
            _ => {
                return Err(AuthError::Invalid(format!(
                    "alg: the header does not name {}, the only algorithm the configured key verifies",
                    self.algorithm
                )));
            }
        }
        if header.contains_key("crit") {
            return Err(invalid("header: critical extensions are not supported"));
        }
        Ok(())
    }

    /// Names the failed check. Only our own words and configuration go into the message: library
    /// messages can quote the token's JSON, so they are never passed on.
    fn explain(&self, kind: &ErrorKind, token: &str, payload: &str) -> AuthError {
        match kind {
            ErrorKind::InvalidSignature => {
                invalid("signature: does not verify with the configured key")
            }
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => AuthError::Invalid(
                format!("alg: the token is not signed with {}", self.algorithm),
            ),
            ErrorKind::ExpiredSignature => invalid("exp: the token has expired"),
            ErrorKind::ImmatureSignature => invalid("nbf: the token is not valid yet"),
            ErrorKind::InvalidIssuer => {
                AuthError::Invalid(format!("iss: the issuer is not {}", self.issuer))
            }
            ErrorKind::InvalidAudience => AuthError::Invalid(format!(
                "aud: the audience does not include {}",
                self.audience
            )),
            ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
                invalid(claim_message(claim))
            }
            ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                encoding_error(token, payload)
            }
            ErrorKind::InvalidToken => invalid("format: not a valid JWS token"),
            _ => invalid("token: refused by the JWT verifier"),
        }
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(std::future::ready(self.verify(token).map(Arc::new)))
    }
}

/// Which part of the token failed to decode. jsonwebtoken reports only "base64" or "JSON" (and a
/// claim of the wrong JSON type can surface as either "missing" or "JSON"), so look again, and
/// answer with one of our fixed messages.
fn encoding_error(token: &str, payload: &str) -> AuthError {
    if jsonwebtoken::decode_header(token).is_err() {
        return invalid("header: a header field has the wrong type");
    }
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload) else {
        return invalid("format: the claims are not base64url");
    };
    let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(&bytes) else {
        return invalid("format: the claims are not a JSON object");
    };
    for claim in REQUIRED_CLAIMS {
        if claims.get(claim).is_some_and(|v| !well_typed(claim, v)) {
            return invalid(claim_message(claim));
        }
    }
    let signature = token.rsplit('.').next().unwrap_or_default();
    if URL_SAFE_NO_PAD.decode(signature).is_err() {
        return invalid("signature: not base64url");
    }
    invalid("claims: not of the expected shape (a duplicated claim?)")
}

/// Whether a registered claim has the JSON type jsonwebtoken accepts for it.
fn well_typed(claim: &str, value: &Value) -> bool {
    match claim {
        "exp" | "nbf" => value.is_u64() || value.as_f64().is_some_and(|f| f >= 0.0),
        "iss" | "aud" => match value {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(Value::is_string),
            _ => false,
        },
        _ => value.is_string(),
    }
}

/// The message for a required claim that is absent or of the wrong type.
fn claim_message(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp: missing, or not a number of seconds",
        "nbf" => "nbf: missing, or not a number of seconds",
        "iss" => "iss: missing, or not a string",
        "aud" => "aud: missing, or not a string or an array of strings",
        "sub" => "sub: missing, or not a string",
        _ => "claims: a required claim is missing or malformed",
    }
}

fn invalid(why: &'static str) -> AuthError {
    AuthError::Invalid(why.to_owned())
}

/// The private claim of Kubernetes service-account tokens (pkg/serviceaccount/claims.go).
#[derive(Deserialize)]
struct KubernetesClaim {
    namespace: String,
    serviceaccount: Option<ServiceAccountClaim>,
    // pod, secret, node, warnafter: not needed offline; unknown fields are ignored.
}

#[derive(Deserialize)]
struct ServiceAccountClaim {
    name: String,
    uid: Option<String>,
}

/// Turns verified claims into an identity, refusing subjects that are not service accounts.
fn identity(mut claims: Map<String, Value>) -> Result<Identity, AuthError> {
    // jsonwebtoken also accepts an array of issuers; a Kubernetes token names exactly one.
    if !claims.get("iss").is_some_and(Value::is_string) {
        return Err(invalid("iss: not a single string"));
    }
    let sa = match claims.get("sub") {
        Some(Value::String(sub)) => ServiceAccount::from_username(sub),
        _ => None,
    }
    .ok_or_else(|| {
        invalid("sub: not a service account (system:serviceaccount:<namespace>:<name>)")
    })?;
    let uid = match claims.remove("kubernetes.io") {
        None => None,
        Some(value) => {
            let claim: KubernetesClaim = serde_json::from_value(value)
                .map_err(|_| invalid("kubernetes.io: not of the Kubernetes claim's shape"))?;
            if claim.namespace != sa.namespace.as_str() {
                return Err(invalid("kubernetes.io: namespace differs from sub"));
            }
            match claim.serviceaccount {
                None => None,
                Some(account) => {
                    if account.name != sa.name.as_str() {
                        return Err(invalid(
                            "kubernetes.io: serviceaccount.name differs from sub",
                        ));
                    }
                    match account.uid {
                        None => None,
                        Some(uid) => Some(
                            KubeUid::new(uid)
                                .map_err(|_| {
                                    invalid("kubernetes.io: serviceaccount.uid is not a UID")
                                })?
                                .into_string(),
                        ),
                    }
                }
            }
        }
    };
    Ok(Identity::for_service_account(&sa, uid))
}
