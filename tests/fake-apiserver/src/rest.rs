//! The REST verbs on resources: list, watch, get, create, update, patch, apply, delete.
//!
//! Paths are `/api/v1/...` and `/apis/GROUP/VERSION/...`, then `[namespaces/NS/]PLURAL[/NAME[/status]]`.
//! Each verb follows the real server where a client can tell the difference: status codes and
//! reasons, preconditions, what a write to the main resource or to `/status` may change, when
//! `generation` moves, pagination and resourceVersion semantics of lists, and server-side apply.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::apply::{self, Scope};
use crate::crd;
use crate::meta::{self, SERVER_FIELDS};
use crate::output;
pub(crate) use crate::output::Output;
use crate::registry::{Registry, ResourceDef};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::{Shared, lock};
use crate::status::{ApiError, json_response};
use crate::store::{HistoryError, Mutation, ObjKey};
use crate::watch::{self, Start, WatchSpec};

/// A request's query parameters (the last value of a repeated key wins).
#[derive(Clone, Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).map(|v| v == "true" || v == "1")
    }
}

/// The resource a path addresses.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) def: ResourceDef,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) status: bool,
}

/// Resolves a resource path; `None` when it names nothing served (a 404).
pub(crate) fn parse_path(registry: &Registry, path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (def, namespace, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if registry
                .lookup(group, version, plural)
                .is_some_and(|d| d.namespaced) =>
        {
            (
                registry.lookup(group, version, plural)?,
                Some((*ns).to_owned()),
                tail,
            )
        }
        [plural, tail @ ..] => (registry.lookup(group, version, plural)?, None, tail),
        [] => return None,
    };
    let (name, status) = match tail {
        [] => (None, false),
        [name] => (Some((*name).to_owned()), false),
        [name, "status"] if def.has_status => (Some((*name).to_owned()), true),
        _ => return None,
    };
    // A namespaced object is only reachable inside its namespace (collections may span all).
    if def.namespaced && namespace.is_none() && name.is_some() {
        return None;
    }
    Some(Target {
        def: def.clone(),
        namespace,
        name,
        status,
    })
}

/// The Kubernetes verb of a request.
pub(crate) fn verb(method: &Method, target: Option<&Target>, params: &Params) -> String {
    let Some(target) = target else {
        return method.as_str().to_ascii_lowercase();
    };
    let named = target.name.is_some();
    match *method {
        Method::GET if named => "get",
        Method::GET if params.flag("watch") == Some(true) => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
    .to_owned()
}

/// The context of one resource request.
pub(crate) struct Call<'a> {
    pub(crate) shared: &'a Arc<Shared>,
    pub(crate) method: &'a Method,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) params: &'a Params,
    pub(crate) target: Target,
    pub(crate) body: Bytes,
    /// How objects in the response are shaped; negotiated by [`handle`] from `Accept`.
    pub(crate) output: Output,
}

impl Call<'_> {
    fn key(&self) -> ObjKey {
        (
            self.target.namespace.clone().unwrap_or_default(),
            self.target.name.clone().unwrap_or_default(),
        )
    }

    fn def(&self) -> &ResourceDef {
        &self.target.def
    }

    fn dry_run(&self) -> bool {
        self.params.get("dryRun") == Some("All")
    }

    /// The field manager of a non-apply write: `fieldManager`, else the printable part of the user
    /// agent up to the first `/` (empty without one), as the real server derives it.
    fn manager(&self) -> String {
        if let Some(m) = self.params.get("fieldManager").filter(|m| !m.is_empty()) {
            return m.to_owned();
        }
        self.headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .collect()
    }

    fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        let value: Value = serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): {e}",
                self.def().kind
            ))
        })?;
        if !value.is_object() {
            return Err(ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {})",
                self.def().kind
            )));
        }
        Ok(value)
    }
}

/// Serves one resource request.
pub(crate) fn handle(mut call: Call<'_>, verb: &str) -> Result<Response, ApiError> {
    // Negotiated first: a client that accepts nothing the server can write gets 406 before the
    // verb runs, as from the real server.
    call.output = output::negotiate(
        call.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    )?;
    check_field_manager(call.params)?;
    match verb {
        "list" => list(&call),
        "watch" => watch(&call),
        "get" => get(&call),
        "create" if call.target.name.is_none() => create(&call),
        "update" | "patch" if call.target.name.is_none() => {
            Err(ApiError::method_not_allowed(call.method.as_str()))
        }
        "update" => update(&call),
        "patch" => patch(&call),
        "delete" => delete(&call),
        "deletecollection" => delete_collection(&call),
        _ => Err(ApiError::method_not_allowed(call.method.as_str())),
    }
}

fn check_field_manager(params: &Params) -> Result<(), ApiError> {
    if let Some(m) = params.get("fieldManager")
        && (m.len() > 128 || m.chars().any(|c| c.is_control()))
    {
        return Err(ApiError::invalid(
            "PatchOptions.meta.k8s.io",
            "",
            "fieldManager",
            "Too long: may not be more than 128 bytes",
        ));
    }
    Ok(())
}

/// A JSON response with the object, shaped as the request's `Accept` header asked.
fn object_response(
    call: &Call<'_>,
    code: StatusCode,
    object: &Value,
) -> Result<Response, ApiError> {
    Ok(json_response(code, &call.output.object(object)?))
}

fn invalid_options(kind: &str, field: &str, message: &str) -> ApiError {
    ApiError::invalid(&format!("{kind}.meta.k8s.io"), "", field, message)
}

fn parse_rv(rv: &str) -> Result<u64, ApiError> {
    rv.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))
}

/// The objects of a list or watch, filtered by namespace and selectors.
struct Filter {
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn new(call: &Call<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            namespace: call.target.namespace.clone(),
            labels: LabelSelector::parse(call.params.get("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(call.params.get("fieldSelector").unwrap_or_default())?,
        })
    }

    fn keeps(&self, key: &ObjKey, object: &Value) -> bool {
        self.namespace.as_ref().is_none_or(|ns| *ns == key.0)
            && self.labels.matches(object)
            && self.fields.matches(object)
    }
}

fn encode_continue(rv: u64, key: &ObjKey) -> String {
    let start = if key.0.is_empty() {
        format!("{}\u{0}", key.1)
    } else {
        format!("{}/{}\u{0}", key.0, key.1)
    };
    let token = json!({ "v": "meta.k8s.io/v1", "rv": rv, "start": start });
    URL_SAFE_NO_PAD.encode(token.to_string())
}

/// Decodes a continue token into (resourceVersion, last key); rv 0 means "latest".
fn decode_continue(token: &str) -> Result<(u64, ObjKey), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if value.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad());
    }
    let rv = value.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = value
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .trim_end_matches('\u{0}');
    let key = match start.split_once('/') {
        Some((ns, name)) => (ns.to_owned(), name.to_owned()),
        None => (String::new(), start.to_owned()),
    };
    Ok((u64::try_from(rv).unwrap_or(0), key))
}

/// The object as a list item: built-in types' items carry no kind/apiVersion.
fn list_item(def: &ResourceDef, object: &Value) -> Value {
    let mut item = object.clone();
    if def.builtin
        && let Some(map) = item.as_object_mut()
    {
        map.remove("kind");
        map.remove("apiVersion");
    }
    item
}

fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    let p = call.params;
    let store = &call.shared.store;
    let resource = call.def().store_key();
    let filter = Filter::new(call)?;
    let rv = p.get("resourceVersion").filter(|s| !s.is_empty());
    let rvm = p.get("resourceVersionMatch").filter(|s| !s.is_empty());
    let cont = p.get("continue").filter(|s| !s.is_empty());
    if let Some(m) = rvm {
        if rv.is_none() {
            return Err(invalid_options(
                "ListOptions",
                "resourceVersionMatch",
                "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if cont.is_some() {
            return Err(invalid_options(
                "ListOptions",
                "resourceVersionMatch",
                "Forbidden: resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if m != "Exact" && m != "NotOlderThan" {
            return Err(invalid_options(
                "ListOptions",
                "resourceVersionMatch",
                &format!(
                    "Unsupported value: \"{m}\": supported values: \"Exact\", \"NotOlderThan\", \"\""
                ),
            ));
        }
        if m == "Exact" && rv == Some("0") {
            return Err(invalid_options(
                "ListOptions",
                "resourceVersionMatch",
                "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if p.get("sendInitialEvents").is_some() {
        return Err(invalid_options(
            "ListOptions",
            "sendInitialEvents",
            "Forbidden: sendInitialEvents is forbidden for list",
        ));
    }
    let limit = match p.get("limit") {
        Some(l) => l
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        None => 0,
    };
    if cont.is_some() && rv.is_some() {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }

    // Which state to list: (resourceVersion of the list, objects, key to start after).
    let (list_rv, items, start) = if let Some(token) = cont {
        let (token_rv, start) = decode_continue(token)?;
        if token_rv == 0 {
            let (rv, items) = store.current(&resource);
            (rv, items, Some(start))
        } else {
            match store.snapshot(&resource, token_rv) {
                Ok(items) => (token_rv, items, Some(start)),
                Err(_) => return Err(ApiError::expired_continue(Some(encode_continue(0, &start)))),
            }
        }
    } else {
        let exact = match (rv, rvm) {
            (None | Some("0"), _) => None,
            (Some(r), Some("Exact")) => Some(parse_rv(r)?),
            (Some(r), None) if limit > 0 => Some(parse_rv(r)?),
            (Some(r), _) => {
                let wanted = parse_rv(r)?;
                let current = store.current_rv();
                if wanted > current {
                    return Err(ApiError::too_large_resource_version(wanted, current));
                }
                None
            }
        };
        match exact {
            None => {
                let (rv, items) = store.current(&resource);
                (rv, items, None)
            }
            Some(at) => match store.snapshot(&resource, at) {
                Ok(items) => (at, items, None),
                Err(HistoryError::TooOld(floor)) => {
                    return Err(ApiError::expired(format!(
                        "too old resource version: {at} ({floor})"
                    )));
                }
                Err(HistoryError::TooNew(current)) => {
                    return Err(ApiError::too_large_resource_version(at, current));
                }
            },
        }
    };

    let selected: Vec<(ObjKey, Arc<Value>)> = items
        .into_iter()
        .filter(|(k, _)| start.as_ref().is_none_or(|s| k > s))
        .filter(|(k, o)| filter.keeps(k, o))
        .collect();
    let total = selected.len();
    let take = if limit == 0 {
        total
    } else {
        usize::try_from(limit).unwrap_or(usize::MAX).min(total)
    };
    let mut metadata = json!({ "resourceVersion": list_rv.to_string() });
    if take < total
        && let Some((last, _)) = selected.get(take.saturating_sub(1))
    {
        metadata["continue"] = json!(encode_continue(list_rv, last));
        if filter.labels.is_empty() && filter.fields.is_empty() {
            metadata["remainingItemCount"] = json!(total - take);
        }
    }
    let items: Vec<Value> = selected
        .iter()
        .take(take)
        .map(|(_, o)| list_item(call.def(), o))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &call.output.list(json!({
            "kind": call.def().list_kind(),
            "apiVersion": call.def().api_version(),
            "metadata": metadata,
            "items": items,
        }))?,
    ))
}

fn watch(call: &Call<'_>) -> Result<Response, ApiError> {
    let p = call.params;
    let filter = Filter::new(call)?;
    let rv = p.get("resourceVersion").filter(|s| !s.is_empty());
    let rvm = p.get("resourceVersionMatch").filter(|s| !s.is_empty());
    let send_initial = p.flag("sendInitialEvents");
    if send_initial.is_some() && rvm != Some("NotOlderThan") {
        return Err(invalid_options(
            "ListOptions",
            "resourceVersionMatch",
            "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    if let Some(m) = rvm {
        if send_initial.is_none() {
            return Err(invalid_options(
                "ListOptions",
                "resourceVersionMatch",
                "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        if m != "NotOlderThan" {
            return Err(invalid_options(
                "ListOptions",
                "resourceVersionMatch",
                &format!("Unsupported value: \"{m}\": supported values: \"NotOlderThan\""),
            ));
        }
    }
    let store = &call.shared.store;
    let start = match (send_initial, rv) {
        (Some(true), Some(r)) if r != "0" => {
            let wanted = parse_rv(r)?;
            let current = store.current_rv();
            if wanted > current {
                return Err(ApiError::too_large_resource_version(wanted, current));
            }
            Start::CurrentState
        }
        (Some(true), _) => Start::CurrentState,
        (Some(false), None | Some("0")) => Start::From(store.current_rv()),
        (_, None | Some("0")) => Start::CurrentState,
        (_, Some(r)) => Start::From(parse_rv(r)?),
    };
    let timeout = match p.get("timeoutSeconds") {
        Some(t) => std::time::Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t}")))?,
        ),
        // The real server picks 30–60 minutes when the client names no timeout.
        None => std::time::Duration::from_secs(1800),
    };
    let spec = WatchSpec {
        def: call.def().clone(),
        namespace: filter.namespace,
        labels: filter.labels,
        fields: filter.fields,
        start,
        bookmarks: p.flag("allowWatchBookmarks") == Some(true),
        initial_events_end: send_initial == Some(true),
        timeout,
        bookmark_interval: call.shared.config.bookmark_interval,
        output: call.output,
    };
    let close = lock(&call.shared.watches).clone();
    let body = watch::open(store.clone(), spec, close);
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(response)
}

fn get(call: &Call<'_>) -> Result<Response, ApiError> {
    let key = call.key();
    match call.shared.store.get(&call.def().store_key(), &key) {
        Some(object) => object_response(call, StatusCode::OK, &object),
        None => Err(ApiError::not_found(call.def(), &key.1)),
    }
}

/// Checks `apiVersion`/`kind` of a body against the resource (absent is accepted, as the real
/// server defaults them from the URL).
fn check_type(def: &ResourceDef, body: &Value) -> Result<(), ApiError> {
    if let Some(v) = body.get("apiVersion").and_then(Value::as_str)
        && v != def.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({v}) does not match the expected API version ({})",
            def.api_version()
        )));
    }
    if let Some(k) = body.get("kind").and_then(Value::as_str)
        && k != def.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            def.kind
        )));
    }
    Ok(())
}

fn check_namespace(call: &Call<'_>, body: &Value) -> Result<(), ApiError> {
    if !call.def().namespaced {
        return Ok(());
    }
    if let (Some(body_ns), Some(url_ns)) =
        (meta::meta_str(body, "namespace"), &call.target.namespace)
        && !body_ns.is_empty()
        && body_ns != url_ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

/// The body with server-owned metadata removed and type and location filled from the URL.
fn normalize(def: &ResourceDef, namespace: Option<&str>, mut body: Value) -> Value {
    body["apiVersion"] = json!(def.api_version());
    body["kind"] = json!(def.kind);
    if !body.get("metadata").is_some_and(Value::is_object) {
        body["metadata"] = json!({});
    }
    if let Some(meta) = body["metadata"].as_object_mut() {
        for field in SERVER_FIELDS {
            meta.remove(field);
        }
        meta.remove("selfLink");
        match namespace {
            Some(ns) if def.namespaced => {
                meta.insert("namespace".to_owned(), json!(ns));
            }
            _ => {
                meta.remove("namespace");
            }
        }
    }
    body
}

/// Copies the server-owned metadata of `from` into `to`.
fn keep_server_fields(from: &Value, to: &mut Value) {
    let Some(source) = from.get("metadata").and_then(Value::as_object) else {
        return;
    };
    if let Some(meta) = to.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in SERVER_FIELDS {
            match source.get(field) {
                Some(v) => meta.insert(field.to_owned(), v.clone()),
                None => meta.remove(field),
            };
        }
    }
}

/// Prunes by the CRD schema, when the resource has one.
fn prune(def: &ResourceDef, object: &mut Value) {
    if let Some(schema) = &def.schema {
        crd::prune(object, schema, true);
    }
}

/// The part of an object whose change bumps `generation`: all but metadata (and status, when
/// status is a subresource).
fn spec_part(def: &ResourceDef, object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("apiVersion");
        map.remove("kind");
        if def.has_status {
            map.remove("status");
        }
    }
    copy
}

/// Equality of two stored objects, ignoring the resourceVersion (for no-op detection).
fn same_object(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut c = v.clone();
        if let Some(meta) = c.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
        }
        c
    };
    strip(a) == strip(b)
}

/// Finishes an update of an existing object: generation, ownership, finalization; decides whether
/// anything changed at all.
fn finish_update(
    def: &ResourceDef,
    scope: Scope,
    current: &Value,
    mut new: Value,
    manager: &str,
) -> Mutation {
    prune(def, &mut new);
    let generation = current
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if spec_part(def, current) != spec_part(def, &new) {
        new["metadata"]["generation"] = json!(generation + 1);
    }
    apply::record_update(def, scope, Some(current), &mut new, manager, &meta::now());
    finalize(current, new)
}

/// An object being deleted goes once its last finalizer is removed.
fn finalize(current: &Value, new: Value) -> Mutation {
    let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
    let finalizers_left = new
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if deleting && !finalizers_left {
        Mutation::Delete
    } else if same_object(current, &new) {
        Mutation::Unchanged
    } else {
        Mutation::Put(new)
    }
}

/// Fills the metadata of an object about to be created.
fn init_created(def: &ResourceDef, object: &mut Value) {
    object["metadata"]["uid"] = json!(meta::new_uid());
    object["metadata"]["creationTimestamp"] = json!(meta::now());
    object["metadata"]["generation"] = json!(1);
    if def.has_status && def.group.is_empty() && def.plural == "namespaces" {
        object["status"] = json!({ "phase": "Active" });
    } else if def.has_status
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
}

fn require_namespace(call: &Call<'_>) -> Result<(), ApiError> {
    if let Some(ns) = &call.target.namespace
        && !call.shared.store.namespace_exists(ns)
    {
        let namespaces = ResourceDef::new("", "v1", "namespaces", "Namespace");
        return Err(ApiError::not_found(&namespaces, ns));
    }
    Ok(())
}

fn create(call: &Call<'_>) -> Result<Response, ApiError> {
    let def = call.def().clone();
    let body = call.json_body()?;
    check_type(&def, &body)?;
    check_namespace(call, &body)?;
    if def.namespaced && call.target.namespace.is_none() {
        return Err(ApiError::unknown_path());
    }
    require_namespace(call)?;
    let mut object = normalize(&def, call.target.namespace.as_deref(), body);
    init_created(&def, &mut object);
    prune(&def, &mut object);
    let manager = call.manager();
    apply::record_update(&def, Scope::Main, None, &mut object, &manager, &meta::now());
    let fixed_name = meta::meta_str(&object, "name")
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let generate = meta::meta_str(&object, "generateName").map(str::to_owned);
    let kind_group = format!("{}.{}", def.kind, def.group)
        .trim_end_matches('.')
        .to_owned();
    // generateName collisions are retried, as the real server does since 1.31.
    let attempts = if fixed_name.is_some() { 1 } else { 8 };
    let mut last_err = None;
    for _ in 0..attempts {
        let name = match (&fixed_name, &generate) {
            (Some(n), _) => n.clone(),
            (None, Some(prefix)) => format!("{prefix}{}", meta::name_suffix()),
            (None, None) => {
                return Err(ApiError::invalid(
                    &kind_group,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            }
        };
        if !meta::valid_name(&name) {
            return Err(ApiError::invalid(
                &kind_group,
                &name,
                "metadata.name",
                &format!("Invalid value: \"{name}\": a name may not contain '/' or '%'"),
            ));
        }
        object["metadata"]["name"] = json!(name);
        let key = (
            call.target.namespace.clone().unwrap_or_default(),
            name.clone(),
        );
        if call.dry_run() {
            if call.shared.store.get(&def.store_key(), &key).is_some() {
                return Err(ApiError::already_exists(&def, &name));
            }
            return object_response(call, StatusCode::CREATED, &object);
        }
        let candidate = object.clone();
        let result = call
            .shared
            .store
            .mutate(&def.store_key(), &key, |current, _| {
                if current.is_some() {
                    return Err(ApiError::already_exists(&def, &name));
                }
                Ok(Mutation::Put(candidate))
            });
        match result {
            Ok(written) => return object_response(call, StatusCode::CREATED, &written.object),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| ApiError::internal("create failed")))
}

fn check_preconditions(
    def: &ResourceDef,
    name: &str,
    current: &Value,
    rv: Option<&str>,
    uid: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(rv) = rv.filter(|r| !r.is_empty())
        && Some(rv) != meta::meta_str(current, "resourceVersion")
    {
        return Err(ApiError::stale(def, name));
    }
    if let Some(uid) = uid.filter(|u| !u.is_empty())
        && Some(uid) != meta::meta_str(current, "uid")
    {
        return Err(ApiError::precondition(
            def,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::meta_str(current, "uid").unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Builds the object a full-object write (PUT, or a patch result) stores.
fn replaced(def: &ResourceDef, scope: Scope, current: &Value, incoming: Value) -> Value {
    match scope {
        Scope::Status => {
            let mut new = current.clone();
            match incoming.get("status") {
                Some(status) => new["status"] = status.clone(),
                None => {
                    if let Some(map) = new.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
            new
        }
        Scope::Main => {
            let mut new = incoming;
            keep_server_fields(current, &mut new);
            if def.has_status {
                match current.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        if let Some(map) = new.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
            }
            new
        }
    }
}

fn scope_of(target: &Target) -> Scope {
    if target.status {
        Scope::Status
    } else {
        Scope::Main
    }
}

/// Runs an update-like write (PUT or a non-apply patch) through the store.
fn write_existing<F>(call: &Call<'_>, build: F) -> Result<Response, ApiError>
where
    F: FnOnce(&Value) -> Result<Value, ApiError>,
{
    let def = call.def().clone();
    let key = call.key();
    let scope = scope_of(&call.target);
    let manager = call.manager();
    let dry_run = call.dry_run();
    let mut preview = None;
    let written = call
        .shared
        .store
        .mutate(&def.store_key(), &key, |current, _| {
            let Some(current) = current else {
                return Err(ApiError::not_found(&def, &key.1));
            };
            let incoming = build(current)?;
            check_preconditions(
                &def,
                &key.1,
                current,
                meta::meta_str(&incoming, "resourceVersion"),
                meta::meta_str(&incoming, "uid"),
            )?;
            let incoming = normalize(&def, call.target.namespace.as_deref(), incoming);
            let new = replaced(&def, scope, current, incoming);
            let mutation = finish_update(&def, scope, current, new, &manager);
            if dry_run {
                preview = Some(match &mutation {
                    Mutation::Put(v) => v.clone(),
                    _ => (**current).clone(),
                });
                return Ok(Mutation::Unchanged);
            }
            Ok(mutation)
        })?;
    match preview {
        Some(object) => object_response(call, StatusCode::OK, &object),
        None => object_response(call, StatusCode::OK, &written.object),
    }
}

fn update(call: &Call<'_>) -> Result<Response, ApiError> {
    let body = call.json_body()?;
    check_type(call.def(), &body)?;
    check_namespace(call, &body)?;
    let url_name = call.target.name.clone().unwrap_or_default();
    let body_name = meta::meta_str(&body, "name").unwrap_or_default().to_owned();
    if body_name != url_name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
        )));
    }
    write_existing(call, |_| Ok(body))
}

fn patch(call: &Call<'_>) -> Result<Response, ApiError> {
    let content_type = call.content_type();
    let is_apply = content_type == "application/apply-patch+yaml";
    if is_apply {
        if call.params.get("fieldManager").is_none_or(str::is_empty) {
            return Err(ApiError::invalid(
                "PatchOptions.meta.k8s.io",
                "",
                "fieldManager",
                "Required value: is required for apply patch",
            ));
        }
        return apply_patch(call);
    }
    if call.params.get("force").is_some() {
        return Err(ApiError::invalid(
            "PatchOptions.meta.k8s.io",
            "",
            "force",
            "Forbidden: may not be specified for non-apply patch",
        ));
    }
    let body = call.body.clone();
    let kind_group = format!("{}.{}", call.def().kind, call.def().group)
        .trim_end_matches('.')
        .to_owned();
    let name = call.target.name.clone().unwrap_or_default();
    let invalid = move |e: String| ApiError::invalid(&kind_group, &name, "patch", &e);
    match content_type.as_str() {
        "application/merge-patch+json" => {}
        // Built-in types also take strategic merge patches; their list strategies are not modelled.
        "application/strategic-merge-patch+json" if call.def().builtin => {}
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            return write_existing(call, |current| {
                let mut doc = current.clone();
                json_patch::patch(&mut doc, &ops).map_err(|e| invalid(e.to_string()))?;
                Ok(doc)
            });
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    }
    let merge: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid merge patch: {e}")))?;
    if !merge.is_object() {
        return Err(ApiError::bad_request("a merge patch must be a JSON object"));
    }
    write_existing(call, |current| {
        let mut doc = current.clone();
        json_patch::merge(&mut doc, &merge);
        Ok(doc)
    })
}

fn apply_patch(call: &Call<'_>) -> Result<Response, ApiError> {
    let def = call.def().clone();
    let text = std::str::from_utf8(&call.body)
        .map_err(|_| ApiError::bad_request("apply configuration is not UTF-8"))?;
    let mut applied: Value = serde_saphyr::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "apply configuration must be an object",
        ));
    }
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = applied
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "invalid object type: {api_version}, Kind={kind}"
        )));
    }
    check_type(&def, &applied)?;
    check_namespace(call, &applied)?;
    let url_name = call.target.name.clone().unwrap_or_default();
    if let Some(body_name) = meta::meta_str(&applied, "name")
        && body_name != url_name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
        )));
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let precondition_rv = meta::meta_str(&applied, "resourceVersion").map(str::to_owned);
    let precondition_uid = meta::meta_str(&applied, "uid").map(str::to_owned);
    apply::strip_nulls(&mut applied);
    let scope = scope_of(&call.target);
    let manager = call
        .params
        .get("fieldManager")
        .unwrap_or_default()
        .to_owned();
    let force = call.params.flag("force") == Some(true);
    let key = call.key();
    if call.target.namespace.is_some() && call.shared.store.get(&def.store_key(), &key).is_none() {
        require_namespace(call)?;
    }
    let dry_run = call.dry_run();
    let mut preview = None;
    let now = meta::now();
    let written = call
        .shared
        .store
        .mutate(&def.store_key(), &key, |current, _| {
            let Some(current) = current else {
                // Subresources never create (the real server passes forceAllowCreate=false).
                if scope == Scope::Status {
                    return Err(ApiError::not_found(&def, &key.1));
                }
                let mut base = normalize(
                    &def,
                    call.target.namespace.as_deref(),
                    json!({ "metadata": { "name": key.1 } }),
                );
                init_created(&def, &mut base);
                let mut object = apply::apply(&def, scope, &base, &applied, &manager, force, &now)?;
                prune(&def, &mut object);
                if dry_run {
                    preview = Some((object, true));
                    return Ok(Mutation::Unchanged);
                }
                return Ok(Mutation::Put(object));
            };
            check_preconditions(
                &def,
                &key.1,
                current,
                precondition_rv.as_deref(),
                precondition_uid.as_deref(),
            )?;
            let mut object = apply::apply(&def, scope, current, &applied, &manager, force, &now)?;
            prune(&def, &mut object);
            let generation = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if spec_part(&def, current) != spec_part(&def, &object) {
                object["metadata"]["generation"] = json!(generation + 1);
            }
            let mutation = finalize(current, object);
            if dry_run {
                preview = Some((
                    match &mutation {
                        Mutation::Put(v) => v.clone(),
                        _ => (**current).clone(),
                    },
                    false,
                ));
                return Ok(Mutation::Unchanged);
            }
            Ok(mutation)
        });
    match (preview, written) {
        (Some((object, created)), _) => {
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            object_response(call, code, &object)
        }
        // A dry-run create "fails" in the store (nothing to leave unchanged): answer the preview.
        (None, Ok(written)) => {
            let code = if written.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            object_response(call, code, &written.object)
        }
        (None, Err(e)) => Err(e),
    }
}

/// Parses DeleteOptions from a delete's body (kube always sends one; it may be empty).
fn delete_options(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))
}

/// Deletes one object: removed at once, or marked for deletion while finalizers remain.
fn delete_one(
    shared: &Shared,
    def: &ResourceDef,
    key: &ObjKey,
    options: &Value,
    dry_run: bool,
) -> Result<Arc<Value>, ApiError> {
    let rv = options
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str);
    let uid = options
        .pointer("/preconditions/uid")
        .and_then(Value::as_str);
    let mut preview = None;
    let written = shared.store.mutate(&def.store_key(), key, |current, _| {
        let Some(current) = current else {
            return Err(ApiError::not_found(def, &key.1));
        };
        if let Some(rv) = rv.filter(|r| !r.is_empty())
            && Some(rv) != meta::meta_str(current, "resourceVersion")
        {
            return Err(ApiError::precondition(
                def,
                &key.1,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta::meta_str(current, "resourceVersion").unwrap_or_default()
                ),
            ));
        }
        check_preconditions(def, &key.1, current, None, uid)?;
        if dry_run {
            preview = Some(current.clone());
            return Ok(Mutation::Unchanged);
        }
        let has_finalizers = current
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if current.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(Mutation::Unchanged);
            }
            let mut marked = (**current).clone();
            marked["metadata"]["deletionTimestamp"] = json!(meta::now());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            return Ok(Mutation::Put(marked));
        }
        Ok(Mutation::Delete)
    })?;
    Ok(preview.unwrap_or(written.object))
}

fn delete(call: &Call<'_>) -> Result<Response, ApiError> {
    let options = delete_options(&call.body)?;
    let dry_run = call.dry_run()
        || options
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    let object = delete_one(call.shared, call.def(), &call.key(), &options, dry_run)?;
    object_response(call, StatusCode::OK, &object)
}

fn delete_collection(call: &Call<'_>) -> Result<Response, ApiError> {
    let options = delete_options(&call.body)?;
    let filter = Filter::new(call)?;
    let (rv, items) = call.shared.store.current(&call.def().store_key());
    let mut deleted = Vec::new();
    for (key, object) in items {
        if !filter.keeps(&key, &object) {
            continue;
        }
        match delete_one(call.shared, call.def(), &key, &options, call.dry_run()) {
            Ok(object) => deleted.push(list_item(call.def(), &object)),
            // Deleted concurrently: nothing left to do for this one.
            Err(e) if e.code() == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &call.output.list(json!({
            "kind": call.def().list_kind(),
            "apiVersion": call.def().api_version(),
            "metadata": { "resourceVersion": rv.to_string() },
            "items": deleted,
        }))?,
    ))
}

/// Test-side write of a whole object, bypassing HTTP but not the store's rules: server metadata
/// is filled, status is taken as given (tests set up status directly), and watchers see the change.
pub(crate) fn put_object(shared: &Shared, object: Value) -> Result<Arc<Value>, ApiError> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let def = crate::state::read(&shared.registry)
        .all()
        .iter()
        .find(|d| d.group == group && d.version == version && d.kind == kind)
        .cloned()
        .ok_or_else(|| ApiError::bad_request(format!("no resource serves {api_version} {kind}")))?;
    let name = meta::meta_str(&object, "name")
        .unwrap_or_default()
        .to_owned();
    if !meta::valid_name(&name) {
        return Err(ApiError::bad_request(format!("invalid name {name:?}")));
    }
    let namespace = meta::meta_str(&object, "namespace").map(str::to_owned);
    if def.namespaced != namespace.as_deref().is_some_and(|n| !n.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "{} is {}namespaced",
            def.qualified(),
            if def.namespaced { "" } else { "not " }
        )));
    }
    let key = (namespace.clone().unwrap_or_default(), name);
    let manager = "fake-apiserver-test";
    let written = shared.store.mutate(&def.store_key(), &key, |current, _| {
        let mut new = normalize(&def, namespace.as_deref(), object.clone());
        if let Some(status) = object.get("status") {
            new["status"] = status.clone();
        }
        prune(&def, &mut new);
        match current {
            None => {
                let status = new.get("status").cloned();
                init_created(&def, &mut new);
                if let Some(status) = status {
                    new["status"] = status;
                }
                let mut whole = def.clone();
                whole.has_status = false;
                apply::record_update(&whole, Scope::Main, None, &mut new, manager, &meta::now());
                Ok(Mutation::Put(new))
            }
            Some(current) => {
                keep_server_fields(current, &mut new);
                let mut whole = def.clone();
                whole.has_status = false;
                let generation = current
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                if spec_part(&def, current) != spec_part(&def, &new) {
                    new["metadata"]["generation"] = json!(generation + 1);
                }
                apply::record_update(
                    &whole,
                    Scope::Main,
                    Some(current),
                    &mut new,
                    manager,
                    &meta::now(),
                );
                Ok(finalize(current, new))
            }
        }
    })?;
    Ok(written.object)
}

/// Test-side delete, bypassing HTTP and finalizers; `None` when absent.
pub(crate) fn delete_object(
    shared: &Shared,
    def: &ResourceDef,
    key: &ObjKey,
) -> Option<Arc<Value>> {
    shared
        .store
        .mutate(&def.store_key(), key, |current, _| match current {
            Some(_) => Ok(Mutation::Delete),
            None => Err(ApiError::not_found(def, &key.1)),
        })
        .ok()
        .map(|w| w.object)
}

/// The response body of a non-resource GET.
pub(crate) fn text_response(text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Option<(String, Option<String>, Option<String>, bool)> {
        parse_path(&Registry::builtin(), path)
            .map(|t| (t.def.plural, t.namespace, t.name, t.status))
    }

    #[test]
    fn paths_resolve_as_on_a_real_server() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            target("/api/v1/namespaces"),
            Some(("namespaces".into(), None, None, false))
        );
        assert_eq!(
            target("/api/v1/namespaces/ns1/status"),
            Some(("namespaces".into(), None, s("ns1"), true))
        );
        assert_eq!(
            target("/apis/coordination.k8s.io/v1/namespaces/ns1/leases/l"),
            Some(("leases".into(), s("ns1"), s("l"), false))
        );
        // All namespaces: collections only.
        assert_eq!(
            target("/apis/coordination.k8s.io/v1/leases"),
            Some(("leases".into(), None, None, false))
        );
        assert_eq!(target("/apis/coordination.k8s.io/v1/leases/l"), None);
        // /status only where it is a subresource; unknown versions and resources are 404s.
        assert_eq!(
            target("/apis/coordination.k8s.io/v1/namespaces/ns1/leases/l/status"),
            None
        );
        assert!(
            target("/apis/update.openshift.io/v1alpha1/upgradestatuses/cluster/status")
                .is_some_and(|t| t.3)
        );
        assert_eq!(target("/apis/update.openshift.io/v1/upgradestatuses"), None);
        assert_eq!(target("/api/v1/namespaces/ns1/clusterversions"), None);
        assert_eq!(
            target("/apis/config.openshift.io/v1/namespaces/ns1/clusterversions/version"),
            None
        );
    }

    #[test]
    fn continue_tokens_round_trip() {
        for key in [
            (String::new(), "a".to_owned()),
            ("ns".to_owned(), "b".to_owned()),
        ] {
            assert_eq!(
                decode_continue(&encode_continue(42, &key)).unwrap(),
                (42, key)
            );
        }
        assert_eq!(decode_continue("garbage").unwrap_err().code(), 400);
    }
}
