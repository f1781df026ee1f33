#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The offline JWT authenticator against the token shapes an attacker or a misconfigured producer
//! would send (checklist AUTHN-07, AUTHN-08; LOG-01 for the error messages), key loading, and
//! minting.
//!
//! Keys: `certs-dev/token-signing.*` (ES256, the development pair) and the test-only keys of
//! `tests/fixtures/auth/` (RSA, Ed25519, a second P-256 key, keys the loader must refuse).

use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use update_status_controller::auth::jwt::{DEFAULT_LEEWAY, MAX_LEEWAY};
use update_status_controller::auth::{
    AuthError, Authenticator, DEFAULT_AUDIENCE, DEV_ISSUER, Identity, JwtAuthenticator,
    JwtConfigError, JwtSettings, KeyError, MintError, ServiceAccount, SigningAlgorithm, mint,
};

const DEV_KEY: &[u8] = include_bytes!("../certs-dev/token-signing.key");
const DEV_PUB: &[u8] = include_bytes!("../certs-dev/token-signing.pub");
const OTHER_P256_KEY: &[u8] = include_bytes!("fixtures/auth/other-p256.key");
const OTHER_P256_SEC1_KEY: &[u8] = include_bytes!("fixtures/auth/other-p256-sec1.key");
const RSA_KEY: &[u8] = include_bytes!("fixtures/auth/rsa.key");
const RSA_PUB: &[u8] = include_bytes!("fixtures/auth/rsa.pub");
const RSA_PKCS1_PUB: &[u8] = include_bytes!("fixtures/auth/rsa-pkcs1.pub");
const RSA_1024_PUB: &[u8] = include_bytes!("fixtures/auth/rsa-1024.pub");
const ED25519_KEY: &[u8] = include_bytes!("fixtures/auth/ed25519.key");
const ED25519_PUB: &[u8] = include_bytes!("fixtures/auth/ed25519.pub");
const P384_PUB: &[u8] = include_bytes!("fixtures/auth/p384.pub");
const CA_CRT: &[u8] = include_bytes!("../certs-dev/ca.crt");

const NAMESPACE: &str = "openshift-machine-config-operator";
const NAME: &str = "machine-config-operator";
const SUB: &str = "system:serviceaccount:openshift-machine-config-operator:machine-config-operator";
const UID: &str = "2a3c1c1e-8f0b-4f0e-9a7e-0d9c4f0b1a2b";

fn sa() -> ServiceAccount {
    ServiceAccount::from_username(SUB).unwrap()
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn settings() -> JwtSettings {
    JwtSettings::new(DEV_ISSUER, DEFAULT_AUDIENCE)
}

fn dev_authenticator() -> JwtAuthenticator {
    JwtAuthenticator::from_public_key_pem(DEV_PUB, settings()).unwrap()
}

/// Runs the authenticator through the trait, as the server will. The JWT authenticator does no
/// I/O, so its future is ready on the first poll.
fn authenticate(auth: &dyn Authenticator, token: &str) -> Result<Arc<Identity>, AuthError> {
    let mut future = auth.authenticate(token);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("the JWT authenticator must not wait"),
    }
}

/// The claims of a good projected token, `now`-relative.
fn good_claims() -> Value {
    let now = now();
    json!({
        "iss": DEV_ISSUER,
        "aud": [DEFAULT_AUDIENCE],
        "sub": SUB,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "kubernetes.io": {
            "namespace": NAMESPACE,
            "serviceaccount": {"name": NAME, "uid": UID},
            "pod": {"name": "machine-config-operator-7d9f8", "uid": "6f0d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
        },
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

/// Signs arbitrary claims (any JSON) with the development key, ES256.
fn sign_dev(claims: &Value) -> String {
    sign(
        claims,
        Algorithm::ES256,
        &EncodingKey::from_ec_pem(DEV_KEY).unwrap(),
    )
}

fn sign(claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

/// Signs raw payload bytes (not necessarily JSON) with the development key, ES256.
fn sign_raw_dev(payload: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        b64(&json!({"alg": "ES256"})),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = EncodingKey::from_ec_pem(DEV_KEY).unwrap();
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::ES256).unwrap();
    format!("{message}.{signature}")
}

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
}

/// A token with a hand-written header and signature.
fn craft(header: &Value, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{signature}", b64(header), b64(claims))
}

fn mint_dev(issuer: &str, audience: &str, at: i64, lifetime: Duration) -> String {
    mint(
        DEV_KEY,
        issuer,
        audience,
        &sa(),
        Some(UID),
        jiff::Timestamp::from_second(at).unwrap(),
        lifetime,
    )
    .unwrap()
}

/// The message, its `Display` and its `Debug` quote no part of the token: no segment, no 12
/// characters in a row, no `eyJ` (the start of every base64 JSON object), and none of the
/// `secrets` (claim values the case put in the token).
fn assert_no_leak(err: &AuthError, token: &str, secrets: &[&str]) {
    let texts = [err.to_string(), format!("{err:?}")];
    for text in &texts {
        assert!(!text.contains("eyJ"), "{text:?} quotes base64 JSON");
        for segment in token.split('.').filter(|s| s.len() >= 4) {
            assert!(!text.contains(segment), "{text:?} quotes a token segment");
        }
        let chars: Vec<char> = token.chars().collect();
        for window in chars.windows(12) {
            let window: String = window.iter().collect();
            assert!(!text.contains(&window), "{text:?} quotes {window:?}");
        }
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{text:?} quotes the claim {secret:?}"
            );
        }
    }
}

#[test]
fn accepts_a_minted_dev_token() {
    let token = mint_dev(
        DEV_ISSUER,
        DEFAULT_AUDIENCE,
        now(),
        Duration::from_secs(600),
    );
    let id = authenticate(&dev_authenticator(), &token).unwrap();
    assert_eq!(
        *id,
        Identity {
            username: SUB.to_owned(),
            uid: Some(UID.to_owned()),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                "system:serviceaccounts:openshift-machine-config-operator".to_owned(),
                "system:authenticated".to_owned(),
            ],
        }
    );
    assert_eq!(id.service_account(), Some(sa()));
}

#[test]
fn accepts_kubernetes_shaped_variants() {
    let auth = dev_authenticator();
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("projected token with pod binding", good_claims(), Some(UID)),
        (
            "aud as a single string",
            with(good_claims(), "aud", json!(DEFAULT_AUDIENCE)),
            Some(UID),
        ),
        (
            "no kubernetes.io claim: no uid",
            without(good_claims(), "kubernetes.io"),
            None,
        ),
        (
            "kubernetes.io without serviceaccount",
            with(
                good_claims(),
                "kubernetes.io",
                json!({"namespace": NAMESPACE}),
            ),
            None,
        ),
        (
            "expired 10 s ago, inside the default leeway",
            with(good_claims(), "exp", json!(now() - 10)),
            Some(UID),
        ),
        (
            "valid from 10 s from now, inside the default leeway",
            with(good_claims(), "nbf", json!(now() + 10)),
            Some(UID),
        ),
    ];
    for (name, claims, uid) in cases {
        let id = authenticate(&auth, &sign_dev(&claims)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(id.username, SUB, "{name}");
        assert_eq!(id.uid.as_deref(), uid, "{name}");
    }
}

/// AUTHN-07 and AUTHN-08: every one refused, with a message that names the failed check and
/// quotes nothing of the token.
#[test]
fn refuses_bad_tokens() {
    let dev = dev_authenticator();
    let rsa = JwtAuthenticator::from_public_key_pem(RSA_PUB, settings()).unwrap();
    let good = good_claims();
    let t = now();
    let hour = Duration::from_secs(3600);
    let good_token = sign_dev(&good);
    let [good_header, good_payload, good_signature]: [&str; 3] = good_token
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();

    struct Case<'a> {
        name: &'a str,
        auth: &'a JwtAuthenticator,
        token: String,
        /// The message starts with one of these (the check that failed).
        checks: &'a [&'a str],
        /// Claim values in the token the message must not quote.
        secrets: &'a [&'a str],
    }
    let case = |name, token, checks, secrets| Case {
        name,
        auth: &dev,
        token,
        checks,
        secrets,
    };
    let legacy = json!({
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": NAMESPACE,
        "kubernetes.io/serviceaccount/secret.name": "machine-config-operator-token-x7k2p",
        "kubernetes.io/serviceaccount/service-account.name": NAME,
        "kubernetes.io/serviceaccount/service-account.uid": UID,
        "sub": SUB,
    });

    let cases = vec![
        case(
            "expired (minted two hours ago for one hour)",
            mint_dev(DEV_ISSUER, DEFAULT_AUDIENCE, t - 7200, hour),
            &["exp:"],
            &[],
        ),
        case(
            "expired 31 s ago, just past the leeway",
            sign_dev(&with(good.clone(), "exp", json!(t - 31))),
            &["exp:"],
            &[],
        ),
        case(
            "not yet valid (minted for an hour from now)",
            mint_dev(DEV_ISSUER, DEFAULT_AUDIENCE, t + 3600, hour),
            &["nbf:"],
            &[],
        ),
        case(
            "wrong issuer",
            mint_dev(
                "https://kubernetes.default.svc.cluster.local",
                DEFAULT_AUDIENCE,
                t,
                hour,
            ),
            &["iss:"],
            &["kubernetes.default"],
        ),
        case(
            "issuer of the wrong type",
            sign_dev(&with(good.clone(), "iss", json!(42))),
            &["iss:"],
            &[],
        ),
        case(
            "issuer as an array holding ours",
            sign_dev(&with(good.clone(), "iss", json!([DEV_ISSUER]))),
            &["iss:"],
            &[],
        ),
        case(
            // Replayable against the API server by whoever receives it (finding 8a).
            "several audiences, ours among them",
            sign_dev(&with(
                good.clone(),
                "aud",
                json!(["https://kubernetes.default.svc", DEFAULT_AUDIENCE]),
            )),
            &["aud:"],
            &[],
        ),
        case(
            "wrong audience (the API server's)",
            mint_dev(DEV_ISSUER, "https://kubernetes.default.svc", t, hour),
            &["aud:"],
            &["kubernetes.default"],
        ),
        case(
            "audience of the wrong type (number)",
            sign_dev(&with(good.clone(), "aud", json!(1234))),
            &["aud:"],
            &["1234"],
        ),
        case(
            "audience of the wrong type (object)",
            sign_dev(&with(
                good.clone(),
                "aud",
                json!({"aud": DEFAULT_AUDIENCE}),
            )),
            &["aud:"],
            &[],
        ),
        case(
            "empty audience list",
            sign_dev(&with(good.clone(), "aud", json!([]))),
            &["aud:"],
            &[],
        ),
        case(
            "no audience",
            sign_dev(&without(good.clone(), "aud")),
            &["aud:"],
            &[],
        ),
        case(
            "no exp",
            sign_dev(&without(good.clone(), "exp")),
            &["exp:"],
            &[],
        ),
        case(
            "exp: \"never\" (CVE-2026-25537)",
            sign_dev(&with(good.clone(), "exp", json!("never"))),
            &["exp:"],
            &["never"],
        ),
        case(
            "exp: a numeric string",
            sign_dev(&with(good.clone(), "exp", json!((t + 600).to_string()))),
            &["exp:"],
            &[],
        ),
        case(
            "exp: negative",
            sign_dev(&with(good.clone(), "exp", json!(-1))),
            &["exp:"],
            &[],
        ),
        case(
            "no nbf",
            sign_dev(&without(good.clone(), "nbf")),
            &["nbf:"],
            &[],
        ),
        case(
            "nbf: a string",
            sign_dev(&with(good.clone(), "nbf", json!("now"))),
            &["nbf:"],
            &[],
        ),
        case(
            "no sub",
            sign_dev(&without(good.clone(), "sub")),
            &["sub:"],
            &[],
        ),
        case(
            "sub of the wrong type",
            sign_dev(&with(good.clone(), "sub", json!(["system:admin"]))),
            &["sub:"],
            &["system:admin"],
        ),
        case(
            "sub is a user, not a service account",
            sign_dev(&with(good.clone(), "sub", json!("system:admin"))),
            &["sub:"],
            &["system:admin"],
        ),
        case(
            "sub is a node",
            sign_dev(&with(good.clone(), "sub", json!("system:node:worker-0"))),
            &["sub:"],
            &["worker-0"],
        ),
        case(
            "sub names an invalid namespace",
            sign_dev(&with(
                good.clone(),
                "sub",
                json!("system:serviceaccount:Bad_NS:producer"),
            )),
            &["sub:"],
            &["Bad_NS"],
        ),
        case(
            "kubernetes.io names another namespace",
            sign_dev(&with(
                good.clone(),
                "kubernetes.io",
                json!({"namespace": "kube-system", "serviceaccount": {"name": NAME, "uid": UID}}),
            )),
            &["kubernetes.io:"],
            &["kube-system"],
        ),
        case(
            "kubernetes.io names another account",
            sign_dev(&with(
                good.clone(),
                "kubernetes.io",
                json!({"namespace": NAMESPACE, "serviceaccount": {"name": "admin", "uid": UID}}),
            )),
            &["kubernetes.io:"],
            &[],
        ),
        case(
            "kubernetes.io uid is not a UID",
            sign_dev(&with(
                good.clone(),
                "kubernetes.io",
                json!({"namespace": NAMESPACE, "serviceaccount": {"name": NAME, "uid": "x\u{1b}[2J"}}),
            )),
            &["kubernetes.io:"],
            &["\u{1b}"],
        ),
        case(
            "kubernetes.io is not an object",
            sign_dev(&with(good.clone(), "kubernetes.io", json!("ns"))),
            &["kubernetes.io:"],
            &[],
        ),
        case(
            "legacy secret token shape (AUTHN-07): iss kubernetes/serviceaccount, no exp, nbf, aud",
            sign_dev(&legacy),
            // Which required claim is reported first is not fixed; any of them is right.
            &["exp:", "nbf:", "aud:", "iss:"],
            &["kubernetes/serviceaccount", "x7k2p"],
        ),
        case(
            "legacy token shape with exp and nbf added",
            sign_dev(&with(
                with(legacy.clone(), "exp", json!(t + 600)),
                "nbf",
                json!(t),
            )),
            &["aud:", "iss:"],
            &["kubernetes/serviceaccount"],
        ),
        case(
            "alg: none with an empty signature",
            craft(&json!({"alg": "none", "typ": "JWT"}), &good, ""),
            &["alg:"],
            &[],
        ),
        case(
            "alg: None with the real signature",
            craft(&json!({"alg": "None"}), &good, good_signature),
            &["alg:"],
            &[],
        ),
        case(
            "HS256 signed with the EC public key PEM as the HMAC secret",
            sign(&good, Algorithm::HS256, &EncodingKey::from_secret(DEV_PUB).unwrap()),
            &["alg:"],
            &[],
        ),
        case(
            "ES384 header on an ES256 key",
            craft(&json!({"alg": "ES384"}), &good, good_signature),
            &["alg:"],
            &[],
        ),
        case(
            "header without alg",
            craft(&json!({"typ": "JWT"}), &good, good_signature),
            &["alg:"],
            &[],
        ),
        case(
            "unknown critical header extension",
            craft(
                &json!({"alg": "ES256", "crit": ["exp"], "exp": 0}),
                &good,
                good_signature,
            ),
            &["header:"],
            &[],
        ),
        case(
            "signed by another P-256 key",
            sign(
                &good,
                Algorithm::ES256,
                &EncodingKey::from_ec_pem(OTHER_P256_KEY).unwrap(),
            ),
            &["signature:"],
            &[],
        ),
        case(
            "payload swapped under a valid signature",
            format!(
                "{good_header}.{}.{good_signature}",
                b64(&with(good.clone(), "sub", json!("system:serviceaccount:kube-system:admin")))
            ),
            &["signature:"],
            &[],
        ),
        case(
            "signature stripped",
            format!("{good_header}.{good_payload}."),
            &["signature:"],
            &[],
        ),
        case(
            "signature truncated",
            format!("{good_header}.{good_payload}.{}", &good_signature[..40]),
            &["signature:"],
            &[],
        ),
        case(
            "signature is not base64url",
            format!("{good_header}.{good_payload}.!!!!"),
            &["signature:"],
            &[],
        ),
        case(
            "sub of the wrong type (object)",
            sign_dev(&with(good.clone(), "sub", json!({"sub": SUB}))),
            &["sub:"],
            &[],
        ),
        case(
            "iss of the wrong type (array of objects)",
            sign_dev(&with(good.clone(), "iss", json!([{"iss": DEV_ISSUER}]))),
            &["iss:"],
            &[],
        ),
        case(
            "signed claims that are not JSON",
            sign_raw_dev(b"not json at all"),
            &["format:"],
            &[],
        ),
        case(
            "signed claims that are a JSON array",
            sign_raw_dev(br#"["system:serviceaccount:ns:sa"]"#),
            &["format:"],
            &["serviceaccount:ns"],
        ),
        case(
            "signed claims with a duplicated sub",
            sign_raw_dev(
                format!(
                    r#"{{"iss":"{DEV_ISSUER}","aud":"{DEFAULT_AUDIENCE}","sub":"{SUB}","sub":"system:serviceaccount:kube-system:admin","nbf":{t},"exp":{}}}"#,
                    t + 600
                )
                .as_bytes(),
            ),
            &["claims:"],
            &["kube-system"],
        ),
        case(
            "header field of the wrong type (kid: 5)",
            craft(&json!({"alg": "ES256", "kid": 5}), &good, good_signature),
            &["header:"],
            &[],
        ),
        case("garbage", "garbage".to_owned(), &["format:"], &[]),
        case("empty", String::new(), &["format:"], &[]),
        case("dots", "..".to_owned(), &["header:"], &[]),
        case("two parts", format!("{good_header}.{good_payload}"), &["format:"], &[]),
        case(
            "five parts (JWE shape)",
            format!("{good_token}.abcd.efgh"),
            &["format:"],
            &[],
        ),
        case(
            "random base64url segments",
            "c29tZQ.cmFuZG9t.Ynl0ZXM".to_owned(),
            &["header:"],
            &[],
        ),
        case(
            "header is JSON but not an object",
            craft(&json!(["alg", "ES256"]), &good, good_signature),
            &["header:"],
            &[],
        ),
        case(
            "header is not JSON",
            format!(
                "{}.{good_payload}.{good_signature}",
                URL_SAFE_NO_PAD.encode("{alg:ES256}")
            ),
            &["header:"],
            &[],
        ),
        case(
            "over 8 KiB",
            format!("{good_header}.{}.{good_signature}", "A".repeat(9000)),
            &["size:"],
            &[],
        ),
        Case {
            name: "HS256 signed with the RSA public key PEM as the HMAC secret (classic confusion)",
            auth: &rsa,
            token: sign(&good, Algorithm::HS256, &EncodingKey::from_secret(RSA_PUB).unwrap()),
            checks: &["alg:"],
            secrets: &[],
        },
        Case {
            name: "ES256 token on an RS256 key",
            auth: &rsa,
            token: good_token.clone(),
            checks: &["alg:"],
            secrets: &[],
        },
        Case {
            name: "RS256 token on the RSA key, wrong audience",
            auth: &rsa,
            token: sign(
                &with(good.clone(), "aud", json!(["someone-else"])),
                Algorithm::RS256,
                &EncodingKey::from_rsa_pem(RSA_KEY).unwrap(),
            ),
            checks: &["aud:"],
            secrets: &["someone-else"],
        },
    ];

    let count = cases.len();
    for case in cases {
        let err = match authenticate(case.auth, &case.token) {
            Err(err) => err,
            Ok(id) => panic!("{}: accepted as {id:?}", case.name),
        };
        let AuthError::Invalid(message) = &err else {
            panic!("{}: {err:?} is not Invalid", case.name);
        };
        // `cargo test --test auth_jwt -- --nocapture` lists every case with its answer.
        eprintln!("{:<90} -> {message}", case.name);
        assert!(
            case.checks.iter().any(|check| message.starts_with(check)),
            "{}: {message:?} does not name the check {:?}",
            case.name,
            case.checks
        );
        assert_no_leak(&err, &case.token, case.secrets);
    }
    assert!(count >= 50, "the table shrank to {count} cases");
}

#[test]
fn leeway_is_configurable_and_bounded() {
    let claims = with(good_claims(), "exp", json!(now() - 10));
    let token = sign_dev(&claims);
    assert_eq!(DEFAULT_LEEWAY, Duration::from_secs(30));
    assert!(dev_authenticator().verify(&token).is_ok());

    let strict = JwtSettings {
        leeway: Duration::ZERO,
        ..settings()
    };
    let strict = JwtAuthenticator::from_public_key_pem(DEV_PUB, strict).unwrap();
    assert!(matches!(strict.verify(&token), Err(AuthError::Invalid(m)) if m.starts_with("exp:")));

    let too_lax = JwtSettings {
        leeway: MAX_LEEWAY + Duration::from_secs(1),
        ..settings()
    };
    assert!(matches!(
        JwtAuthenticator::from_public_key_pem(DEV_PUB, too_lax),
        Err(JwtConfigError::LeewayTooLarge { .. })
    ));
}

#[test]
fn key_types_fix_the_algorithm() {
    let cases: [(&str, &[u8], &[u8], SigningAlgorithm); 4] = [
        ("EC P-256", DEV_KEY, DEV_PUB, SigningAlgorithm::Es256),
        ("RSA (SPKI)", RSA_KEY, RSA_PUB, SigningAlgorithm::Rs256),
        (
            "RSA (PKCS#1)",
            RSA_KEY,
            RSA_PKCS1_PUB,
            SigningAlgorithm::Rs256,
        ),
        ("Ed25519", ED25519_KEY, ED25519_PUB, SigningAlgorithm::EdDsa),
    ];
    for (name, private, public, algorithm) in cases {
        let auth = JwtAuthenticator::from_public_key_pem(public, settings())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(auth.algorithm(), algorithm, "{name}");
        let token = mint(
            private,
            DEV_ISSUER,
            DEFAULT_AUDIENCE,
            &sa(),
            None,
            jiff::Timestamp::now(),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(
            format!("{:?}", header.alg),
            algorithm.name(),
            "{name}: minted with the key's algorithm"
        );
        let id = auth
            .verify(&token)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(id.username, SUB, "{name}");
        assert_eq!(id.uid, None, "{name}");
        // A token from any other key type is refused by this one.
        for (other_name, other_private, _, other_alg) in cases {
            if other_alg == algorithm {
                continue;
            }
            let other = mint(
                other_private,
                DEV_ISSUER,
                DEFAULT_AUDIENCE,
                &sa(),
                None,
                jiff::Timestamp::now(),
                Duration::from_secs(60),
            )
            .unwrap();
            assert!(
                matches!(auth.verify(&other), Err(AuthError::Invalid(m)) if m.starts_with("alg:")),
                "{name} key accepted a {other_name} token"
            );
        }
    }
}

#[test]
fn refuses_unusable_verification_keys() {
    let two_keys = [DEV_PUB, RSA_PUB].concat();
    type Expect = fn(&KeyError) -> bool;
    let cases: Vec<(&str, &[u8], Expect)> = vec![
        (
            "P-384",
            P384_PUB,
            |e| matches!(e, KeyError::Unsupported(m) if m.contains("P-256")),
        ),
        (
            "RSA 1024",
            RSA_1024_PUB,
            |e| matches!(e, KeyError::Unsupported(m) if m.contains("2048")),
        ),
        (
            "a private key",
            DEV_KEY,
            |e| matches!(e, KeyError::WrongLabel { found, hint, .. } if found == "PRIVATE KEY" && hint.contains("pubout")),
        ),
        (
            "a certificate",
            CA_CRT,
            |e| matches!(e, KeyError::WrongLabel { found, .. } if found == "CERTIFICATE"),
        ),
        ("two keys", &two_keys, |e| {
            matches!(e, KeyError::SeveralBlocks { count: 2 })
        }),
        (
            "not PEM",
            b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 user@host",
            |e| matches!(e, KeyError::NotPem),
        ),
        ("empty", b"", |e| matches!(e, KeyError::NotPem)),
        (
            "PEM with a broken body",
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            |e| matches!(e, KeyError::Unsupported(_)),
        ),
    ];
    for (name, pem, expected) in cases {
        match JwtAuthenticator::from_public_key_pem(pem, settings()) {
            Err(JwtConfigError::Key(e)) => assert!(expected(&e), "{name}: {e:?}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    for (issuer, audience) in [("", DEFAULT_AUDIENCE), (DEV_ISSUER, "")] {
        assert!(matches!(
            JwtAuthenticator::from_public_key_pem(DEV_PUB, JwtSettings::new(issuer, audience)),
            Err(JwtConfigError::Empty(_))
        ));
    }
}

#[test]
fn loads_the_key_file_and_names_it_in_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let auth = JwtAuthenticator::from_public_key_file(
        &dir.join("certs-dev/token-signing.pub"),
        settings(),
    )
    .unwrap();
    assert_eq!(auth.algorithm(), SigningAlgorithm::Es256);

    let missing = dir.join("certs-dev/no-such-key.pub");
    let err = JwtAuthenticator::from_public_key_file(&missing, settings()).unwrap_err();
    assert!(matches!(err, JwtConfigError::Read { .. }));
    assert!(err.to_string().contains("no-such-key.pub"), "{err}");

    let private = dir.join("certs-dev/token-signing.key");
    let err = JwtAuthenticator::from_public_key_file(&private, settings()).unwrap_err();
    assert!(matches!(err, JwtConfigError::KeyFile { .. }));
    assert!(err.to_string().contains("token-signing.key"), "{err}");
}

/// LOG-01: no key material in `Debug`, nor in error chains.
#[test]
fn debug_output_has_no_key_material() {
    let body_lines = |pem: &[u8]| -> Vec<String> {
        String::from_utf8(pem.to_vec())
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
            .map(|l| l[..16].to_owned())
            .collect()
    };
    for public in [DEV_PUB, RSA_PUB, ED25519_PUB] {
        let auth = JwtAuthenticator::from_public_key_pem(public, settings()).unwrap();
        let debug = format!("{auth:?}");
        assert!(debug.contains(DEV_ISSUER) && debug.contains(DEFAULT_AUDIENCE));
        for line in body_lines(public) {
            assert!(!debug.contains(&line), "{debug}");
        }
    }
    // Errors about private keys.
    let sec1 = mint(
        OTHER_P256_SEC1_KEY,
        DEV_ISSUER,
        DEFAULT_AUDIENCE,
        &sa(),
        None,
        jiff::Timestamp::now(),
        Duration::from_secs(60),
    )
    .unwrap_err();
    let mut chain = format!("{sec1:?}");
    let mut source: Option<&dyn std::error::Error> = Some(&sec1);
    while let Some(e) = source {
        chain.push_str(&e.to_string());
        source = e.source();
    }
    assert!(chain.contains("pkcs8"), "{chain}");
    for line in body_lines(OTHER_P256_SEC1_KEY) {
        assert!(!chain.contains(&line), "{chain}");
    }
}

#[test]
fn minted_tokens_are_shaped_like_projected_tokens() {
    let at = jiff::Timestamp::from_second(1_790_000_000).unwrap();
    let token = mint(
        DEV_KEY,
        DEV_ISSUER,
        DEFAULT_AUDIENCE,
        &sa(),
        Some(UID),
        at,
        Duration::from_secs(3600),
    )
    .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        claims,
        json!({
            "iss": DEV_ISSUER,
            "aud": [DEFAULT_AUDIENCE],
            "sub": SUB,
            "iat": 1_790_000_000,
            "nbf": 1_790_000_000,
            "exp": 1_790_003_600,
            "kubernetes.io": {
                "namespace": NAMESPACE,
                "serviceaccount": {"name": NAME, "uid": UID},
            },
        })
    );
    // It passes the bearer pre-check.
    assert_eq!(
        update_status_controller::auth::check_token_shape(&token),
        Ok(())
    );
}

#[test]
fn mint_refuses_bad_input() {
    let at = jiff::Timestamp::now();
    let minute = Duration::from_secs(60);
    let m = |key: &[u8], iss: &str, aud: &str, uid: Option<&str>, at, life| {
        mint(key, iss, aud, &sa(), uid, at, life)
    };
    assert!(matches!(
        m(DEV_KEY, "", DEFAULT_AUDIENCE, None, at, minute),
        Err(MintError::Empty("issuer"))
    ));
    assert!(matches!(
        m(DEV_KEY, DEV_ISSUER, "", None, at, minute),
        Err(MintError::Empty("audience"))
    ));
    assert!(matches!(
        m(
            DEV_KEY,
            DEV_ISSUER,
            DEFAULT_AUDIENCE,
            Some("not-a-uid"),
            at,
            minute
        ),
        Err(MintError::Uid(_))
    ));
    for life in [Duration::ZERO, Duration::from_secs(25 * 3600)] {
        assert!(matches!(
            m(DEV_KEY, DEV_ISSUER, DEFAULT_AUDIENCE, None, at, life),
            Err(MintError::Lifetime(_))
        ));
    }
    assert!(matches!(
        m(
            DEV_KEY,
            DEV_ISSUER,
            DEFAULT_AUDIENCE,
            None,
            jiff::Timestamp::from_second(-1).unwrap(),
            minute
        ),
        Err(MintError::BeforeEpoch(_))
    ));
    assert!(matches!(
        m(DEV_PUB, DEV_ISSUER, DEFAULT_AUDIENCE, None, at, minute),
        Err(MintError::Key(KeyError::WrongLabel { .. }))
    ));
    assert!(matches!(
        m(
            OTHER_P256_SEC1_KEY,
            DEV_ISSUER,
            DEFAULT_AUDIENCE,
            None,
            at,
            minute
        ),
        Err(MintError::Key(KeyError::WrongLabel { .. }))
    ));
}
