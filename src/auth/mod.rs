//! Who is calling: turns an `Authorization: Bearer` header into an [`Identity`].
//!
//! The chain (DESIGN §5): [`bearer::bearer_token`] does the cheap structural check so garbage never
//! costs a verification or an API call; an [`Authenticator`] then verifies the token. Offline mode
//! (DESIGN §8) uses [`jwt::JwtAuthenticator`] against a key file. In a cluster,
//! [`oidc::PrecheckedAuthenticator`] verifies the token locally against the service-account
//! issuer's keys ([`oidc::OidcPrecheck`]) and then asks the API server
//! ([`token_review::TokenReviewAuthenticator`], behind [`cache::CachingAuthenticator`]);
//! [`access_review::AccessReviewer`] optionally asks it for authorization too. Identity comes
//! from the token only, never from request headers such as `X-Remote-User` or
//! `Impersonate-User`.
//!
//! Nothing here logs, and no error, `Display` or `Debug` output contains a token or key material.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use update_status_api::v1alpha1::{NamespaceName, ObjectName, ServiceAccountRef};

pub mod access_review;
pub mod apiserver;
pub mod bearer;
pub mod cache;
pub mod jwt;
pub mod keys;
pub mod mint;
pub mod oidc;
pub mod priority;
pub mod scrape;
pub mod screen;
pub mod token_review;

pub use access_review::{AccessReviewError, AccessReviewSettings, AccessReviewer};
pub use apiserver::CallError;
pub use bearer::{MAX_TOKEN_BYTES, bearer_token, check_token_shape};
pub use cache::{CacheKeyError, CachingAuthenticator, DEFAULT_TOKEN_CACHE_TTL};
pub use jwt::{JwtAuthenticator, JwtConfigError, JwtSettings};
pub use keys::{KeyError, SigningAlgorithm};
pub use mint::{MintError, mint};
pub use oidc::{
    DiscoveryError, OidcPrecheck, PrecheckConfigError, PrecheckOutcome, PrecheckSettings,
    PrecheckState, PrecheckedAuthenticator,
};
pub use token_review::{
    ReviewError, TokenReviewAuthenticator, TokenReviewConfigError, TokenReviewSettings,
};

/// The audience producer tokens must carry, and the one TokenReviews ask for.
///
/// A dedicated audience is what refuses the default in-pod token (audience: the API server), legacy
/// secret tokens (no audience) and tokens meant for any other service; it also means a token sent
/// to us cannot be replayed against the kube-apiserver. Producers request it in their projected
/// service-account token volume (`audience: update-status-controller.openshift.io`); the discovery
/// endpoint repeats it. Named after the service that consumes the token, under `openshift.io`.
pub const DEFAULT_AUDIENCE: &str = "update-status-controller.openshift.io";

/// The issuer of development tokens (`token` subcommand, `serve --dev`).
///
/// `.invalid` (RFC 2606) can never resolve, so no real cluster can have this issuer and a
/// development token can never be mistaken for a cluster-issued one.
pub const DEV_ISSUER: &str = "https://update-status-controller.dev.invalid";

/// The group Kubernetes puts every service account in.
pub const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";

/// The group Kubernetes adds to every authenticated user.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// The prefix of every service-account username.
pub const SERVICE_ACCOUNT_USERNAME_PREFIX: &str = "system:serviceaccount:";

/// An authenticated caller, in the shape of a TokenReview's `status.user`, so the authorizer does
/// not care which authenticator produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The Kubernetes username, e.g. `system:serviceaccount:openshift-machine-config-operator:mco`.
    pub username: String,
    /// The UID of the user object (for a service account: the ServiceAccount's `metadata.uid`),
    /// which lets an UpdateInformer pin one incarnation of an account.
    pub uid: Option<String>,
    /// The groups, as Kubernetes reports them.
    pub groups: Vec<String>,
}

impl Identity {
    /// The identity Kubernetes gives a service account: its username, and the groups
    /// `system:serviceaccounts`, `system:serviceaccounts:<namespace>` and `system:authenticated`.
    pub fn for_service_account(sa: &ServiceAccount, uid: Option<String>) -> Self {
        Self {
            username: sa.username(),
            uid,
            groups: vec![
                SERVICE_ACCOUNTS_GROUP.to_owned(),
                format!("{SERVICE_ACCOUNTS_GROUP}:{}", sa.namespace),
                AUTHENTICATED_GROUP.to_owned(),
            ],
        }
    }

    /// The service account this identity is, if it is one; authorization matches producers by it.
    pub fn service_account(&self) -> Option<ServiceAccount> {
        ServiceAccount::from_username(&self.username)
    }
}

/// A service account, parsed and validated, so that comparing it with an UpdateInformer's
/// `spec.producers` is comparing two validated values rather than two strings.
///
/// The namespace is a DNS label and the name a DNS subdomain, exactly as Kubernetes validates them
/// and as [`ServiceAccountRef`] does: a stricter rule here would lock out accounts an
/// administrator can legally register. Neither can contain `:`, so the username parses one way.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceAccount {
    /// Its namespace.
    pub namespace: NamespaceName,
    /// Its name.
    pub name: ObjectName,
}

impl ServiceAccount {
    /// Parses `system:serviceaccount:<namespace>:<name>`; anything else (another user, a node, a
    /// malformed part) is not a service account.
    pub fn from_username(username: &str) -> Option<Self> {
        let rest = username.strip_prefix(SERVICE_ACCOUNT_USERNAME_PREFIX)?;
        let (namespace, name) = rest.split_once(':')?;
        Some(Self {
            namespace: NamespaceName::new(namespace).ok()?,
            name: ObjectName::new(name).ok()?,
        })
    }

    /// The username Kubernetes gives this service account (the token's `sub`).
    pub fn username(&self) -> String {
        format!(
            "{SERVICE_ACCOUNT_USERNAME_PREFIX}{}:{}",
            self.namespace, self.name
        )
    }

    /// Whether this is the account `reference` names (namespace and name; a pinned UID is the
    /// authorizer's to compare with [`Identity::uid`]).
    pub fn is(&self, reference: &ServiceAccountRef) -> bool {
        self.namespace == reference.namespace && self.name == reference.name
    }
}

/// Why a request is not authenticated. The server maps `Missing`, `Malformed` and `Invalid` to 401
/// with `WWW-Authenticate: Bearer`, and `Unavailable` to 503 with `Retry-After`: an authority that
/// cannot be reached never turns into an accept.
///
/// No variant ever carries the token or any part of it, so the error is safe to log whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("no Authorization header")]
    Missing,
    /// An `Authorization` header that cannot hold a bearer token (wrong scheme, several headers,
    /// empty, too long, not a three-part base64url token, non-ASCII). Found without any
    /// cryptography, so it is cheap to refuse.
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    /// A well-formed token that failed verification; the message names the failed check (for
    /// example `exp: the token has expired`) and never quotes the token or its claims.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The authority that verifies tokens could not be asked (e.g. the API server during an
    /// update); the caller should retry.
    #[error("token authority unavailable, retry after {} s", retry_after.as_secs())]
    Unavailable {
        /// How long the caller should wait before retrying.
        retry_after: Duration,
    },
    /// A verified caller that no UpdateInformer lists asked for more token reviews than its
    /// share ([`priority`]): it would be refused (403) anyway, and distinct tokens of one
    /// account must not become a stream of TokenReviews. Answered 429 with `Retry-After`.
    #[error("too many token reviews for an account no informer lists, retry after {} s", retry_after.as_secs())]
    RateLimited {
        /// How long the caller should wait before retrying.
        retry_after: Duration,
    },
}

/// The future an [`Authenticator`] returns: boxed so the trait stays object-safe and the server
/// can hold a `dyn Authenticator` chosen at start-up (key file offline, TokenReview in a cluster).
/// The identity is shared, so a cache hands out the one it holds instead of copying its strings.
pub type AuthFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<Identity>, AuthError>> + Send + 'a>>;

/// Verifies a bearer token and says who presented it.
///
/// Implementations receive a token that already passed [`check_token_shape`], must fail closed
/// (any doubt is an error, an unreachable authority is [`AuthError::Unavailable`]), and must not
/// log or store the token in clear.
pub trait Authenticator: Send + Sync + 'static {
    /// Verifies `token` and returns the identity it proves.
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a>;

    /// Tells the authenticator which usernames are listed producers (or metrics readers), whose
    /// verified tokens get the TokenReview slots reserved for them ([`priority`]). The server
    /// calls it whenever the UpdateInformers change. Authenticators without reserved capacity
    /// ignore it.
    fn set_priority_subjects(&self, _subjects: std::collections::HashSet<String>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_usernames() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            (
                "system:serviceaccount:openshift-machine-config-operator:machine-config-operator",
                Some((
                    "openshift-machine-config-operator",
                    "machine-config-operator",
                )),
            ),
            ("system:serviceaccount:ns:a.b", Some(("ns", "a.b"))),
            ("system:serviceaccount:ns:", None),
            ("system:serviceaccount::name", None),
            ("system:serviceaccount:ns", None),
            ("system:serviceaccount:ns:name:extra", None),
            ("system:serviceaccount:NS:name", None),
            ("system:serviceaccount:ns.dotted:name", None),
            ("system:serviceaccount:ns:Name", None),
            ("system:serviceaccount:ns:-name", None),
            ("system:serviceaccount:ns:na me", None),
            ("system:serviceaccounts:ns", None),
            ("system:admin", None),
            ("kube:admin", None),
            ("system:node:worker-0", None),
            ("", None),
            (" system:serviceaccount:ns:name", None),
        ];
        for (username, want) in cases {
            let got = ServiceAccount::from_username(username);
            let got = got
                .as_ref()
                .map(|sa| (sa.namespace.as_str(), sa.name.as_str()));
            assert_eq!(got, *want, "{username:?}");
        }
        let too_long_namespace = format!("system:serviceaccount:{}:name", "a".repeat(64));
        assert_eq!(ServiceAccount::from_username(&too_long_namespace), None);
    }

    #[test]
    fn username_round_trips() {
        let username = "system:serviceaccount:openshift-cluster-version:cluster-version-operator";
        let sa = ServiceAccount::from_username(username);
        assert_eq!(sa.map(|sa| sa.username()).as_deref(), Some(username));
    }

    #[test]
    fn service_account_identity_has_kubernetes_groups() {
        let Some(sa) = ServiceAccount::from_username("system:serviceaccount:ns:producer") else {
            panic!("valid username refused");
        };
        let id = Identity::for_service_account(&sa, Some("uid".to_owned()));
        assert_eq!(id.username, "system:serviceaccount:ns:producer");
        assert_eq!(id.uid.as_deref(), Some("uid"));
        assert_eq!(
            id.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        assert_eq!(id.service_account(), Some(sa));
    }

    #[test]
    fn matches_the_api_reference() {
        let Some(sa) = ServiceAccount::from_username("system:serviceaccount:ns:producer") else {
            panic!("valid username refused");
        };
        let reference = |ns: &str, name: &str| -> ServiceAccountRef {
            match serde_json::from_value(serde_json::json!({"namespace": ns, "name": name})) {
                Ok(r) => r,
                Err(e) => panic!("{e}"),
            }
        };
        assert!(sa.is(&reference("ns", "producer")));
        assert_eq!(reference("ns", "producer").username(), sa.username());
        assert!(!sa.is(&reference("other", "producer")));
        assert!(!sa.is(&reference("ns", "other")));
    }

    #[test]
    fn errors_are_object_safe_and_printable() {
        fn _object_safe(_: &dyn Authenticator) {}
        let e = AuthError::Unavailable {
            retry_after: Duration::from_secs(5),
        };
        assert_eq!(
            e.to_string(),
            "token authority unavailable, retry after 5 s"
        );
    }
}
