//! Output negotiation: the `Accept` header can ask for objects as `PartialObjectMetadata`.
//!
//! A client that only needs metadata (kube's `Api<PartialObjectMeta<K>>`, client-go's metadata
//! informers) sends `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1` for get,
//! watch and patch, and `as=PartialObjectMetadataList` for list. The real server then answers with
//! the object's `metadata` only, under `apiVersion: meta.k8s.io/v1`. This module follows the
//! apiserver's negotiation (`acceptMediaTypeOptions`, `AllowsMediaTypeTransform`) and its
//! transforms (`asPartialObjectMetadata`, `asPartialObjectMetadataList`):
//! - Clauses are tried in order of `q` (then as written); the first acceptable one wins. A clause
//!   asking for a transform is acceptable when its group is `meta.k8s.io`, its version `v1` or
//!   `v1beta1`, and its kind `PartialObjectMetadata` or `PartialObjectMetadataList`.
//! - When no clause is acceptable the request fails with 406 `NotAcceptable` before anything runs.
//! - The kind must fit the response: `PartialObjectMetadata` for a list (or
//!   `PartialObjectMetadataList` for one object) is a 406 `NotAcceptable`, decided after the verb
//!   ran, as on the real server (a write still happens). `Status` bodies are never transformed.
//! - In a watch each event's object is transformed; a transform that does not fit (a watch asking
//!   for `PartialObjectMetadataList`) leaves the object whole, as the real watch encoder does.
//! - The items of a `PartialObjectMetadataList` with no items are `null`, as Go encodes the nil
//!   slice the real transform builds.
//!
//! Simplifications: the fake writes JSON only, so a clause without `as` is always served as JSON
//! (whatever media type it names), and a transform is only served for `application/json` (or a
//! wildcard): a protobuf or YAML clause with `as` is skipped, and client-go lists a JSON fallback
//! after it anyway. `as=Table` is not served (skipped like an unacceptable clause); no controller
//! asks for tables.

use serde_json::{Map, Value, json};

use crate::status::ApiError;

/// The group of the metadata-only kinds.
const META_GROUP: &str = "meta.k8s.io";

/// How objects in a response are shaped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Output {
    /// As stored.
    #[default]
    Full,
    /// `PartialObjectMetadata` of the given `meta.k8s.io` version.
    Metadata(&'static str),
    /// `PartialObjectMetadataList` of the given `meta.k8s.io` version.
    MetadataList(&'static str),
}

/// One clause of an `Accept` header.
struct Clause {
    /// `q` in thousandths.
    q: u32,
    /// Where it stood in the header (ties of `q` keep this order).
    position: usize,
    media_type: String,
    params: Vec<(String, String)>,
}

/// What one `Accept` clause asks for; `None` when the fake cannot serve it.
fn clause_output(media_type: &str, params: &[(String, String)]) -> Option<Output> {
    let param = |key: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let Some(kind) = param("as") else {
        return Some(Output::Full);
    };
    if !matches!(media_type, "application/json" | "application/*" | "*/*") {
        return None;
    }
    if param("g") != Some(META_GROUP) {
        return None;
    }
    let version = match param("v") {
        Some("v1") => "v1",
        Some("v1beta1") => "v1beta1",
        _ => return None,
    };
    match kind {
        "PartialObjectMetadata" => Some(Output::Metadata(version)),
        "PartialObjectMetadataList" => Some(Output::MetadataList(version)),
        _ => None,
    }
}

/// Negotiates the output from an `Accept` header (absent or empty: objects as stored).
pub(crate) fn negotiate(accept: Option<&str>) -> Result<Output, ApiError> {
    let accept = accept.unwrap_or_default().trim();
    if accept.is_empty() {
        return Ok(Output::Full);
    }
    let mut clauses = Vec::new();
    for (position, clause) in accept.split(',').enumerate() {
        let mut parts = clause.split(';');
        let media_type = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if media_type.is_empty() {
            continue;
        }
        let mut q = 1000;
        let mut params = Vec::new();
        for part in parts {
            let Some((key, value)) = part.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim().trim_matches('"'));
            if key == "q" {
                q = value
                    .parse::<f64>()
                    .map(|q| (q.clamp(0.0, 1.0) * 1000.0).round() as u32)
                    .unwrap_or(0);
            } else {
                params.push((key.to_owned(), value.to_owned()));
            }
        }
        if q > 0 {
            clauses.push(Clause {
                q,
                position,
                media_type,
                params,
            });
        }
    }
    clauses.sort_by(|a, b| b.q.cmp(&a.q).then(a.position.cmp(&b.position)));
    clauses
        .iter()
        .find_map(|c| clause_output(&c.media_type, &c.params))
        .ok_or_else(|| {
            ApiError::new(
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json",
            )
        })
}

fn not_acceptable(message: &str) -> ApiError {
    ApiError::new(406, "NotAcceptable", message)
}

/// One object as `PartialObjectMetadata`: its whole `metadata` (managedFields included, as
/// `meta.AsPartialObjectMetadata` copies them), nothing else.
fn partial(version: &str, object: &Value) -> Value {
    let metadata = object
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("{META_GROUP}/{version}"),
        "metadata": metadata,
    })
}

fn is_status(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("Status")
}

impl Output {
    /// A single object of a response (get, create, update, patch, delete).
    pub(crate) fn object(self, object: &Value) -> Result<Value, ApiError> {
        match self {
            _ if is_status(object) => Ok(object.clone()),
            Self::Full => Ok(object.clone()),
            Self::Metadata(version) => Ok(partial(version, object)),
            Self::MetadataList(_) => Err(not_acceptable(
                "you requested PartialObjectMetadataList, but the requested object is not a list (*unstructured.Unstructured)",
            )),
        }
    }

    /// A list response (list, deletecollection): `list` is the full list as the fake builds it.
    pub(crate) fn list(self, list: Value) -> Result<Value, ApiError> {
        match self {
            Self::Full => Ok(list),
            Self::Metadata(_) => Err(not_acceptable(
                "you requested PartialObjectMetadata, but the requested object is a list (*unstructured.UnstructuredList)",
            )),
            Self::MetadataList(version) => {
                let items: Vec<Value> = list
                    .get("items")
                    .and_then(Value::as_array)
                    .map(|items| items.iter().map(|i| partial(version, i)).collect())
                    .unwrap_or_default();
                let mut metadata = Map::new();
                if let Some(source) = list.get("metadata").and_then(Value::as_object) {
                    for field in ["resourceVersion", "continue", "remainingItemCount"] {
                        if let Some(v) = source.get(field) {
                            metadata.insert(field.to_owned(), v.clone());
                        }
                    }
                }
                Ok(json!({
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": format!("{META_GROUP}/{version}"),
                    "metadata": metadata,
                    "items": if items.is_empty() { Value::Null } else { Value::Array(items) },
                }))
            }
        }
    }

    /// The object of a watch event; a transform that does not fit leaves it whole.
    pub(crate) fn watch_object(self, object: &Value) -> Value {
        match self {
            Self::Metadata(version) if !is_status(object) => partial(version, object),
            _ => object.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_negotiate_as_the_real_server_does() {
        let ok = |accept: &str| negotiate(Some(accept)).unwrap();
        assert_eq!(negotiate(None).unwrap(), Output::Full);
        assert_eq!(ok("application/json"), Output::Full);
        assert_eq!(
            ok("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"),
            Output::Metadata("v1")
        );
        assert_eq!(
            ok("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1"),
            Output::MetadataList("v1beta1")
        );
        // client-go's metadata client: protobuf first (not served here), then JSON.
        assert_eq!(
            ok(
                "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
            ),
            Output::MetadataList("v1")
        );
        // An unserved transform falls back to the next clause; q orders the clauses.
        assert_eq!(
            ok("application/json;as=Table;g=meta.k8s.io;v=v1,application/json"),
            Output::Full
        );
        assert_eq!(
            ok(
                "application/json;q=0.5,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
            ),
            Output::Metadata("v1")
        );
        for bad in [
            "application/json;as=PartialObjectMetadata;g=example.com;v=v1",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2",
            "application/json;as=Pod;g=meta.k8s.io;v=v1",
            "application/json;q=0",
        ] {
            let err = negotiate(Some(bad)).unwrap_err();
            assert_eq!((err.code(), err.reason()), (406, "NotAcceptable"), "{bad}");
        }
    }

    #[test]
    fn transforms_keep_metadata_only() {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "a", "resourceVersion": "7", "labels": { "x": "y" } },
            "data": { "k": "v" },
        });
        let p = Output::Metadata("v1").object(&object).unwrap();
        assert_eq!(
            p,
            json!({ "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                    "metadata": object["metadata"] })
        );
        assert_eq!(
            Output::MetadataList("v1")
                .object(&object)
                .unwrap_err()
                .code(),
            406
        );
        let list = json!({
            "apiVersion": "v1", "kind": "ConfigMapList",
            "metadata": { "resourceVersion": "9", "continue": "c", "remainingItemCount": 1 },
            "items": [object],
        });
        let l = Output::MetadataList("v1").list(list.clone()).unwrap();
        assert_eq!(l["kind"], "PartialObjectMetadataList");
        assert_eq!(l["metadata"], list["metadata"]);
        assert_eq!(l["items"][0], p);
        assert_eq!(Output::Metadata("v1").list(list).unwrap_err().code(), 406);
        let empty = json!({ "metadata": { "resourceVersion": "9" }, "items": [] });
        assert!(
            Output::MetadataList("v1").list(empty).unwrap()["items"].is_null(),
            "Go encodes the empty transformed list's nil slice as null"
        );
        let status = json!({ "kind": "Status", "apiVersion": "v1", "code": 410 });
        assert_eq!(Output::Metadata("v1").watch_object(&status), status);
        assert_eq!(Output::MetadataList("v1").watch_object(&object), object);
    }
}
