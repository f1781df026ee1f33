//! The local pre-check of Kubernetes mode (DESIGN §5 step 2): before any TokenReview, a token
//! must verify against the cluster's service-account issuer keys, so forged, expired, wrongly
//! addressed and algorithm-confused tokens are refused (401) without costing the API server
//! anything.
//!
//! Keys come from the API server's OIDC discovery: `GET /.well-known/openid-configuration` for
//! the `issuer`, then the JWKS at `/openid/v1/jwks`, both through the kube client's
//! authenticated, CA-verified connection. The JWKS is always read from the API server's own
//! `/openid/v1/jwks`, never from the advertised `jwks_uri` (recorded for diagnostics only):
//! `--service-account-jwks-uri` may point at an external host, and following it would mean an
//! unauthenticated fetch from wherever the discovery document says, while the API server serves
//! the same keys at that fixed path.
//!
//! What a token must satisfy: a `kid` naming one of the issuer's keys; the key's algorithm (fixed
//! by the key's type and curve, never by the token's `alg`: `none`, `HS256` signed with a public
//! key and friends are refused); the signature; `iss` equal to the discovered issuer; `aud`
//! exactly our audience (a one-element array or the string: a token also valid for the API server
//! could be replayed there); no `crit` header, whatever it lists; `exp`, `nbf`, `sub` present and
//! `exp`/`nbf` holding (with a small leeway). The `aud` and `crit` checks need no key
//! ([`super::screen`]), so they come first and hold even while the pre-check steps aside. Symmetric (`oct`) keys, encryption keys, RSA keys under 2048 bits and curves we do
//! not verify are ignored when the JWKS is read.
//!
//! **Unknown `kid`s.** Keys are cached. A token naming a `kid` we do not hold is either forged or
//! signed by a key rotated in since the last fetch, and only a fetch tells them apart; an attacker
//! sends made-up `kid`s for free, so a fetch must neither be theirs to spend nor make a real new
//! key wait long. The rule, in order:
//! 1. a token that would be refused whatever key it names (another issuer, expired, not yet
//!    valid, no `iat`, a `sub` that is no service account) is refused (401) without a fetch;
//! 2. a token issued before the latest successful fetch began (its `iat` plus the leeway) is
//!    refused (401): that fetch would have seen its key;
//! 3. otherwise, when a fetch is in progress, or the last one started less than the refresh
//!    interval ([`DEFAULT_REFRESH_INTERVAL`], 5 s) ago, or the fetch it starts fails, the answer is
//!    [`AuthError::Unavailable`] (503 with `Retry-After`: the time until a fetch is due), never a
//!    401 a producer would give up on and never a TokenReview;
//! 4. else it fetches (one fetch at a time, globally), and refuses the `kid` if still unknown.
//!
//! So made-up `kid`s cost at most one JWKS fetch per interval and never a TokenReview, and since
//! every fetch reads the whole key set, the attacker's fetch after a rotation finds the new key
//! as well as ours would: a token signed with a new key waits at most one interval, 503s meanwhile.
//!
//! **Fallback.** The pre-check is a filter; TokenReview is the authority. When discovery cannot
//! be fetched (the feature disabled on the cluster, RBAC missing, the API server down) the
//! pre-check steps aside ([`PrecheckOutcome::Bypassed`]) and tokens go to TokenReview alone,
//! which stays fail-closed (an unreachable API server is a 503, never an accept). Once keys are
//! held they stay in use when a refresh fails; an unknown `kid` is then a 503 (rule 3 above), not
//! a TokenReview: the keys may be stale, but made-up `kid`s must not reach the API server
//! either. [`OidcPrecheck::state`] exposes which mode is in force so the
//! server can put it in a metric or a condition. Discovery is retried at most once per refresh
//! interval.
//!
//! The pre-check cannot see revocation and does not produce the identity: that is TokenReview's.
//! During a service-account issuer migration (several `--service-account-issuer` flags), tokens
//! from the older issuers are refused here although TokenReview would accept them; turn the
//! pre-check off for the migration.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::apiserver::{CallError, call, call_accepting};
use super::jwt::{DEFAULT_LEEWAY, MAX_LEEWAY};
use super::keys::MIN_RSA_BITS;
use super::priority::Priority;
use super::token_review::in_pool;
use super::{AuthError, AuthFuture, Authenticator, screen};

/// Where the API server serves its OIDC discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Where the API server serves the service-account issuer's public keys.
pub const JWKS_PATH: &str = "/openid/v1/jwks";

/// What the JWKS request accepts: the real API server serves `application/jwk-set+json` and
/// answers 406 to `application/json` alone.
const JWKS_ACCEPT: &str = "application/jwk-set+json, application/json";

/// The shortest time between two key fetches unless configured otherwise: a flood of tokens with
/// made-up `kid`s costs at most one fetch (two small GETs) per interval, while a token signed with
/// a rotated-in key waits at most this long (answered 503 with `Retry-After` meanwhile).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// The `Retry-After` of a token naming an unknown `kid` while a key fetch is in progress: the
/// fetch takes milliseconds.
pub const FETCH_IN_PROGRESS_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The deadline of each discovery request unless configured otherwise.
pub const DEFAULT_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most keys read from a JWKS; an issuer has one to a few.
pub const MAX_ISSUER_KEYS: usize = 64;

/// The claims every token must carry; jsonwebtoken checks `aud`, `iss` and `sub` only when present
/// unless they are listed (as in [`super::jwt`]).
const REQUIRED_CLAIMS: [&str; 5] = ["exp", "nbf", "iss", "aud", "sub"];

/// How the pre-check is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrecheckSettings {
    /// The audience `aud` must contain (normally [`super::DEFAULT_AUDIENCE`]).
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, at most [`MAX_LEEWAY`].
    pub leeway: Duration,
    /// The shortest time between two key fetches.
    pub refresh_interval: Duration,
    /// The deadline of each discovery request.
    pub timeout: Duration,
}

impl PrecheckSettings {
    /// Settings for `audience` with the default leeway, refresh interval and deadline.
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            leeway: DEFAULT_LEEWAY,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            timeout: DEFAULT_DISCOVERY_TIMEOUT,
        }
    }
}

/// Why an [`OidcPrecheck`] could not be built.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrecheckConfigError {
    /// Without an audience the check would accept tokens meant for anyone.
    #[error("the pre-check audience must not be empty")]
    EmptyAudience,
    /// More leeway would quietly extend every token's life.
    #[error("token leeway {leeway:?} is over the maximum {MAX_LEEWAY:?}")]
    LeewayTooLarge {
        /// The leeway asked for.
        leeway: Duration,
    },
    /// A zero deadline would fail every fetch.
    #[error("the discovery timeout must be more than zero")]
    ZeroTimeout,
}

/// Why the issuer's keys could not be fetched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The API server could not be asked or refused (404: discovery is off; 403: our service
    /// account may not read it).
    #[error("service-account issuer discovery")]
    Call(#[from] CallError),
    /// The document is not the JSON expected.
    #[error("{path}: not the expected JSON document (line {line}, column {column})")]
    Decode {
        /// The path read.
        path: &'static str,
        /// Line of the first error.
        line: usize,
        /// Column of the first error.
        column: usize,
    },
    /// The discovery document names no issuer.
    #[error("{DISCOVERY_PATH}: the issuer is empty")]
    EmptyIssuer,
    /// Not one key of the JWKS can verify tokens.
    #[error(
        "{JWKS_PATH}: none of its {found} keys is a signing key we verify (RSA of 2048 bits or more, EC P-256 or P-384, Ed25519, with a kid)"
    )]
    NoUsableKeys {
        /// How many keys the JWKS holds.
        found: usize,
    },
}

/// Which mode the pre-check is in, for a metric or a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrecheckState {
    /// No token has asked for keys yet (they are fetched on first use or by
    /// [`OidcPrecheck::refresh`]).
    Pending,
    /// Tokens are verified locally before TokenReview.
    Active {
        /// The issuer tokens must name.
        issuer: String,
        /// The `jwks_uri` the discovery document advertises (not followed; see the module
        /// documentation).
        jwks_uri: Option<String>,
        /// How many keys verify tokens.
        keys: usize,
        /// How many keys of the JWKS were ignored as unusable.
        ignored_keys: usize,
        /// Why the latest refresh failed, if it did (the keys held are still used).
        last_refresh_error: Option<DiscoveryError>,
    },
    /// Discovery failed and no keys were ever fetched: TokenReview alone decides.
    Bypassed {
        /// Why.
        error: DiscoveryError,
    },
}

impl PrecheckState {
    /// Whether tokens are verified locally.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Active { .. })
    }
}

/// What the pre-check did with a token it did not refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrecheckOutcome {
    /// The token verified against the issuer's keys.
    Verified,
    /// No current keys to check against: the token goes to TokenReview unchecked.
    Bypassed,
}

/// One issuer key, ready to verify.
struct IssuerKey {
    kid: String,
    algorithm: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

/// The issuer and its keys, as last fetched.
struct IssuerKeys {
    issuer: String,
    jwks_uri: Option<String>,
    keys: Vec<IssuerKey>,
    ignored: usize,
}

#[derive(Default)]
struct State {
    keys: Option<Arc<IssuerKeys>>,
    last_attempt: Option<Instant>,
    last_error: Option<DiscoveryError>,
    /// When (Unix seconds, wall clock: compared with tokens' `iat`) the latest successful fetch
    /// started.
    last_success_at: Option<i64>,
}

/// Verifies tokens against the service-account issuer's keys; see the module documentation.
pub struct OidcPrecheck {
    client: kube::Client,
    settings: PrecheckSettings,
    state: Mutex<State>,
    /// Held while fetching, so concurrent refreshes wait for one fetch instead of starting more.
    fetching: tokio::sync::Mutex<()>,
}

impl fmt::Debug for OidcPrecheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcPrecheck")
            .field("settings", &self.settings)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
}

/// A JWKS whose keys are parsed one by one, so one exotic key does not hide the others.
#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<Value>,
}

impl OidcPrecheck {
    /// A pre-check fetching keys through `client`, with `settings`. Nothing is fetched yet.
    pub fn new(
        client: kube::Client,
        settings: PrecheckSettings,
    ) -> Result<Self, PrecheckConfigError> {
        if settings.audience.is_empty() {
            return Err(PrecheckConfigError::EmptyAudience);
        }
        if settings.leeway > MAX_LEEWAY {
            return Err(PrecheckConfigError::LeewayTooLarge {
                leeway: settings.leeway,
            });
        }
        if settings.timeout.is_zero() {
            return Err(PrecheckConfigError::ZeroTimeout);
        }
        Ok(Self {
            client,
            settings,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// Which mode the pre-check is in.
    pub fn state(&self) -> PrecheckState {
        let Ok(state) = self.state.lock() else {
            return PrecheckState::Pending;
        };
        match (&state.keys, &state.last_error) {
            (Some(keys), error) => PrecheckState::Active {
                issuer: keys.issuer.clone(),
                jwks_uri: keys.jwks_uri.clone(),
                keys: keys.keys.len(),
                ignored_keys: keys.ignored,
                last_refresh_error: error.clone(),
            },
            (None, Some(error)) => PrecheckState::Bypassed {
                error: error.clone(),
            },
            (None, None) => PrecheckState::Pending,
        }
    }

    /// Fetches the issuer and its keys now, whatever the refresh interval (after waiting for a
    /// fetch in progress), and returns how many keys verify tokens. For start-up, so the first
    /// producer does not wait for discovery and the state is known early. On failure the keys
    /// held, if any, stay in use.
    pub async fn refresh(&self) -> Result<usize, DiscoveryError> {
        let _fetching = self.fetching.lock().await;
        self.fetch_and_install().await
    }

    /// Checks `token`: `Err` when it must be refused ([`AuthError::Invalid`]) or cannot be judged
    /// yet ([`AuthError::Unavailable`]: an unknown `kid` while a key fetch is in progress, not
    /// due, or failing), else whether it was verified or let through unchecked (see the module
    /// documentation on fallback).
    pub async fn check(&self, token: &str) -> Result<PrecheckOutcome, AuthError> {
        self.check_subject(token).await.map(|(outcome, _)| outcome)
    }

    /// [`Self::check`], also returning the token's `sub` when the token verified (and only then:
    /// an unverified `sub` is anyone's to write), so the caller can give listed producers their
    /// reserved TokenReview slots.
    pub async fn check_subject(
        &self,
        token: &str,
    ) -> Result<(PrecheckOutcome, Option<String>), AuthError> {
        // Fails for `alg: none` and any algorithm jsonwebtoken does not know.
        let header = decode_header(token)
            .map_err(|_| invalid("header: not a JWS header naming a supported algorithm"))?;
        screen::refuse_crit(token)?;
        let claims = screen::claims(token)?;
        screen::exact_audience(&claims, &self.settings.audience)?;
        let keys = match self.keys() {
            Some(keys) => keys,
            None => {
                self.refresh_if_due().await;
                match self.keys() {
                    Some(keys) => keys,
                    None => return Ok((PrecheckOutcome::Bypassed, None)),
                }
            }
        };
        let Some(kid) = header.kid.as_deref().filter(|kid| !kid.is_empty()) else {
            return Err(invalid(
                "kid: missing (service-account tokens name their signing key)",
            ));
        };
        let keys = if keys.has(kid) {
            keys
        } else {
            self.keys_naming(kid, &claims, &keys.issuer).await?
        };
        keys.verify(token, kid, &self.settings.audience)?;
        let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        Ok((PrecheckOutcome::Verified, subject))
    }

    /// The keys once they name `kid`, a key not held: fetched at most once per refresh interval,
    /// and only for a token that could be genuine; see the module documentation.
    async fn keys_naming(
        &self,
        kid: &str,
        claims: &Map<String, Value>,
        issuer: &str,
    ) -> Result<Arc<IssuerKeys>, AuthError> {
        let now = jiff::Timestamp::now().as_second();
        let leeway = i64::try_from(self.settings.leeway.as_secs()).unwrap_or(i64::MAX);
        screen::could_be_genuine(claims, issuer, now, leeway)?;
        let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(now);
        if self
            .last_success_at()
            .is_some_and(|fetched| iat.saturating_add(leeway) < fetched)
        {
            // A fetch made after the token was issued did not have its key.
            return Err(unknown_kid());
        }
        let Ok(_fetching) = self.fetching.try_lock() else {
            return Err(AuthError::Unavailable {
                retry_after: FETCH_IN_PROGRESS_RETRY_AFTER,
            });
        };
        if let Some(wait) = self.wait_before_fetch() {
            return Err(AuthError::Unavailable {
                retry_after: whole_seconds(wait),
            });
        }
        let fetched = self.fetch_and_install().await;
        match self.keys() {
            Some(keys) if keys.has(kid) => Ok(keys),
            _ if fetched.is_ok() => Err(unknown_kid()),
            _ => Err(AuthError::Unavailable {
                retry_after: whole_seconds(self.settings.refresh_interval),
            }),
        }
    }

    fn keys(&self) -> Option<Arc<IssuerKeys>> {
        self.state.lock().ok().and_then(|s| s.keys.clone())
    }

    /// When (Unix seconds) the latest successful fetch started.
    fn last_success_at(&self) -> Option<i64> {
        self.state.lock().ok().and_then(|s| s.last_success_at)
    }

    /// How long until a fetch is due, if it is not yet.
    fn wait_before_fetch(&self) -> Option<Duration> {
        let interval = self.settings.refresh_interval;
        let state = self.state.lock().ok()?;
        let wait = interval.saturating_sub(state.last_attempt?.elapsed());
        (!wait.is_zero()).then_some(wait)
    }

    /// Fetches unless a fetch started less than the refresh interval ago; waits for a fetch in
    /// progress either way, so its keys are seen. Only for the no-keys path: with keys held, an
    /// unknown `kid` never waits (see [`Self::keys_naming`]).
    async fn refresh_if_due(&self) {
        let _fetching = self.fetching.lock().await;
        if self.wait_before_fetch().is_none() {
            // The outcome is recorded in the state.
            let _ = self.fetch_and_install().await;
        }
    }

    /// Fetches and installs the keys; the caller holds `fetching`.
    async fn fetch_and_install(&self) -> Result<usize, DiscoveryError> {
        if let Ok(mut state) = self.state.lock() {
            state.last_attempt = Some(Instant::now());
        }
        let started = jiff::Timestamp::now().as_second();
        let fetched = self.fetch().await;
        let mut state = self.state.lock().ok();
        match fetched {
            Ok(keys) => {
                let count = keys.keys.len();
                if let Some(state) = state.as_mut() {
                    state.keys = Some(Arc::new(keys));
                    state.last_error = None;
                    state.last_success_at = Some(started);
                }
                Ok(count)
            }
            Err(error) => {
                if let Some(state) = state.as_mut() {
                    state.last_error = Some(error.clone());
                }
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<IssuerKeys, DiscoveryError> {
        let timeout = self.settings.timeout;
        let body = call(&self.client, Method::GET, DISCOVERY_PATH, None, timeout).await?;
        let document: DiscoveryDocument = decode_json(DISCOVERY_PATH, &body)?;
        if document.issuer.is_empty() {
            return Err(DiscoveryError::EmptyIssuer);
        }
        let body = call_accepting(
            &self.client,
            Method::GET,
            JWKS_PATH,
            JWKS_ACCEPT,
            None,
            timeout,
        )
        .await?;
        let set: RawKeySet = decode_json(JWKS_PATH, &body)?;
        let found = set.keys.len();
        let keys: Vec<IssuerKey> = set
            .keys
            .into_iter()
            .take(MAX_ISSUER_KEYS)
            .filter_map(|raw| serde_json::from_value::<Jwk>(raw).ok())
            .filter_map(|jwk| IssuerKey::from_jwk(&jwk, &document.issuer, &self.settings))
            .collect();
        if keys.is_empty() {
            return Err(DiscoveryError::NoUsableKeys { found });
        }
        Ok(IssuerKeys {
            issuer: document.issuer,
            jwks_uri: document.jwks_uri,
            ignored: found - keys.len(),
            keys,
        })
    }
}

fn decode_json<T: DeserializeOwned>(path: &'static str, body: &[u8]) -> Result<T, DiscoveryError> {
    serde_json::from_slice(body).map_err(|e| DiscoveryError::Decode {
        path,
        line: e.line(),
        column: e.column(),
    })
}

impl IssuerKey {
    /// The key a JWK describes and the one algorithm it verifies, or `None` for a key that must
    /// not or cannot verify tokens.
    fn from_jwk(jwk: &Jwk, issuer: &str, settings: &PrecheckSettings) -> Option<Self> {
        let kid = jwk.common.key_id.clone().filter(|kid| !kid.is_empty())?;
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            return None;
        }
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                if rsa_modulus_bits(&rsa.n)? < MIN_RSA_BITS {
                    return None;
                }
                Algorithm::RS256
            }
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            // Symmetric keys never: a public key set must not make HMAC verification possible.
            _ => return None,
        };
        if jwk
            .common
            .key_algorithm
            .is_some_and(|declared| declared != KeyAlgorithm::from(algorithm))
        {
            return None;
        }
        let key = DecodingKey::from_jwk(jwk).ok()?;
        // Parses the key for its algorithm: junk coordinates fail here, not on the first token.
        jsonwebtoken::crypto::verify("AAAA", b"probe", &key, algorithm).ok()?;
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&REQUIRED_CLAIMS);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = settings.leeway.as_secs();
        Some(Self {
            kid,
            algorithm,
            key,
            validation,
        })
    }
}

impl IssuerKeys {
    fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid)
    }

    /// Verifies `token` with the keys named `kid` (one, unless the JWKS repeats a kid).
    fn verify(&self, token: &str, kid: &str, audience: &str) -> Result<(), AuthError> {
        let mut refusal = None;
        for key in self.keys.iter().filter(|k| k.kid == kid) {
            match decode::<Map<String, Value>>(token, &key.key, &key.validation) {
                // jsonwebtoken also accepts an array of issuers; Kubernetes writes one string.
                Ok(data) if data.claims.get("iss").is_some_and(Value::is_string) => return Ok(()),
                Ok(_) => return Err(invalid("iss: not a single string")),
                Err(e) => {
                    refusal.get_or_insert_with(|| {
                        explain(e.kind(), key.algorithm, &self.issuer, audience)
                    });
                }
            }
        }
        Err(refusal
            .unwrap_or_else(|| invalid("kid: not a key of the cluster's service-account issuer")))
    }
}

/// Names the failed check in our own words: library messages can quote the token's JSON.
fn explain(kind: &ErrorKind, algorithm: Algorithm, issuer: &str, audience: &str) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => {
            invalid("signature: does not verify with the issuer key the token names")
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => AuthError::Invalid(format!(
            "alg: the token is not signed with {algorithm:?}, the algorithm of the key it names"
        )),
        ErrorKind::ExpiredSignature => invalid("exp: the token has expired"),
        ErrorKind::ImmatureSignature => invalid("nbf: the token is not valid yet"),
        ErrorKind::InvalidIssuer => AuthError::Invalid(format!(
            "iss: the issuer is not the cluster's service-account issuer {issuer}"
        )),
        ErrorKind::InvalidAudience => {
            AuthError::Invalid(format!("aud: the audience does not include {audience}"))
        }
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::Invalid(format!(
                "{}: missing, or not of the registered type",
                claim_name(claim)
            ))
        }
        ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            invalid("format: the token's header, claims or signature do not decode")
        }
        _ => invalid("token: refused by the JWT verifier"),
    }
}

/// One of our fixed claim names, so no string from the token reaches a message.
fn claim_name(claim: &str) -> &'static str {
    REQUIRED_CLAIMS
        .into_iter()
        .find(|c| *c == claim)
        .unwrap_or("claims")
}

fn unknown_kid() -> AuthError {
    invalid("kid: not a key of the cluster's service-account issuer")
}

/// `wait` rounded up to whole seconds (what `Retry-After` carries), at least one.
fn whole_seconds(wait: Duration) -> Duration {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

fn invalid(why: &'static str) -> AuthError {
    AuthError::Invalid(why.to_owned())
}

/// The bit length of an RSA modulus given as base64url (JWK `n`).
fn rsa_modulus_bits(n: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(n).ok()?;
    let start = bytes.iter().position(|&b| b != 0)?;
    let significant = bytes.get(start..)?;
    let top = significant.first()?;
    Some((significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize))
}

/// The Kubernetes-mode authenticator: the local pre-check, then the authoritative review.
///
/// In the order DESIGN §5 gives: [`OidcPrecheck`] refuses forged and misaddressed tokens locally;
/// what passes (or what it cannot judge, see its fallback) goes to `review`, normally a
/// [`super::cache::CachingAuthenticator`] (cache, single flight) around a
/// [`super::token_review::TokenReviewAuthenticator`] (cap, TokenReview). The pre-check is kept
/// in an [`Arc`] so the server can read [`OidcPrecheck::state`] for its metrics.
///
/// Every request pays one signature verification (the pre-check comes before the cache, so a
/// token is checked against the issuer's current keys each time); the cache behind saves the API
/// call, which is the expensive part. Wrapping this whole authenticator in a
/// [`super::cache::CachingAuthenticator`] instead would save the verification on cache hits too.
///
/// A token whose `sub` the pre-check verified reviews in the pool [`Priority`] gives it: listed
/// producers have reserved TokenReview slots, everyone else shares a few and is rate-limited per
/// subject (see [`super::priority`]).
pub struct PrecheckedAuthenticator<R> {
    precheck: Arc<OidcPrecheck>,
    review: R,
    priority: Priority,
}

impl<R: fmt::Debug> fmt::Debug for PrecheckedAuthenticator<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrecheckedAuthenticator")
            .field("precheck", &self.precheck)
            .field("review", &self.review)
            .finish()
    }
}

impl<R: Authenticator> PrecheckedAuthenticator<R> {
    /// Checks with `precheck`, then authenticates with `review`.
    pub fn new(precheck: Arc<OidcPrecheck>, review: R) -> Self {
        Self {
            precheck,
            review,
            priority: Priority::default(),
        }
    }

    /// The pre-check, for its state.
    pub fn precheck(&self) -> &Arc<OidcPrecheck> {
        &self.precheck
    }

    /// The authenticator behind the pre-check, for its diagnostics.
    pub fn review(&self) -> &R {
        &self.review
    }
}

impl<R: Authenticator> Authenticator for PrecheckedAuthenticator<R> {
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            let (_, subject) = self.precheck.check_subject(token).await?;
            match self
                .priority
                .pool(subject.as_deref(), std::time::Instant::now())?
            {
                Some(pool) => in_pool(pool, self.review.authenticate(token)).await,
                None => self.review.authenticate(token).await,
            }
        })
    }

    fn set_priority_subjects(&self, subjects: std::collections::HashSet<String>) {
        self.priority.set_listed(subjects);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::auth::DEFAULT_AUDIENCE;
    use crate::auth::apiserver::mock::{MockApi, Reply};
    use crate::auth::token_review::{
        TOKEN_REVIEWS_PATH, TokenReviewAuthenticator, TokenReviewSettings,
    };

    const DEV_KEY: &[u8] = include_bytes!("../../certs-dev/token-signing.key");
    const DEV_PUB: &[u8] = include_bytes!("../../certs-dev/token-signing.pub");
    const OTHER_P256_KEY: &[u8] = include_bytes!("../../tests/fixtures/auth/other-p256.key");
    const RSA_KEY: &[u8] = include_bytes!("../../tests/fixtures/auth/rsa.key");
    const ED25519_KEY: &[u8] = include_bytes!("../../tests/fixtures/auth/ed25519.key");
    const ISSUER: &str = "https://kubernetes.default.svc";
    const SUB: &str = "system:serviceaccount:openshift-machine-config-operator:mco";

    fn encoding_key(pem: &[u8], alg: Algorithm) -> EncodingKey {
        match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem).unwrap(),
            Algorithm::RS256 => EncodingKey::from_rsa_pem(pem).unwrap(),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem).unwrap(),
            other => panic!("no test key for {other:?}"),
        }
    }

    /// The public JWK of a private key, as the API server publishes it.
    fn jwk(pem: &[u8], alg: Algorithm, kid: &str) -> Value {
        let mut jwk = Jwk::from_encoding_key(&encoding_key(pem, alg), alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        serde_json::to_value(jwk).unwrap()
    }

    fn now() -> i64 {
        jiff::Timestamp::now().as_second()
    }

    /// The claims of a projected service-account token for us.
    fn claims() -> Value {
        let now = now();
        json!({"iss": ISSUER, "aud": [DEFAULT_AUDIENCE], "sub": SUB, "iat": now, "nbf": now, "exp": now + 600})
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        claims[name] = value;
        claims
    }

    fn without(mut claims: Value, name: &str) -> Value {
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    fn sign(pem: &[u8], alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &encoding_key(pem, alg)).unwrap()
    }

    /// Signs with a header given as JSON (jsonwebtoken's `Header` cannot carry every member).
    fn sign_with_header(pem: &[u8], header: Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &encoding_key(pem, Algorithm::ES256),
            Algorithm::ES256,
        )
        .unwrap();
        format!("{signing_input}.{signature}")
    }

    fn unsigned(header: &Value, claims: &Value) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(b"signature")
        )
    }

    /// What the stand-in API server serves; tests change it to rotate keys or break discovery.
    struct Cluster {
        discovery: Option<u16>,
        jwks: Value,
        jwks_failure: Option<u16>,
    }

    type Shared = Arc<StdMutex<Cluster>>;

    fn cluster(keys: Vec<Value>) -> (kube::Client, MockApi, Shared) {
        let shared = Arc::new(StdMutex::new(Cluster {
            discovery: None,
            jwks: json!({"keys": keys}),
            jwks_failure: None,
        }));
        let serve = Arc::clone(&shared);
        let (client, api) = MockApi::new(move |call| {
            let cluster = serve.lock().unwrap();
            match call.path.as_str() {
                DISCOVERY_PATH => match cluster.discovery {
                    Some(status) => Reply::Status(status, None),
                    None => Reply::Json(
                        200,
                        json!({
                            "issuer": ISSUER,
                            "jwks_uri": "https://api.cluster.example:6443/openid/v1/jwks",
                            "response_types_supported": ["id_token"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                        }),
                    ),
                },
                // As kube-apiserver does: it serves `application/jwk-set+json` and answers 406
                // to a request that accepts only `application/json`.
                JWKS_PATH if !call.accept.contains("application/jwk-set+json") => {
                    Reply::Status(406, None)
                }
                JWKS_PATH => match cluster.jwks_failure {
                    Some(status) => Reply::Status(status, None),
                    None => Reply::Json(200, cluster.jwks.clone()),
                },
                TOKEN_REVIEWS_PATH => Reply::Json(
                    201,
                    json!({"status": {"authenticated": true, "audiences": [DEFAULT_AUDIENCE], "user": {"username": SUB}}}),
                ),
                _ => Reply::Status(404, None),
            }
        });
        (client, api, shared)
    }

    fn precheck(client: kube::Client) -> OidcPrecheck {
        OidcPrecheck::new(client, PrecheckSettings::new(DEFAULT_AUDIENCE)).unwrap()
    }

    fn authenticator(client: kube::Client) -> PrecheckedAuthenticator<TokenReviewAuthenticator> {
        let review = TokenReviewAuthenticator::new(
            client.clone(),
            TokenReviewSettings::new(DEFAULT_AUDIENCE),
        )
        .unwrap();
        PrecheckedAuthenticator::new(Arc::new(precheck(client)), review)
    }

    fn ec_key(kid: &str) -> Value {
        jwk(DEV_KEY, Algorithm::ES256, kid)
    }

    #[tokio::test]
    async fn verifies_tokens_signed_by_the_issuer_keys() {
        let (client, api, _) = cluster(vec![
            ec_key("ec"),
            jwk(RSA_KEY, Algorithm::RS256, "rsa"),
            jwk(ED25519_KEY, Algorithm::EdDSA, "ed"),
        ]);
        let precheck = precheck(client);
        assert_eq!(precheck.state(), PrecheckState::Pending);
        for (pem, alg, kid) in [
            (DEV_KEY, Algorithm::ES256, "ec"),
            (RSA_KEY, Algorithm::RS256, "rsa"),
            (ED25519_KEY, Algorithm::EdDSA, "ed"),
        ] {
            let token = sign(pem, alg, Some(kid), &claims());
            assert_eq!(
                precheck.check(&token).await,
                Ok(PrecheckOutcome::Verified),
                "{kid}"
            );
        }
        assert_eq!(
            precheck.state(),
            PrecheckState::Active {
                issuer: ISSUER.to_owned(),
                jwks_uri: Some("https://api.cluster.example:6443/openid/v1/jwks".to_owned()),
                keys: 3,
                ignored_keys: 0,
                last_refresh_error: None,
            }
        );
        assert_eq!(api.count(DISCOVERY_PATH), 1);
        assert_eq!(api.count(JWKS_PATH), 1, "keys are cached");
        assert!(api.calls().iter().all(|c| c.method == "GET"));
    }

    #[tokio::test]
    async fn refuses_bad_tokens_without_any_token_review() {
        let (client, api, _) = cluster(vec![ec_key("ec"), jwk(RSA_KEY, Algorithm::RS256, "rsa")]);
        let auth = authenticator(client);
        let now = now();
        let es = |claims: &Value| sign(DEV_KEY, Algorithm::ES256, Some("ec"), claims);
        let hs256_with_public_key = {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("ec".to_owned());
            jsonwebtoken::encode(
                &header,
                &claims(),
                &EncodingKey::from_secret(DEV_PUB).unwrap(),
            )
            .unwrap()
        };
        let legacy = sign(
            RSA_KEY,
            Algorithm::RS256,
            Some("rsa"),
            &json!({
                "iss": "kubernetes/serviceaccount",
                "sub": SUB,
                "kubernetes.io/serviceaccount/namespace": "openshift-machine-config-operator",
                "kubernetes.io/serviceaccount/secret.name": "mco-token-abcde",
            }),
        );
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "bad signature",
                sign(OTHER_P256_KEY, Algorithm::ES256, Some("ec"), &claims()),
                "signature:",
            ),
            (
                "wrong audience",
                es(&with(claims(), "aud", json!([ISSUER]))),
                "aud:",
            ),
            ("no audience", es(&without(claims(), "aud")), "aud:"),
            (
                "audience of the wrong type",
                es(&with(claims(), "aud", json!(7))),
                "aud:",
            ),
            (
                "expired",
                es(&with(
                    with(claims(), "exp", json!(now - 120)),
                    "nbf",
                    json!(now - 900),
                )),
                "exp:",
            ),
            (
                "exp never",
                es(&with(claims(), "exp", json!("never"))),
                "exp:",
            ),
            ("no exp", es(&without(claims(), "exp")), "exp:"),
            (
                "not yet valid",
                es(&with(
                    with(claims(), "nbf", json!(now + 600)),
                    "exp",
                    json!(now + 1200),
                )),
                "nbf:",
            ),
            ("no nbf", es(&without(claims(), "nbf")), "nbf:"),
            (
                "another issuer",
                es(&with(claims(), "iss", json!("https://evil.example"))),
                "iss:",
            ),
            (
                "issuer list",
                es(&with(claims(), "iss", json!([ISSUER]))),
                "iss:",
            ),
            // Lacks exp, nbf and aud; which one jsonwebtoken names first varies.
            ("legacy secret token", legacy, ""),
            (
                "alg none",
                unsigned(&json!({"alg": "none", "kid": "ec"}), &claims()),
                "header:",
            ),
            (
                "HS256 signed with the public key",
                hs256_with_public_key,
                "alg:",
            ),
            (
                "RS256 header on the EC key",
                unsigned(&json!({"alg": "RS256", "kid": "ec"}), &claims()),
                "alg:",
            ),
            (
                "no kid",
                sign(DEV_KEY, Algorithm::ES256, None, &claims()),
                "kid:",
            ),
            (
                "unknown kid, issued before the keys were fetched",
                sign(
                    DEV_KEY,
                    Algorithm::ES256,
                    Some("nope"),
                    &with(claims(), "iat", json!(now - 300)),
                ),
                "kid:",
            ),
            (
                "our audience and the API server's",
                es(&with(claims(), "aud", json!([DEFAULT_AUDIENCE, ISSUER]))),
                "aud:",
            ),
            (
                "our audience twice",
                es(&with(
                    claims(),
                    "aud",
                    json!([DEFAULT_AUDIENCE, DEFAULT_AUDIENCE]),
                )),
                "aud:",
            ),
            (
                "crit header on a known key",
                sign_with_header(
                    DEV_KEY,
                    json!({"alg": "ES256", "kid": "ec", "crit": ["b64"], "b64": true}),
                    &claims(),
                ),
                "header:",
            ),
            (
                "crit header on an unknown key",
                sign_with_header(
                    DEV_KEY,
                    json!({"alg": "ES256", "kid": "rotated-in", "crit": ["b64"], "b64": true}),
                    &claims(),
                ),
                "header:",
            ),
        ];
        for (name, token, prefix) in &cases {
            match auth.authenticate(token).await {
                Err(AuthError::Invalid(why)) => {
                    assert!(why.starts_with(prefix), "{name}: {why}");
                    assert!(
                        !why.contains(token.as_str()),
                        "{name}: the message quotes the token"
                    );
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(
            api.count(TOKEN_REVIEWS_PATH),
            0,
            "no bad token reached TokenReview"
        );
        assert_eq!(
            api.count(JWKS_PATH),
            1,
            "unknown kids within the interval fetch nothing"
        );

        let good = es(&claims());
        assert_eq!(
            auth.authenticate(&good).await.map(|i| i.username.clone()),
            Ok(SUB.to_owned())
        );
        assert_eq!(
            api.count(TOKEN_REVIEWS_PATH),
            1,
            "a good token still goes to TokenReview"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_kid_refreshes_the_keys_at_most_once_per_interval() {
        let (client, api, shared) = cluster(vec![ec_key("k1")]);
        let precheck = Arc::new(precheck(client));
        let token = |kid: &str| sign(DEV_KEY, Algorithm::ES256, Some(kid), &claims());
        assert_eq!(
            precheck.check(&token("k1")).await,
            Ok(PrecheckOutcome::Verified)
        );
        assert_eq!(api.count(JWKS_PATH), 1);

        // The issuer rotates a key in; within the interval the new kid is not looked for, and
        // its token is told when to come back.
        shared.lock().unwrap().jwks = json!({"keys": [ec_key("k1"), ec_key("k2")]});
        assert_eq!(
            precheck.check(&token("k2")).await,
            Err(AuthError::Unavailable {
                retry_after: DEFAULT_REFRESH_INTERVAL
            })
        );
        assert_eq!(api.count(JWKS_PATH), 1);

        // After it, the first unknown kid refreshes, and finds the key.
        tokio::time::advance(DEFAULT_REFRESH_INTERVAL + Duration::from_secs(1)).await;
        assert_eq!(
            precheck.check(&token("k2")).await,
            Ok(PrecheckOutcome::Verified)
        );
        assert_eq!(api.count(JWKS_PATH), 2);

        // A flood of made-up kids right after fetches nothing more.
        for n in 0..100 {
            let got = precheck.check(&token(&format!("made-up-{n}"))).await;
            assert!(matches!(got, Err(AuthError::Unavailable { .. })));
        }
        assert_eq!(api.count(JWKS_PATH), 2);

        // The next interval, a concurrent flood shares one fetch.
        tokio::time::advance(DEFAULT_REFRESH_INTERVAL + Duration::from_secs(1)).await;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..50 {
            let (precheck, token) = (Arc::clone(&precheck), token(&format!("flood-{n}")));
            tasks.spawn(async move { precheck.check(&token).await });
        }
        while let Some(got) = tasks.join_next().await {
            // The one that fetched learns its kid is unknown; the rest are told to come back.
            assert!(matches!(
                got.unwrap(),
                Err(AuthError::Invalid(_) | AuthError::Unavailable { .. })
            ));
        }
        assert_eq!(api.count(JWKS_PATH), 3);
        assert_eq!(api.count(DISCOVERY_PATH), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn made_up_kids_cannot_hold_back_a_rotated_in_key() {
        let (client, api, shared) = cluster(vec![ec_key("k1")]);
        let auth = authenticator(client);
        let precheck = Arc::clone(auth.precheck());
        let token = |kid: &str| sign(DEV_KEY, Algorithm::ES256, Some(kid), &claims());
        assert_eq!(precheck.refresh().await, Ok(1));

        // The attacker spends a fetch just before the issuer rotates a key in.
        tokio::time::advance(DEFAULT_REFRESH_INTERVAL + Duration::from_secs(1)).await;
        assert!(matches!(
            precheck.check(&token("made-up-first")).await,
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(api.count(JWKS_PATH), 2);
        shared.lock().unwrap().jwks = json!({"keys": [ec_key("k1"), ec_key("k2")]});
        let rotated = Instant::now();

        // Made-up kids every 100 ms, and the producer with the new key retrying as often.
        let mut n = 0;
        let waited = loop {
            n += 1;
            let attack = auth.authenticate(&token(&format!("made-up-{n}"))).await;
            assert!(
                matches!(
                    attack,
                    Err(AuthError::Invalid(_) | AuthError::Unavailable { .. })
                ),
                "{attack:?}"
            );
            match auth.authenticate(&token("k2")).await {
                Ok(_) => break rotated.elapsed(),
                Err(AuthError::Unavailable { retry_after }) => {
                    assert!(retry_after <= DEFAULT_REFRESH_INTERVAL, "{retry_after:?}");
                }
                Err(other) => panic!("a token signed with a rotated-in key was refused: {other:?}"),
            }
            tokio::time::advance(Duration::from_millis(100)).await;
        };
        assert!(
            waited <= DEFAULT_REFRESH_INTERVAL + Duration::from_millis(100),
            "the new key waited {waited:?}"
        );
        assert_eq!(
            api.count(JWKS_PATH),
            3,
            "one fetch per interval, whoever asks"
        );
        assert_eq!(
            api.count(TOKEN_REVIEWS_PATH),
            1,
            "made-up kids never reach TokenReview; the producer's token does, once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_kids_on_tokens_refused_anyway_fetch_nothing() {
        let (client, api, _) = cluster(vec![ec_key("ec")]);
        let precheck = precheck(client);
        assert_eq!(precheck.refresh().await, Ok(1));
        tokio::time::advance(DEFAULT_REFRESH_INTERVAL + Duration::from_secs(1)).await;
        let now = now();
        let unknown = |claims: &Value| sign(DEV_KEY, Algorithm::ES256, Some("made-up"), claims);
        let cases = [
            (
                "another issuer",
                with(claims(), "iss", json!("https://evil.example")),
                "iss:",
            ),
            ("expired", with(claims(), "exp", json!(now - 600)), "exp:"),
            (
                "not yet valid",
                with(claims(), "nbf", json!(now + 600)),
                "nbf:",
            ),
            ("no iat", without(claims(), "iat"), "iat:"),
            (
                "not a service account",
                with(claims(), "sub", json!("system:admin")),
                "sub:",
            ),
            (
                "issued before the last fetch",
                with(claims(), "iat", json!(now - 600)),
                "kid:",
            ),
        ];
        for (name, claims, prefix) in cases {
            match precheck.check(&unknown(&claims)).await {
                Err(AuthError::Invalid(why)) => assert!(why.starts_with(prefix), "{name}: {why}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(api.count(JWKS_PATH), 1, "none of them fetched keys");
        // A token that could be genuine does fetch, and learns its kid is unknown.
        assert!(matches!(
            precheck.check(&unknown(&claims())).await,
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(api.count(JWKS_PATH), 2);
    }

    #[tokio::test]
    async fn a_crit_header_is_refused_on_every_path() {
        let (client, api, _) = cluster(vec![ec_key("ec")]);
        let auth = authenticator(client);
        // The same header without `crit` verifies: only `crit` refuses the token below.
        let plain = sign_with_header(DEV_KEY, json!({"alg": "ES256", "kid": "ec"}), &claims());
        assert!(auth.authenticate(&plain).await.is_ok());
        let jwks = api.count(JWKS_PATH);
        for kid in ["ec", "rotated-in"] {
            let token = sign_with_header(
                DEV_KEY,
                json!({"alg": "ES256", "kid": kid, "crit": ["b64"], "b64": true}),
                &claims(),
            );
            assert!(
                matches!(auth.authenticate(&token).await, Err(AuthError::Invalid(why)) if why.starts_with("header:")),
                "kid {kid}"
            );
        }
        assert_eq!(api.count(JWKS_PATH), jwks, "no fetch for a crit token");
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 1, "only the plain token");
        // With no keys (discovery failing) the pre-check steps aside, but not for `crit`.
        let (client, api) = MockApi::new(|_| Reply::Status(404, None));
        let auth = authenticator(client);
        let token = sign_with_header(
            DEV_KEY,
            json!({"alg": "ES256", "kid": "ec", "crit": ["b64"], "b64": true}),
            &claims(),
        );
        assert!(matches!(
            auth.authenticate(&token).await,
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 0);
    }

    #[tokio::test]
    async fn a_token_also_for_the_api_server_is_refused_even_without_keys() {
        let (client, api) = MockApi::new(|_| Reply::Status(404, None));
        let auth = authenticator(client);
        let token = sign(
            DEV_KEY,
            Algorithm::ES256,
            Some("ec"),
            &with(claims(), "aud", json!([DEFAULT_AUDIENCE, ISSUER])),
        );
        assert!(
            matches!(auth.authenticate(&token).await, Err(AuthError::Invalid(why)) if why.starts_with("aud:"))
        );
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn without_discovery_token_review_decides_alone() {
        let (client, api, shared) = cluster(vec![ec_key("ec")]);
        shared.lock().unwrap().discovery = Some(404);
        let auth = authenticator(client);
        // Signed by a key the cluster does not have: only TokenReview can judge it now.
        let forged = sign(OTHER_P256_KEY, Algorithm::ES256, Some("ec"), &claims());
        assert_eq!(
            auth.precheck().check(&forged).await,
            Ok(PrecheckOutcome::Bypassed)
        );
        assert_eq!(
            auth.precheck().state(),
            PrecheckState::Bypassed {
                error: DiscoveryError::Call(CallError::Status {
                    path: DISCOVERY_PATH,
                    status: 404,
                    retry_after: None
                })
            }
        );
        for _ in 0..10 {
            assert!(auth.authenticate(&forged).await.is_ok());
        }
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 10);
        assert_eq!(
            api.count(DISCOVERY_PATH),
            1,
            "retried at most once per interval"
        );

        // Discovery comes back: the pre-check takes over again.
        shared.lock().unwrap().discovery = None;
        tokio::time::advance(DEFAULT_REFRESH_INTERVAL + Duration::from_secs(1)).await;
        assert!(matches!(
            auth.authenticate(&forged).await,
            Err(AuthError::Invalid(_))
        ));
        assert!(auth.precheck().state().is_active());
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 10);
    }

    #[tokio::test]
    async fn with_the_api_server_down_nothing_is_accepted() {
        let (client, api) = MockApi::new(|_| Reply::ConnectionError);
        let auth = authenticator(client);
        let token = sign(DEV_KEY, Algorithm::ES256, Some("ec"), &claims());
        assert!(matches!(
            auth.authenticate(&token).await,
            Err(AuthError::Unavailable { .. })
        ));
        assert!(matches!(
            auth.precheck().state(),
            PrecheckState::Bypassed { .. }
        ));
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_survive_a_failed_refresh() {
        let (client, api, shared) = cluster(vec![ec_key("ec")]);
        let precheck = precheck(client);
        let token = |kid: &str| sign(DEV_KEY, Algorithm::ES256, Some(kid), &claims());
        assert_eq!(
            precheck.check(&token("ec")).await,
            Ok(PrecheckOutcome::Verified)
        );

        shared.lock().unwrap().jwks_failure = Some(500);
        tokio::time::advance(DEFAULT_REFRESH_INTERVAL + Duration::from_secs(1)).await;
        // The refresh fails: the keys may be stale, so an unknown kid cannot be called forged,
        // and it must not cost a TokenReview either: come back later.
        assert_eq!(
            precheck.check(&token("new")).await,
            Err(AuthError::Unavailable {
                retry_after: DEFAULT_REFRESH_INTERVAL
            })
        );
        assert_eq!(api.count(JWKS_PATH), 2);
        // Known keys still verify.
        assert_eq!(
            precheck.check(&token("ec")).await,
            Ok(PrecheckOutcome::Verified)
        );
        let forged = sign(OTHER_P256_KEY, Algorithm::ES256, Some("ec"), &claims());
        assert!(matches!(
            precheck.check(&forged).await,
            Err(AuthError::Invalid(_))
        ));
        match precheck.state() {
            PrecheckState::Active {
                keys: 1,
                last_refresh_error: Some(error),
                ..
            } => assert_eq!(
                error,
                DiscoveryError::Call(CallError::Status {
                    path: JWKS_PATH,
                    status: 500,
                    retry_after: None
                })
            ),
            other => panic!("{other:?}"),
        }
        // An explicit refresh reports the failure too.
        assert!(precheck.refresh().await.is_err());
        shared.lock().unwrap().jwks_failure = None;
        assert_eq!(precheck.refresh().await, Ok(1));
        assert!(matches!(
            precheck.state(),
            PrecheckState::Active {
                last_refresh_error: None,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn ignores_keys_it_must_not_or_cannot_use() {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut small_modulus = vec![0xc5u8; 128];
        small_modulus[127] = 0x01;
        let mut encryption = ec_key("enc");
        encryption["use"] = json!("enc");
        let mut no_kid = ec_key("x");
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut declared_ps256 = jwk(RSA_KEY, Algorithm::RS256, "ps");
        declared_ps256["alg"] = json!("PS256");
        let unusable = vec![
            json!({"kty": "oct", "kid": "hs", "k": b64(b"a shared secret, published"), "alg": "HS256"}),
            json!({"kty": "RSA", "kid": "small", "n": b64(&small_modulus), "e": "AQAB", "alg": "RS256"}),
            encryption,
            no_kid,
            declared_ps256,
            json!({"kty": "EC", "kid": "junk", "crv": "P-256", "x": b64(&[7; 32]), "y": b64(&[9; 32])}),
            json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": b64(&[7; 66]), "y": b64(&[9; 66])}),
            json!({"kty": "weird", "kid": "w"}),
            json!("not even an object"),
        ];
        let ignored = unusable.len();

        let (client, _, _) = cluster(unusable.clone());
        let none_usable = precheck(client);
        assert_eq!(
            none_usable.refresh().await,
            Err(DiscoveryError::NoUsableKeys { found: ignored })
        );
        assert!(matches!(
            none_usable.state(),
            PrecheckState::Bypassed { .. }
        ));

        let mut keys = unusable;
        keys.push(ec_key("ec"));
        let (client, _, _) = cluster(keys);
        let precheck = precheck(client);
        assert_eq!(precheck.refresh().await, Ok(1));
        assert!(matches!(
            precheck.state(),
            PrecheckState::Active { keys: 1, ignored_keys, .. } if ignored_keys == ignored
        ));
        // An HMAC token "signed" with the published oct key finds no key to verify with.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("hs".to_owned());
        let hs = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(b"a shared secret, published").unwrap(),
        )
        .unwrap();
        // Its kid is not among the keys that verify: never verified (refused, or told to wait
        // for the next fetch, which will not have it either).
        assert!(matches!(
            precheck.check(&hs).await,
            Err(AuthError::Unavailable { .. })
        ));
        let good = sign(DEV_KEY, Algorithm::ES256, Some("ec"), &claims());
        assert_eq!(precheck.check(&good).await, Ok(PrecheckOutcome::Verified));
    }

    #[tokio::test]
    async fn refuses_settings_that_would_weaken_it() {
        let (client, _) = MockApi::new(|_| Reply::Stall);
        let cases = [
            (
                PrecheckSettings::new(""),
                PrecheckConfigError::EmptyAudience,
            ),
            (
                PrecheckSettings {
                    leeway: MAX_LEEWAY + Duration::from_secs(1),
                    ..PrecheckSettings::new("a")
                },
                PrecheckConfigError::LeewayTooLarge {
                    leeway: MAX_LEEWAY + Duration::from_secs(1),
                },
            ),
            (
                PrecheckSettings {
                    timeout: Duration::ZERO,
                    ..PrecheckSettings::new("a")
                },
                PrecheckConfigError::ZeroTimeout,
            ),
        ];
        for (settings, want) in cases {
            assert_eq!(
                OidcPrecheck::new(client.clone(), settings).err(),
                Some(want)
            );
        }
    }

    #[test]
    fn measures_rsa_moduli() {
        assert_eq!(
            rsa_modulus_bits(&URL_SAFE_NO_PAD.encode([0x00, 0x80, 0x00])),
            Some(16)
        );
        assert_eq!(
            rsa_modulus_bits(&URL_SAFE_NO_PAD.encode([0x01; 256])),
            Some(2041)
        );
        assert_eq!(
            rsa_modulus_bits(&URL_SAFE_NO_PAD.encode([0xff; 256])),
            Some(2048)
        );
        assert_eq!(rsa_modulus_bits(&URL_SAFE_NO_PAD.encode([0x00; 4])), None);
        assert_eq!(rsa_modulus_bits("not base64!"), None);
    }
}
