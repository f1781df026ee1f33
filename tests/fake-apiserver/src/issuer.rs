//! The service-account token issuer: signing key, token minting, OIDC discovery and JWKS.
//!
//! Tokens are real signed JWTs with the claims of a projected service-account token, so the
//! controller's local pre-check (signature, `iss`, `aud`, `exp`, `nbf`) runs against the same shape
//! of token a pod presents on a cluster, and its key discovery uses the same two endpoints
//! (`/.well-known/openid-configuration`, `/openid/v1/jwks`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::error::Error;

/// Which key signs service-account tokens.
#[derive(Clone, Debug, Default)]
pub enum SigningKey {
    /// A fresh ECDSA P-256 key (ES256), generated at start: fast, and an algorithm Kubernetes
    /// accepts for `--service-account-signing-key-file`.
    #[default]
    GenerateEs256,
    /// A PEM private key given by the test: RSA (RS256, what most clusters use) or EC P-256 (ES256).
    Pem(String),
}

/// What a minted token binds to. Mirrors the `kubernetes.io` claim of a projected token.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceAccountToken {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account's name.
    pub name: String,
    /// The service account's UID.
    pub uid: String,
    /// The pod the token is bound to, as (name, uid); `None` for an unbound token
    /// (`kubectl create token` without `--bound-object-ref`).
    pub pod: Option<(String, String)>,
    /// The audiences (`aud`).
    pub audiences: Vec<String>,
    /// Lifetime from now (`exp - iat`).
    pub ttl: Duration,
}

/// The signing side of the fake's token issuer.
pub(crate) struct Issuer {
    pub(crate) issuer: String,
    key: EncodingKey,
    algorithm: Algorithm,
    jwk: Jwk,
    kid: String,
}

fn key_err(e: impl std::fmt::Display) -> Error {
    Error::Key(e.to_string())
}

impl Issuer {
    /// Sets up the issuer named `issuer` with the given key.
    pub(crate) fn new(issuer: &str, key: &SigningKey) -> Result<Self, Error> {
        let (key, algorithm) = match key {
            SigningKey::GenerateEs256 => {
                let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                    .map_err(key_err)?;
                let pem = pair.serialize_pem();
                (
                    EncodingKey::from_ec_pem(pem.as_bytes()).map_err(key_err)?,
                    Algorithm::ES256,
                )
            }
            SigningKey::Pem(pem) => match EncodingKey::from_rsa_pem(pem.as_bytes()) {
                Ok(key) => (key, Algorithm::RS256),
                Err(_) => (
                    EncodingKey::from_ec_pem(pem.as_bytes()).map_err(key_err)?,
                    Algorithm::ES256,
                ),
            },
        };
        let mut jwk = Jwk::from_encoding_key(&key, algorithm).map_err(key_err)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(key_err)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            issuer: issuer.to_owned(),
            key,
            algorithm,
            jwk,
            kid,
        })
    }

    /// The JOSE name of the signing algorithm.
    pub(crate) fn algorithm_name(&self) -> &'static str {
        match self.algorithm {
            Algorithm::RS256 => "RS256",
            _ => "ES256",
        }
    }

    /// Mints a token; returns it with its expiry and its `jti`.
    pub(crate) fn mint(
        &self,
        spec: &ServiceAccountToken,
        jti: &str,
    ) -> Result<(String, SystemTime), Error> {
        let now = SystemTime::now();
        let iat = now.duration_since(UNIX_EPOCH).map_err(key_err)?.as_secs();
        let exp = iat + spec.ttl.as_secs();
        let mut k8s = json!({
            "namespace": spec.namespace,
            "serviceaccount": { "name": spec.name, "uid": spec.uid },
        });
        if let Some((pod, pod_uid)) = &spec.pod {
            k8s["pod"] = json!({ "name": pod, "uid": pod_uid });
        }
        let claims = json!({
            "aud": spec.audiences,
            "exp": exp,
            "iat": iat,
            "nbf": iat,
            "iss": self.issuer,
            "jti": jti,
            "kubernetes.io": k8s,
            "sub": format!("system:serviceaccount:{}:{}", spec.namespace, spec.name),
        });
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.key).map_err(key_err)?;
        Ok((token, now + spec.ttl))
    }

    /// The JWKS document (`/openid/v1/jwks`).
    pub(crate) fn jwks(&self) -> Value {
        serde_json::to_value(JwkSet {
            keys: vec![self.jwk.clone()],
        })
        .unwrap_or_else(|_| json!({ "keys": [] }))
    }

    /// The OIDC discovery document (`/.well-known/openid-configuration`).
    pub(crate) fn discovery(&self, server_url: &str) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{server_url}/openid/v1/jwks"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.algorithm_name()],
        })
    }
}
