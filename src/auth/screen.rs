//! Checks of a token's header and claims that need no key, shared by the offline verifier
//! ([`super::jwt`]) and the cluster pre-check ([`super::oidc`]).
//!
//! They read the very bytes the signature covers, so running them before the signature refuses
//! exactly the tokens running them after would; running them first means they also hold when
//! the pre-check has no keys and steps aside, and that a token which would be refused whatever
//! key it names never makes us fetch keys. Refusing on unverified input is always safe: these
//! checks only ever refuse, never accept.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::{AuthError, ServiceAccount};

/// Refuses a header with a `crit` member, whatever it lists. RFC 7515 §4.1.11 makes a verifier
/// that does not understand every listed extension refuse the token; we understand none.
/// (jsonwebtoken lets `crit: ["b64"]` through when `b64` is present.)
pub(crate) fn refuse_crit(token: &str) -> Result<(), AuthError> {
    let header = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| invalid("header: not base64url"))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| invalid("header: not a JSON object"))?;
    if header.contains_key("crit") {
        return Err(invalid("header: critical extensions are not supported"));
    }
    Ok(())
}

/// The claims of `token`, not verified.
pub(crate) fn claims(token: &str) -> Result<Map<String, Value>, AuthError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| invalid("format: not a JWS compact token (three dot-separated parts)"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| invalid("format: the claims are not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| invalid("format: the claims are not a JSON object"))
}

/// Whether `aud` names `audience` and nothing else (the string, or a one-element array).
///
/// A token that also names the API server (`https://kubernetes.default.svc`) could be replayed
/// against it by anyone it is sent to, us included; so we take only tokens minted for us alone.
pub fn is_exactly(aud: Option<&Value>, audience: &str) -> bool {
    match aud {
        Some(Value::String(one)) => one == audience,
        Some(Value::Array(items)) => {
            matches!(items.as_slice(), [Value::String(one)] if one == audience)
        }
        _ => false,
    }
}

/// Refuses a token whose `aud` is not exactly `audience` (see [`is_exactly`]).
pub(crate) fn exact_audience(claims: &Map<String, Value>, audience: &str) -> Result<(), AuthError> {
    if is_exactly(claims.get("aud"), audience) {
        return Ok(());
    }
    Err(AuthError::Invalid(format!(
        "aud: the audience is not exactly {audience} (a token for us alone, never one also valid elsewhere)"
    )))
}

/// Refuses a token that would be refused whatever key it named: another issuer, expired, not
/// yet valid (give or take `leeway` seconds), no `iat`, or a subject that is no service account.
/// Only a token that passes may make the pre-check look for a key it does not know.
pub(crate) fn could_be_genuine(
    claims: &Map<String, Value>,
    issuer: &str,
    now: i64,
    leeway: i64,
) -> Result<(), AuthError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(invalid(
            "iss: not the cluster's service-account issuer (as a single string)",
        ));
    }
    let seconds = |name: &str| claims.get(name).and_then(Value::as_i64);
    if seconds("exp").is_none_or(|exp| exp.saturating_add(leeway) < now) {
        return Err(invalid("exp: missing, or the token has expired"));
    }
    if seconds("nbf").is_none_or(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(invalid("nbf: missing, or the token is not valid yet"));
    }
    if seconds("iat").is_none() {
        return Err(invalid("iat: missing (service-account tokens carry it)"));
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ServiceAccount::from_username(sub).is_none() {
        return Err(invalid(
            "sub: not a service account (system:serviceaccount:<namespace>:<name>)",
        ));
    }
    Ok(())
}

fn invalid(why: &'static str) -> AuthError {
    AuthError::Invalid(why.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const AUD: &str = "update-status-controller.openshift.io";

    #[test]
    fn only_our_audience_alone_is_exact() {
        assert!(is_exactly(Some(&json!(AUD)), AUD));
        assert!(is_exactly(Some(&json!([AUD])), AUD));
        for aud in [
            json!([AUD, "https://kubernetes.default.svc"]),
            json!(["https://kubernetes.default.svc", AUD]),
            json!([AUD, AUD]),
            json!([]),
            json!(["https://kubernetes.default.svc"]),
            json!(format!("{AUD}.evil")),
            json!(7),
            json!([7]),
        ] {
            assert!(!is_exactly(Some(&aud), AUD), "{aud}");
        }
        assert!(!is_exactly(None, AUD));
    }

    #[test]
    fn any_crit_header_is_refused() {
        let token = |header: Value| {
            format!(
                "{}.e30.c2ln",
                URL_SAFE_NO_PAD.encode(header.to_string().as_bytes())
            )
        };
        assert!(refuse_crit(&token(json!({"alg": "ES256", "kid": "k"}))).is_ok());
        for header in [
            json!({"alg": "ES256", "kid": "k", "crit": ["b64"], "b64": true}),
            json!({"alg": "ES256", "kid": "k", "crit": ["exp"], "exp": 1}),
            json!({"alg": "ES256", "crit": []}),
        ] {
            assert!(
                matches!(refuse_crit(&token(header.clone())), Err(AuthError::Invalid(why)) if why.starts_with("header:")),
                "{header}"
            );
        }
    }
}
