//! `Status` error bodies, shaped as the real API server writes them.
//!
//! Clients (kube's `Error::Api`, client-go's `apierrors.IsConflict`, …) branch on `code` and `reason`,
//! so every failure here carries the reason string the real server uses for that situation, and the
//! message follows the real server's wording where a client or a person might read it.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::registry::ResourceDef;

/// A failed API request: what the server answers with a `Status` object.
///
/// Public because the direct object-access helpers of [`crate::FakeApiServer`] fail the same way
/// an HTTP request would (a conflict is a conflict whichever way it is reached).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    code: u16,
    reason: String,
    message: String,
    details: Option<Value>,
    retry_after: Option<u32>,
    list_continue: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// `details` for an error about one named object, as the real server fills it.
fn object_details(def: &ResourceDef, name: &str) -> Value {
    let mut details = json!({ "name": name, "kind": def.plural });
    if !def.group.is_empty() {
        details["group"] = json!(def.group);
    }
    details
}

impl ApiError {
    /// An error with an arbitrary code and reason; prefer the named constructors.
    pub fn new(code: u16, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            message: message.into(),
            details: None,
            retry_after: None,
            list_continue: None,
        }
    }

    /// The HTTP status code (`Status.code`).
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The machine-readable reason (`Status.reason`), e.g. `Conflict`.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The human-readable message (`Status.message`).
    pub fn message(&self) -> &str {
        &self.message
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 404 for a named object: `leases.coordination.k8s.io "x" not found`.
    pub fn not_found(def: &ResourceDef, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", def.qualified()),
        )
        .with_details(object_details(def, name))
    }

    /// 404 for a path that names no known resource: the real server's generic wording.
    pub fn unknown_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// 409 `AlreadyExists` for a create of a name that is taken.
    pub fn already_exists(def: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", def.qualified()),
        )
        .with_details(object_details(def, name))
    }

    /// 409 `Conflict` for a write whose `resourceVersion` precondition is stale.
    pub fn stale(def: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                def.qualified()
            ),
        )
        .with_details(object_details(def, name))
    }

    /// 409 `Conflict` for a failed precondition other than the resourceVersion (e.g. UID).
    pub fn precondition(def: &ResourceDef, name: &str, message: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {message}",
                def.qualified()
            ),
        )
        .with_details(object_details(def, name))
    }

    /// 409 `Conflict` from server-side apply, one `FieldManagerConflict` cause per field.
    pub fn apply_conflict(message: String, causes: Vec<Value>) -> Self {
        Self::new(409, "Conflict", message).with_details(json!({ "causes": causes }))
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 422 `Invalid` for a request whose content breaks a validation rule.
    pub fn invalid(kind_group: &str, name: &str, field: &str, message: &str) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{kind_group} \"{name}\" is invalid: {field}: {message}"),
        )
        .with_details(json!({
            "name": name,
            "kind": kind_group,
            "causes": [{ "reason": "FieldValueInvalid", "message": message, "field": field }],
        }))
    }

    /// 410 `Expired`: a resourceVersion or continue token older than the kept history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 410 `Expired` for a list continuation, carrying a fresh (inconsistent) continue token as
    /// the real server does.
    pub fn expired_continue(next: Option<String>) -> Self {
        let mut err = Self::expired(
            "The provided continue parameter is too old to display a consistent list result. You \
             can start a new list without the continue parameter, or use the continue token in \
             this response to retrieve the remainder of the results. Continuing with the provided \
             token results in an inconsistent list - objects that were created, modified, or \
             deleted between the time the first chunk was returned and now may show up in the \
             list.",
        );
        err.list_continue = next;
        err
    }

    /// 429 `TooManyRequests` with `Retry-After`.
    pub fn too_many_requests(retry_after: u32) -> Self {
        let mut err = Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        )
        .with_details(json!({ "retryAfterSeconds": retry_after }));
        err.retry_after = Some(retry_after);
        err
    }

    /// 500 `InternalError`.
    pub fn internal(message: &str) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(json!({ "causes": [{ "message": message }] }))
    }

    /// 401: the bearer token is missing or unknown.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 for a request the authorizer refused, worded as RBAC words it.
    pub fn forbidden(
        user: &str,
        verb: &str,
        def: &ResourceDef,
        name: Option<&str>,
        namespace: Option<&str>,
    ) -> Self {
        let subject = match name {
            Some(name) => format!("{} \"{name}\"", def.qualified()),
            None => def.qualified(),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_owned(),
        };
        Self::new(
            403,
            "Forbidden",
            format!(
                "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API \
                 group \"{}\" {scope}",
                def.plural, def.group
            ),
        )
        .with_details(object_details(def, name.unwrap_or_default()))
    }

    /// 403 for a request outside any resource (an endpoint the caller may not use).
    pub fn forbidden_path(user: &str, verb: &str, path: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\""),
        )
    }

    /// 405 for a verb the resource does not serve.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    /// 415 for a patch type the resource does not accept.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"
            ),
        )
    }

    /// 413 for a body over the configured limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 504 for a resourceVersion newer than the store has reached.
    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        Self::new(
            504,
            "Timeout",
            format!("Too large resource version: {requested}, current: {current}"),
        )
        .with_details(json!({
            "causes": [{ "reason": "ResourceVersionTooLarge", "message": "Too large resource version" }],
            "retryAfterSeconds": 1,
        }))
    }

    /// An injected fault of the given code, with the reason the real server uses for that code.
    pub fn injected(code: u16) -> Self {
        match code {
            429 => Self::too_many_requests(1),
            500 => Self::internal("injected fault"),
            503 => Self::new(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            504 => Self::new(
                504,
                "Timeout",
                "the server was unable to return a response in the time allotted",
            ),
            409 => Self::new(409, "Conflict", "injected conflict"),
            403 => Self::new(403, "Forbidden", "injected forbidden"),
            404 => Self::unknown_path(),
            401 => Self::unauthorized(),
            400 => Self::bad_request("injected bad request"),
            other => Self::new(other, "Unknown", format!("injected fault {other}")),
        }
    }

    /// The `Status` object, as JSON.
    pub fn to_status(&self) -> Value {
        let mut metadata = json!({});
        if let Some(token) = &self.list_continue {
            metadata["continue"] = json!(token);
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": metadata,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }

    /// The HTTP response: the status code, JSON `Status` body and `Retry-After` where it applies.
    pub(crate) fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = json_response(code, &self.to_status());
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A JSON response with the given status.
pub(crate) fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
