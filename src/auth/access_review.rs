//! The optional authorization step (DESIGN §5, behind a flag): asks the API server whether an
//! authenticated identity may report for an informer, with a SubjectAccessReview for verb
//! `update` on `updateinformers/insights` (group `update.openshift.io`) named after the informer.
//! It lets RBAC, which administrators already audit, grant reporting rights, in addition to the
//! informer's own `spec.producers`.
//!
//! The review carries the identity as TokenReview gave it (user, uid, groups) and never a token.
//! Answers, allow and deny alike, are cached under an HMAC of (identity, informer) for a short
//! TTL (the kube-apiserver's delegated-authorization defaults are 10 s for both), and concurrent
//! identical questions share one review. A deny is cached too: unlike a token refusal it is a
//! settled RBAC answer, and an RBAC change shows within the TTL. Not cached: errors (the API
//! server unreachable, 5xx, 429, a timeout, an undecodable answer: all [`AuthError::Unavailable`],
//! which the route turns into 503), and answers that come with an `evaluationError` (the
//! authorizer was not sure; ask again next time).

use std::fmt;
use std::time::Duration;

use http::Method;
use k8s_openapi::api::authorization::v1::SubjectAccessReviewStatus;
use serde::Deserialize;

use super::apiserver::{CallError, DEFAULT_RETRY_AFTER, call};
use super::cache::{CacheKey, CacheKeyError, Memo};
use super::{AuthError, Identity};

/// Where SubjectAccessReviews are created.
pub const SUBJECT_ACCESS_REVIEWS_PATH: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

/// The API group of UpdateInformers.
pub const INSIGHTS_GROUP: &str = "update.openshift.io";

/// The resource reviewed.
pub const INSIGHTS_RESOURCE: &str = "updateinformers";

/// The subresource reviewed: reporting insights, not changing the informer itself.
pub const INSIGHTS_SUBRESOURCE: &str = "insights";

/// The verb reviewed.
pub const INSIGHTS_VERB: &str = "update";

/// The non-resource URL a scraper must be allowed to `get`.
pub const SCRAPE_PATH: &str = "/metrics";

/// The verb reviewed for scraping.
pub const SCRAPE_VERB: &str = "get";

/// How long an answer is kept unless configured otherwise (kube-apiserver's default).
pub const DEFAULT_ACCESS_REVIEW_TTL: Duration = Duration::from_secs(10);

/// The deadline of one review unless configured otherwise.
pub const DEFAULT_ACCESS_REVIEW_TIMEOUT: Duration = Duration::from_secs(5);

/// How the reviewer is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessReviewSettings {
    /// How long an allow or deny is kept (zero: never).
    pub ttl: Duration,
    /// The deadline of one review.
    pub timeout: Duration,
}

impl Default for AccessReviewSettings {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_ACCESS_REVIEW_TTL,
            timeout: DEFAULT_ACCESS_REVIEW_TIMEOUT,
        }
    }
}

/// Why a SubjectAccessReview produced no answer; becomes [`AuthError::Unavailable`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessReviewError {
    /// The API server could not be asked, or did not answer usefully.
    #[error("subjectaccessreview")]
    Call(#[from] CallError),
    /// The answer is not a SubjectAccessReview.
    #[error(
        "subjectaccessreview: the API server's answer does not decode (line {line}, column {column})"
    )]
    Decode {
        /// Line of the first error.
        line: usize,
        /// Column of the first error.
        column: usize,
    },
}

impl From<AccessReviewError> for AuthError {
    fn from(error: AccessReviewError) -> Self {
        AuthError::Unavailable {
            retry_after: match &error {
                AccessReviewError::Call(call) => call.retry_after(),
                AccessReviewError::Decode { .. } => DEFAULT_RETRY_AFTER,
            },
        }
    }
}

/// One answer, and whether it may be cached.
#[derive(Clone, Copy)]
struct Verdict {
    allowed: bool,
    settled: bool,
}

/// The part of a SubjectAccessReview answer that is read.
#[derive(Deserialize)]
struct ReviewAnswer {
    status: Option<SubjectAccessReviewStatus>,
}

/// Asks the API server whether identities may report for informers; see the module
/// documentation.
pub struct AccessReviewer {
    client: kube::Client,
    settings: AccessReviewSettings,
    memo: Memo<Verdict>,
}

impl fmt::Debug for AccessReviewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessReviewer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AccessReviewer {
    /// A reviewer asking the API server `client` talks to.
    pub fn new(
        client: kube::Client,
        settings: AccessReviewSettings,
    ) -> Result<Self, CacheKeyError> {
        Ok(Self {
            client,
            settings,
            memo: Memo::new()?,
        })
    }

    /// Whether `identity` may report for `informer`: `Ok(true)` allowed, `Ok(false)` denied
    /// (403), `Err` ([`AuthError::Unavailable`]) when the API server could not answer (503).
    pub async fn allows(&self, identity: &Identity, informer: &str) -> Result<bool, AuthError> {
        let attributes = serde_json::json!({
            "resourceAttributes": {
                "verb": INSIGHTS_VERB,
                "group": INSIGHTS_GROUP,
                "resource": INSIGHTS_RESOURCE,
                "subresource": INSIGHTS_SUBRESOURCE,
                "name": informer,
            },
        });
        self.decide(identity, informer, attributes).await
    }

    /// Whether `identity` may scrape `/metrics`: `get` on that non-resource URL, the question
    /// kube-rbac-proxy and library-go's delegating authorizer ask for every OpenShift component
    /// (the platform Prometheus' ClusterRole grants it). Answers as [`AccessReviewer::allows`].
    pub async fn allows_scrape(&self, identity: &Identity) -> Result<bool, AuthError> {
        let attributes = serde_json::json!({
            "nonResourceAttributes": {"path": SCRAPE_PATH, "verb": SCRAPE_VERB},
        });
        // No informer is named `/metrics` (names are DNS labels), so the keys never collide.
        self.decide(identity, SCRAPE_PATH, attributes).await
    }

    /// The cached answer to the question `attributes` asks about `identity`, keyed by `subject`.
    async fn decide(
        &self,
        identity: &Identity,
        subject: &str,
        attributes: serde_json::Value,
    ) -> Result<bool, AuthError> {
        let id = self.key(identity, subject);
        let ttl = self.settings.ttl;
        let verdict = self
            .memo
            .get_or_fetch(
                id,
                || async {
                    self.review(identity, attributes)
                        .await
                        .map_err(AuthError::from)
                },
                |verdict| if verdict.settled { ttl } else { Duration::ZERO },
            )
            .await?;
        Ok(verdict.allowed)
    }

    /// The cache key: every field of the question, length-prefixed, and the group count, so no
    /// two different questions share a key.
    fn key(&self, identity: &Identity, informer: &str) -> CacheKey {
        let groups = u64::try_from(identity.groups.len())
            .unwrap_or(u64::MAX)
            .to_be_bytes();
        let (has_uid, uid): (&[u8], &[u8]) = match &identity.uid {
            Some(uid) => (b"1", uid.as_bytes()),
            None => (b"0", b""),
        };
        let fields: [&[u8]; 5] = [
            informer.as_bytes(),
            identity.username.as_bytes(),
            has_uid,
            uid,
            &groups,
        ];
        let groups = identity.groups.iter().map(|g| g.as_bytes());
        self.memo.key_of(fields.into_iter().chain(groups))
    }

    async fn review(
        &self,
        identity: &Identity,
        attributes: serde_json::Value,
    ) -> Result<Verdict, AccessReviewError> {
        let mut spec = serde_json::json!({
            "user": identity.username,
            "uid": identity.uid,
            "groups": identity.groups,
        });
        if let (Some(spec), serde_json::Value::Object(attributes)) =
            (spec.as_object_mut(), attributes)
        {
            spec.extend(attributes);
        }
        let body = serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        })
        .to_string()
        .into_bytes();
        let answer = call(
            &self.client,
            Method::POST,
            SUBJECT_ACCESS_REVIEWS_PATH,
            Some(body),
            self.settings.timeout,
        )
        .await?;
        let answer: ReviewAnswer =
            serde_json::from_slice(&answer).map_err(|e| AccessReviewError::Decode {
                line: e.line(),
                column: e.column(),
            })?;
        // No status is no permission; `denied` overrides `allowed` (the API's contract).
        let Some(status) = answer.status else {
            return Ok(Verdict {
                allowed: false,
                settled: false,
            });
        };
        Ok(Verdict {
            allowed: status.allowed && status.denied != Some(true),
            settled: status
                .evaluation_error
                .as_deref()
                .unwrap_or_default()
                .is_empty(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::{Value, json};

    use super::*;
    use crate::auth::apiserver::mock::{MockApi, Recorded, Reply};

    fn identity() -> Identity {
        Identity {
            username: "system:serviceaccount:openshift-machine-config-operator:mco".to_owned(),
            uid: Some("2a3c1c1e-8f0b-4f0e-9a7e-0d9c4f0b1a2b".to_owned()),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                "system:serviceaccounts:openshift-machine-config-operator".to_owned(),
                "system:authenticated".to_owned(),
            ],
        }
    }

    fn answer(status: Value) -> Reply {
        Reply::Json(
            201,
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "status": status}),
        )
    }

    /// Allows `mco` only for the informer `machine-config`, as RBAC with `resourceNames` would.
    fn rbac(call: &Recorded) -> Reply {
        let spec = &call.json()["spec"];
        let allowed = spec["user"] == "system:serviceaccount:openshift-machine-config-operator:mco"
            && spec["resourceAttributes"]["name"] == "machine-config";
        answer(json!({"allowed": allowed}))
    }

    fn reviewer(
        reply: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> (AccessReviewer, MockApi) {
        let (client, api) = MockApi::new(reply);
        (
            AccessReviewer::new(client, AccessReviewSettings::default()).unwrap(),
            api,
        )
    }

    #[tokio::test]
    async fn asks_with_the_full_identity_and_the_informer() {
        let (reviewer, api) = reviewer(rbac);
        assert_eq!(
            reviewer.allows(&identity(), "machine-config").await,
            Ok(true)
        );
        let calls = api.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].method.as_str(), calls[0].path.as_str()),
            ("POST", SUBJECT_ACCESS_REVIEWS_PATH)
        );
        let body = calls[0].json();
        assert_eq!(body["kind"], "SubjectAccessReview");
        assert_eq!(body["apiVersion"], "authorization.k8s.io/v1");
        assert_eq!(
            body["spec"],
            json!({
                "user": "system:serviceaccount:openshift-machine-config-operator:mco",
                "uid": "2a3c1c1e-8f0b-4f0e-9a7e-0d9c4f0b1a2b",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:openshift-machine-config-operator", "system:authenticated"],
                "resourceAttributes": {
                    "verb": "update",
                    "group": "update.openshift.io",
                    "resource": "updateinformers",
                    "subresource": "insights",
                    "name": "machine-config",
                },
            })
        );
    }

    #[tokio::test]
    async fn a_scrape_asks_for_get_on_the_metrics_url_and_is_its_own_question() {
        // Allows the non-resource `get /metrics` only, as the platform Prometheus' role does.
        let (reviewer, api) = reviewer(|call| {
            let spec = &call.json()["spec"];
            answer(
                json!({"allowed": spec["nonResourceAttributes"] == json!({"path": "/metrics", "verb": "get"})
                && spec.get("resourceAttributes").is_none()}),
            )
        });
        for _ in 0..3 {
            assert_eq!(reviewer.allows_scrape(&identity()).await, Ok(true));
        }
        assert_eq!(api.count(SUBJECT_ACCESS_REVIEWS_PATH), 1, "cached");
        let body = api.calls()[0].json();
        assert_eq!(body["spec"]["user"], identity().username);
        assert_eq!(body["spec"]["groups"], json!(identity().groups));
        // Being allowed to scrape says nothing about reporting, and the other way round.
        assert_eq!(
            reviewer.allows(&identity(), "machine-config").await,
            Ok(false)
        );
        assert_eq!(api.count(SUBJECT_ACCESS_REVIEWS_PATH), 2);
    }

    #[tokio::test]
    async fn denies_another_informer_and_caches_both_answers() {
        let (reviewer, api) = reviewer(rbac);
        for _ in 0..20 {
            assert_eq!(
                reviewer.allows(&identity(), "machine-config").await,
                Ok(true)
            );
            assert_eq!(reviewer.allows(&identity(), "other").await, Ok(false));
        }
        assert_eq!(
            api.count(SUBJECT_ACCESS_REVIEWS_PATH),
            2,
            "one review per question within the TTL"
        );
        // Another identity is another question, even with the same username.
        let mut other_uid = identity();
        other_uid.uid = Some("00000000-0000-0000-0000-000000000000".to_owned());
        assert_eq!(
            reviewer.allows(&other_uid, "machine-config").await,
            Ok(true)
        );
        let mut fewer_groups = identity();
        fewer_groups.groups.pop();
        assert_eq!(
            reviewer.allows(&fewer_groups, "machine-config").await,
            Ok(true)
        );
        assert_eq!(api.count(SUBJECT_ACCESS_REVIEWS_PATH), 4);
    }

    #[tokio::test]
    async fn denied_overrides_allowed_and_a_missing_status_denies() {
        let (denied, _) = reviewer(|_| answer(json!({"allowed": true, "denied": true})));
        assert_eq!(
            denied.allows(&identity(), "machine-config").await,
            Ok(false)
        );
        let (no_status, _) = reviewer(|_| Reply::Json(201, json!({"kind": "SubjectAccessReview"})));
        assert_eq!(
            no_status.allows(&identity(), "machine-config").await,
            Ok(false)
        );
    }

    #[tokio::test]
    async fn an_answer_with_an_evaluation_error_is_not_cached() {
        let (reviewer, api) = reviewer(|_| {
            answer(json!({"allowed": false, "evaluationError": "webhook authorizer timed out"}))
        });
        assert_eq!(
            reviewer.allows(&identity(), "machine-config").await,
            Ok(false)
        );
        assert_eq!(
            reviewer.allows(&identity(), "machine-config").await,
            Ok(false)
        );
        assert_eq!(api.count(SUBJECT_ACCESS_REVIEWS_PATH), 2);
    }

    #[tokio::test]
    async fn errors_are_unavailable_and_not_cached() {
        let cases: Vec<(fn() -> Reply, Duration)> = vec![
            (|| Reply::Status(500, None), DEFAULT_RETRY_AFTER),
            (|| Reply::Status(429, Some("4")), Duration::from_secs(4)),
            (|| Reply::ConnectionError, DEFAULT_RETRY_AFTER),
            (
                || Reply::Json(201, json!(["not", "a", "review"])),
                DEFAULT_RETRY_AFTER,
            ),
        ];
        for (failure, retry_after) in cases {
            let calls = AtomicUsize::new(0);
            let (reviewer, api) = reviewer(move |call| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    failure()
                } else {
                    rbac(call)
                }
            });
            assert_eq!(
                reviewer.allows(&identity(), "machine-config").await,
                Err(AuthError::Unavailable { retry_after })
            );
            assert_eq!(
                reviewer.allows(&identity(), "machine-config").await,
                Ok(true)
            );
            assert_eq!(api.count(SUBJECT_ACCESS_REVIEWS_PATH), 2);
        }
        let (client, _) = MockApi::new(|_| Reply::Stall);
        let settings = AccessReviewSettings {
            timeout: Duration::from_millis(50),
            ..AccessReviewSettings::default()
        };
        let reviewer = AccessReviewer::new(client, settings).unwrap();
        assert_eq!(
            reviewer.allows(&identity(), "machine-config").await,
            Err(AuthError::Unavailable {
                retry_after: DEFAULT_RETRY_AFTER
            })
        );
    }

    #[tokio::test]
    async fn concurrent_identical_questions_share_one_review() {
        let (reviewer, api) =
            reviewer(|call| Reply::Slow(Duration::from_millis(100), Box::new(rbac(call))));
        let reviewer = Arc::new(reviewer);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..30 {
            let reviewer = Arc::clone(&reviewer);
            tasks.spawn(async move { reviewer.allows(&identity(), "machine-config").await });
        }
        while let Some(got) = tasks.join_next().await {
            assert_eq!(got.unwrap(), Ok(true));
        }
        assert_eq!(api.count(SUBJECT_ACCESS_REVIEWS_PATH), 1);
    }

    #[tokio::test]
    async fn a_zero_ttl_asks_every_time() {
        let (client, api) = MockApi::new(rbac);
        let settings = AccessReviewSettings {
            ttl: Duration::ZERO,
            ..AccessReviewSettings::default()
        };
        let reviewer = AccessReviewer::new(client, settings).unwrap();
        for _ in 0..3 {
            assert_eq!(
                reviewer.allows(&identity(), "machine-config").await,
                Ok(true)
            );
        }
        assert_eq!(api.count(SUBJECT_ACCESS_REVIEWS_PATH), 3);
    }
}
