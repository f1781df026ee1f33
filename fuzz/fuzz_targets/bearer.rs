//! Everything that reads an untrusted token before (or instead of) trusting it: the
//! `Authorization` header pre-check (`auth::bearer`), the offline verifier's header check, claim
//! checks and error explanations (`auth::jwt`), and the JWS header decoding the Kubernetes-mode
//! pre-check starts with (`jsonwebtoken::decode_header` in `auth::oidc`).
//!
//! Input: if the first byte is `S`, the rest is `<header JSON> NUL <claims JSON>`, which the target
//! signs with the development key (`certs-dev/token-signing.key`) so the claim checks behind the
//! signature are reached; otherwise the whole input is the `Authorization` header value.
//!
//! Invariants checked, beyond "no panic":
//! - a token the pre-check lets through is in the header, passes `check_token_shape`, and is at
//!   most `MAX_TOKEN_BYTES`; other headers (`X-Remote-User`, `Impersonate-User`) change nothing;
//!   two `Authorization` headers are always refused;
//! - a token is accepted only when it is signed with the configured key (the target holds no
//!   other), and only when its header names ES256 without `crit`, `iss` is the
//!   configured issuer, `aud` is exactly the audience, `exp`/`nbf` hold, and `sub` is the service
//!   account the identity names (and the `kubernetes.io` claim, if any, agrees);
//! - no error message contains the token.

#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use update_status_controller::auth::{
    AuthError, DEFAULT_AUDIENCE, DEV_ISSUER, JwtAuthenticator, JwtSettings, MAX_TOKEN_BYTES,
    ServiceAccount, bearer_token, check_token_shape,
};

static VERIFIER: LazyLock<JwtAuthenticator> = LazyLock::new(|| {
    let settings = JwtSettings::new(DEV_ISSUER, DEFAULT_AUDIENCE);
    match JwtAuthenticator::from_public_key_pem(
        include_bytes!("../../certs-dev/token-signing.pub"),
        settings,
    ) {
        Ok(verifier) => verifier,
        Err(e) => panic!("development public key: {e}"),
    }
});

static PUBLIC: LazyLock<DecodingKey> = LazyLock::new(|| {
    match DecodingKey::from_ec_pem(include_bytes!("../../certs-dev/token-signing.pub")) {
        Ok(key) => key,
        Err(e) => panic!("development public key: {e}"),
    }
});

static SIGNER: LazyLock<EncodingKey> = LazyLock::new(|| {
    match EncodingKey::from_ec_pem(include_bytes!("../../certs-dev/token-signing.key")) {
        Ok(key) => key,
        Err(e) => panic!("development private key: {e}"),
    }
});

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((b'S', rest)) => signed(rest),
        _ => header(data),
    }
});

/// The input as an `Authorization` header value.
fn header(value: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return; // hyper never hands over a header value it could not represent
    };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value.clone());
    let result = bearer_token(&headers).map(str::to_owned);

    let mut spoofed = headers.clone();
    for name in [
        "x-remote-user",
        "x-remote-group",
        "impersonate-user",
        "impersonate-group",
    ] {
        spoofed.insert(name, HeaderValue::from_static("system:admin"));
    }
    assert_eq!(bearer_token(&spoofed).map(str::to_owned), result);
    let mut twice = headers.clone();
    twice.append(AUTHORIZATION, value.clone());
    assert_eq!(
        bearer_token(&twice),
        Err(AuthError::Malformed("several Authorization headers"))
    );

    let Ok(token) = result else {
        return;
    };
    assert!(token.len() <= MAX_TOKEN_BYTES);
    assert_eq!(token.split('.').count(), 3);
    assert!(check_token_shape(&token).is_ok());
    let Ok(text) = value.to_str() else {
        panic!("a token came out of a header that is not visible ASCII");
    };
    assert!(text.contains(token.as_str()));

    // What the Kubernetes-mode pre-check reads first; only that it copes matters here.
    let _ = jsonwebtoken::decode_header(&token);
    match VERIFIER.verify(&token) {
        Ok(identity) => accepted(&token, &identity.username),
        Err(e) => no_token_in(&e, &token),
    }
}

/// `<header JSON> NUL <claims JSON>`, signed with the development key.
fn signed(rest: &[u8]) {
    let (header, claims) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b""[..]),
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = match jsonwebtoken::crypto::sign(message.as_bytes(), &SIGNER, Algorithm::ES256)
    {
        Ok(signature) => signature,
        Err(e) => panic!("signing: {e}"),
    };
    let token = format!("{message}.{signature}");

    let mut headers = HeaderMap::new();
    match HeaderValue::from_str(&format!("Bearer {token}")) {
        Ok(value) => headers.insert(AUTHORIZATION, value),
        Err(e) => panic!("base64url is always a valid header value: {e}"),
    };
    let shaped = !header.is_empty() && !claims.is_empty() && token.len() <= MAX_TOKEN_BYTES;
    assert_eq!(
        bearer_token(&headers).is_ok(),
        shaped,
        "the pre-check misjudged a signed token"
    );
    if !shaped {
        return;
    }
    let _ = jsonwebtoken::decode_header(&token);

    match VERIFIER.verify(&token) {
        Ok(identity) => accepted(&token, &identity.username),
        Err(e) => no_token_in(&e, &token),
    }
}

/// An accepted token: every check the `auth::jwt` documentation lists must hold.
fn accepted(token: &str, username: &str) {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!("accepted a token that is not three segments");
    };
    let verifies = jsonwebtoken::crypto::verify(
        signature,
        format!("{header}.{claims}").as_bytes(),
        &PUBLIC,
        Algorithm::ES256,
    );
    assert!(
        matches!(verifies, Ok(true)),
        "accepted a token the development key did not sign"
    );
    let object = |segment: &str| {
        let bytes = match URL_SAFE_NO_PAD.decode(segment) {
            Ok(bytes) => bytes,
            Err(e) => panic!("accepted a token with a segment that is not base64url: {e}"),
        };
        match serde_json::from_slice::<Map<String, Value>>(&bytes) {
            Ok(map) => map,
            Err(e) => panic!("accepted a token whose header or claims are not a JSON object: {e}"),
        }
    };
    let (header, claims) = (object(header), object(claims));
    assert_eq!(header.get("alg"), Some(&Value::String("ES256".into())));
    assert!(!header.contains_key("crit"));
    assert_eq!(claims.get("iss"), Some(&Value::String(DEV_ISSUER.into())));
    let audience = Value::String(DEFAULT_AUDIENCE.into());
    match claims.get("aud") {
        Some(Value::Array(items)) => assert_eq!(items.as_slice(), std::slice::from_ref(&audience)),
        other => assert_eq!(other, Some(&audience)),
    }
    let now = jiff::Timestamp::now().as_second() as f64;
    let leeway = 300.0;
    let seconds = |name: &str| match claims.get(name).and_then(Value::as_f64) {
        Some(s) => s,
        None => panic!("accepted a token without a numeric {name}"),
    };
    assert!(seconds("exp") > now - leeway, "accepted an expired token");
    assert!(
        seconds("nbf") < now + leeway,
        "accepted a token not valid yet"
    );
    assert_eq!(claims.get("sub"), Some(&Value::String(username.to_owned())));
    let Some(sa) = ServiceAccount::from_username(username) else {
        panic!("accepted {username}, which is not a service account");
    };
    if let Some(k) = claims.get("kubernetes.io") {
        assert_eq!(
            k.get("namespace").and_then(Value::as_str),
            Some(sa.namespace.as_str())
        );
    }
}

/// Errors are logged and returned to the caller: they must never carry the token.
fn no_token_in(e: &AuthError, token: &str) {
    let message = e.to_string();
    assert!(
        !message.contains(token),
        "the error message quotes the token: {message}"
    );
}
