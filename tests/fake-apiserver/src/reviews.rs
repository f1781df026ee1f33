//! TokenReview and SubjectAccessReview, answered from tables the test fills.
//!
//! TokenReview follows the real server's audience rules: with `spec.audiences` empty the token
//! must be valid for the API server's own audiences; otherwise it is authenticated only if its
//! audiences intersect the requested ones, and `status.audiences` is that intersection. An unknown,
//! revoked or expired token is `authenticated: false` with an `error` string (never an HTTP error).
//!
//! The same tables authenticate and authorize the fake's own callers: a bearer token must be the
//! kubeconfig's admin token (everything allowed) or a token in the table, whose user is then
//! authorized by the [`AccessRule`]s — so a test can run a client as a restricted identity.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewStatus, UserInfo as K8sUser};
use k8s_openapi::api::authorization::v1::{SubjectAccessReview, SubjectAccessReviewStatus};

/// The identity a token authenticates as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// `user.username`.
    pub username: String,
    /// `user.uid`.
    pub uid: String,
    /// `user.groups`.
    pub groups: Vec<String>,
    /// `user.extra`.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with a name, no uid and the `system:authenticated` group every real user gets.
    pub fn new(username: &str) -> Self {
        Self {
            username: username.to_owned(),
            uid: String::new(),
            groups: vec!["system:authenticated".to_owned()],
            extra: BTreeMap::new(),
        }
    }
}

/// One known token.
#[derive(Clone, Debug)]
pub(crate) struct TokenEntry {
    pub(crate) user: UserInfo,
    pub(crate) audiences: Vec<String>,
    pub(crate) expires_at: Option<SystemTime>,
}

/// The token table.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    map: HashMap<String, TokenEntry>,
}

impl Tokens {
    pub(crate) fn add(&mut self, token: &str, entry: TokenEntry) {
        self.map.insert(token.to_owned(), entry);
    }

    pub(crate) fn revoke(&mut self, token: &str) -> bool {
        self.map.remove(token).is_some()
    }

    /// Authenticates a token for a set of audiences: the user and the accepted audiences.
    pub(crate) fn authenticate(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<(UserInfo, Vec<String>), String> {
        let entry = self
            .map
            .get(token)
            .ok_or_else(|| "[invalid bearer token, token lookup failed]".to_owned())?;
        if entry.expires_at.is_some_and(|t| t <= SystemTime::now()) {
            return Err("[invalid bearer token, service account token has expired]".to_owned());
        }
        let accepted: Vec<String> = audiences
            .iter()
            .filter(|a| entry.audiences.contains(a))
            .cloned()
            .collect();
        if accepted.is_empty() {
            return Err("[invalid bearer token, token audiences is invalid]".to_owned());
        }
        Ok((entry.user.clone(), accepted))
    }
}

/// Answers a TokenReview. `api_audiences` are the server's own, used when the review names none.
pub(crate) fn token_review(
    tokens: &Tokens,
    api_audiences: &[String],
    mut review: TokenReview,
) -> TokenReview {
    let requested = review.spec.audiences.clone().unwrap_or_default();
    let audiences = if requested.is_empty() {
        api_audiences.to_vec()
    } else {
        requested
    };
    let token = review.spec.token.clone().unwrap_or_default();
    review.status = Some(match tokens.authenticate(&token, &audiences) {
        Ok((user, accepted)) => TokenReviewStatus {
            authenticated: Some(true),
            audiences: Some(accepted),
            user: Some(K8sUser {
                username: Some(user.username),
                uid: (!user.uid.is_empty()).then_some(user.uid),
                groups: Some(user.groups),
                extra: Some(user.extra),
            }),
            error: None,
        },
        Err(error) => TokenReviewStatus {
            authenticated: Some(false),
            audiences: None,
            user: Some(K8sUser::default()),
            error: Some(error),
        },
    });
    review
}

/// One rule of the fake authorizer. `"*"` matches anything in `subject`, `verb`, `group`,
/// `resource` and `subresource`; an empty `name` matches any name; `namespace: None` any namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRule {
    /// A username or a group name the requester must have.
    pub subject: String,
    /// The verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, …).
    pub verb: String,
    /// The API group (empty for core).
    pub group: String,
    /// The resource (plural).
    pub resource: String,
    /// The subresource (empty for the main resource).
    pub subresource: String,
    /// The object name; empty for any.
    pub name: String,
    /// The namespace; `None` for any (and for cluster-scoped resources).
    pub namespace: Option<String>,
}

impl AccessRule {
    /// A rule for `subject` to `verb` `resource` in `group`, any name, any namespace, main resource.
    pub fn new(subject: &str, verb: &str, group: &str, resource: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            subresource: String::new(),
            name: String::new(),
            namespace: None,
        }
    }

    /// Restricts the rule to a subresource (`"*"` for any).
    pub fn subresource(mut self, subresource: &str) -> Self {
        self.subresource = subresource.to_owned();
        self
    }

    /// Restricts the rule to one object name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Restricts the rule to one namespace.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }
}

/// The attributes of one access check.
#[derive(Clone, Debug, Default)]
pub(crate) struct Attributes<'a> {
    pub(crate) user: &'a str,
    pub(crate) groups: &'a [String],
    pub(crate) verb: &'a str,
    pub(crate) group: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) subresource: &'a str,
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
}

fn wild(rule: &str, value: &str) -> bool {
    rule == "*" || rule == value
}

/// Whether any rule allows the access.
pub(crate) fn allowed(rules: &[AccessRule], a: &Attributes<'_>) -> bool {
    rules.iter().any(|r| {
        (r.subject == "*" || r.subject == a.user || a.groups.contains(&r.subject))
            && wild(&r.verb, a.verb)
            && wild(&r.group, a.group)
            && wild(&r.resource, a.resource)
            && wild(&r.subresource, a.subresource)
            && (r.name.is_empty() || r.name == a.name)
            && r.namespace.as_ref().is_none_or(|ns| ns == a.namespace)
    })
}

/// Answers a SubjectAccessReview from the rules.
pub(crate) fn subject_access_review(
    rules: &[AccessRule],
    mut review: SubjectAccessReview,
) -> SubjectAccessReview {
    let spec = &review.spec;
    let user = spec.user.clone().unwrap_or_default();
    let groups = spec.groups.clone().unwrap_or_default();
    let allowed_now = match &spec.resource_attributes {
        Some(ra) => {
            let get = |v: &Option<String>| v.clone().unwrap_or_default();
            let (verb, group, resource, sub, name, ns) = (
                get(&ra.verb),
                get(&ra.group),
                get(&ra.resource),
                get(&ra.subresource),
                get(&ra.name),
                get(&ra.namespace),
            );
            allowed(
                rules,
                &Attributes {
                    user: &user,
                    groups: &groups,
                    verb: &verb,
                    group: &group,
                    resource: &resource,
                    subresource: &sub,
                    name: &name,
                    namespace: &ns,
                },
            )
        }
        // Non-resource URLs are not modelled: no rule grants them.
        None => false,
    };
    review.status = Some(SubjectAccessReviewStatus {
        allowed: allowed_now,
        denied: None,
        evaluation_error: None,
        reason: allowed_now.then(|| "allowed by fake-apiserver rule".to_owned()),
    });
    review
}
