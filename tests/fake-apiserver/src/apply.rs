//! Server-side apply and field ownership (`metadata.managedFields`).
//!
//! What is modelled, following the real field manager:
//! - Each write records ownership in `managedFields` entries keyed by (manager, operation
//!   `Apply`/`Update`, subresource), with `fieldsType: FieldsV1`.
//! - An apply owns exactly the fields of its configuration. A field it applied before and omits now
//!   is removed from the object, unless another manager also owns it.
//! - Applying a field another manager owns with a *different* value is a conflict: 409 with one
//!   `FieldManagerConflict` cause per field and the real server's message; `force=true` takes the
//!   fields over instead. Applying the same value makes the managers co-owners, without conflict.
//! - Non-apply writes (create, update, patch) never conflict: their manager takes every field whose
//!   value they changed, and other managers lose those fields.
//!
//! Simplification, documented because it is the one place the fake is coarser than the real one:
//! ownership is tracked per leaf of nested *maps*; every list is atomic (owned and replaced as a
//! whole), where the real server merges lists declared `listType=map`/`set` item by item. A
//! controller that applies its status with one field manager sees the same results either way:
//! the whole list it applies is what ends up stored.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::registry::ResourceDef;
use crate::status::ApiError;

/// A field path: map keys from the object root.
pub(crate) type FieldPath = Vec<String>;
/// A set of owned leaf paths.
pub(crate) type FieldSet = BTreeSet<FieldPath>;

/// Which part of an object a write may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The main resource: everything, except `.status` when `/status` is a subresource.
    Main,
    /// The `/status` subresource: `.status` only.
    Status,
}

impl Scope {
    /// The `subresource` of managedFields entries written through this scope.
    pub(crate) fn subresource(self) -> Option<&'static str> {
        match self {
            Self::Main => None,
            Self::Status => Some("status"),
        }
    }
}

/// Metadata the server owns: never tracked, never applied.
fn untracked(path: &[String]) -> bool {
    match path.first().map(String::as_str) {
        Some("apiVersion" | "kind") => true,
        Some("metadata") => !matches!(
            path.get(1).map(String::as_str),
            Some("labels" | "annotations" | "finalizers" | "ownerReferences")
        ),
        _ => false,
    }
}

fn in_scope(def: &ResourceDef, scope: Scope, path: &[String]) -> bool {
    let top = path.first().map(String::as_str);
    match scope {
        Scope::Status => top == Some("status"),
        Scope::Main => !(def.has_status && top == Some("status")),
    }
}

fn collect_leaves(value: &Value, prefix: &mut FieldPath, out: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                prefix.push(key.clone());
                collect_leaves(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

/// The tracked leaf paths of an object within a scope.
pub(crate) fn tracked_leaves(def: &ResourceDef, scope: Scope, value: &Value) -> FieldSet {
    let mut all = FieldSet::new();
    collect_leaves(value, &mut Vec::new(), &mut all);
    all.into_iter()
        .filter(|p| !untracked(p) && in_scope(def, scope, p))
        .collect()
}

/// The value at a path.
pub(crate) fn value_at<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |v, key| v.as_object()?.get(key))
}

/// Sets a value at a path, creating (or replacing non-map) parents as needed.
pub(crate) fn set_at(value: &mut Value, path: &[String], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        *value = new;
        return;
    };
    let mut cursor = value;
    for key in parents {
        if !cursor.is_object() {
            *cursor = Value::Object(Map::new());
        }
        let Some(map) = cursor.as_object_mut() else {
            return;
        };
        cursor = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cursor.is_object() {
        *cursor = Value::Object(Map::new());
    }
    if let Some(map) = cursor.as_object_mut() {
        map.insert(last.clone(), new);
    }
}

/// Removes the value at a path, then any parent map left empty below the top level.
pub(crate) fn remove_at(value: &mut Value, path: &[String]) {
    fn go(value: &mut Value, path: &[String]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let Some(map) = value.as_object_mut() else {
            return;
        };
        if rest.is_empty() {
            map.remove(first);
            return;
        }
        if let Some(child) = map.get_mut(first) {
            go(child, rest);
            if child.as_object().is_some_and(Map::is_empty) {
                map.remove(first);
            }
        }
    }
    let Some((top, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        if let Some(map) = value.as_object_mut() {
            map.remove(top);
        }
    } else if let Some(child) = value.get_mut(top) {
        go(child, rest);
    }
}

/// Removes `null` members of maps: in an apply configuration a null is not a value to own.
pub(crate) fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        for child in map.values_mut() {
            strip_nulls(child);
        }
    }
}

fn related(p: &[String], q: &[String]) -> bool {
    p.starts_with(q) || q.starts_with(p)
}

/// One managedFields entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) manager: String,
    pub(crate) operation: String,
    pub(crate) api_version: String,
    pub(crate) time: String,
    pub(crate) subresource: Option<String>,
    pub(crate) fields: FieldSet,
}

impl Entry {
    /// How the real server names this manager in a conflict message.
    fn describe(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == "Update" {
            out.push_str(&format!(" using {} at {}", self.api_version, self.time));
        }
        out
    }
}

fn parse_fields_v1(value: &Value, prefix: &mut FieldPath, out: &mut FieldSet) {
    let Some(map) = value.as_object() else {
        return;
    };
    if map.is_empty() && !prefix.is_empty() {
        out.insert(prefix.clone());
        return;
    }
    for (key, child) in map {
        if key == "." {
            if !prefix.is_empty() && map.len() == 1 {
                out.insert(prefix.clone());
            }
        } else if let Some(name) = key.strip_prefix("f:") {
            prefix.push(name.to_owned());
            parse_fields_v1(child, prefix, out);
            prefix.pop();
        } else if !prefix.is_empty() {
            // A list item (`k:`, `v:`, `i:`): lists are atomic here, so the list is the field.
            out.insert(prefix.clone());
        }
    }
}

/// Encodes a field set as `fieldsV1`.
pub(crate) fn fields_v1(set: &FieldSet) -> Value {
    let mut root = Value::Object(Map::new());
    for path in set {
        let mut cursor = &mut root;
        for key in path {
            let Some(map) = cursor.as_object_mut() else {
                break;
            };
            cursor = map
                .entry(format!("f:{key}"))
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    root
}

/// The managedFields entries of an object.
pub(crate) fn entries(object: &Value) -> Vec<Entry> {
    let Some(list) = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let mut fields = FieldSet::new();
            if let Some(f) = e.get("fieldsV1") {
                parse_fields_v1(f, &mut Vec::new(), &mut fields);
            }
            Some(Entry {
                manager: e.get("manager")?.as_str()?.to_owned(),
                operation: e.get("operation")?.as_str()?.to_owned(),
                api_version: e
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                time: e
                    .get("time")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                fields,
            })
        })
        .collect()
}

/// Writes entries into `metadata.managedFields` (removing it when there are none).
pub(crate) fn write_entries(object: &mut Value, list: &[Entry]) {
    let encoded: Vec<Value> = list
        .iter()
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields_v1(&e.fields),
            });
            if let Some(sub) = &e.subresource {
                v["subresource"] = json!(sub);
            }
            v
        })
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if encoded.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".to_owned(), Value::Array(encoded));
        }
    }
}

/// Records a non-apply write (create, update, patch) by `manager`: it takes the fields it
/// changed, other managers lose them, and fields that no longer exist are owned by no one.
pub(crate) fn record_update(
    def: &ResourceDef,
    scope: Scope,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    now: &str,
) {
    let mut list = old.map(entries).unwrap_or_default();
    let changed: FieldSet = tracked_leaves(def, scope, new)
        .into_iter()
        .filter(|p| old.and_then(|o| value_at(o, p)) != value_at(new, p))
        .collect();
    for entry in &mut list {
        entry
            .fields
            .retain(|q| value_at(new, q).is_some() && !changed.iter().any(|p| related(p, q)));
    }
    if !changed.is_empty() {
        let subresource = scope.subresource().map(str::to_owned);
        let position = list.iter().position(|e| {
            e.manager == manager && e.operation == "Update" && e.subresource == subresource
        });
        let entry = match position {
            Some(i) => &mut list[i],
            None => {
                list.push(Entry {
                    manager: manager.to_owned(),
                    operation: "Update".to_owned(),
                    api_version: def.api_version(),
                    time: String::new(),
                    subresource,
                    fields: FieldSet::new(),
                });
                let last = list.len() - 1;
                &mut list[last]
            }
        };
        entry.fields.extend(changed);
        entry.time = now.to_owned();
        entry.api_version = def.api_version();
    }
    list.retain(|e| !e.fields.is_empty());
    write_entries(new, &list);
}

fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    copy
}

/// Applies `applied` (nulls stripped, already limited to what the endpoint accepts) for `manager`
/// onto `base` (the current object, or the skeleton of one being created) and returns the result
/// with its managedFields.
pub(crate) fn apply(
    def: &ResourceDef,
    scope: Scope,
    base: &Value,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApiError> {
    let ours = tracked_leaves(def, scope, applied);
    let subresource = scope.subresource().map(str::to_owned);
    let mut list = entries(base);
    let is_mine =
        |e: &Entry| e.manager == manager && e.operation == "Apply" && e.subresource == subresource;
    let previous: FieldSet = list
        .iter()
        .find(|e| is_mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    // A field of another manager conflicts when this apply touches it with a different value.
    let touches = |q: &FieldPath| {
        ours.iter().any(|p| {
            p == q
                || q.starts_with(p)
                    && !value_at(applied, p)
                        .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
                || p.starts_with(q)
        })
    };
    let mut conflicts: Vec<(Entry, FieldPath)> = Vec::new();
    for entry in list.iter().filter(|e| !is_mine(e) && e.manager != manager) {
        for q in &entry.fields {
            if touches(q) && value_at(base, q) != value_at(applied, q) {
                conflicts.push((entry.clone(), q.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflict_error(&conflicts));
        }
        for entry in list.iter_mut().filter(|e| !is_mine(e)) {
            entry.fields.retain(|q| {
                !conflicts
                    .iter()
                    .any(|(c, p)| c.manager == entry.manager && p == q)
            });
        }
    }

    let mut object = base.clone();
    for q in previous.difference(&ours) {
        let owned_elsewhere = list
            .iter()
            .filter(|e| !is_mine(e))
            .any(|e| e.fields.contains(q));
        if !owned_elsewhere {
            remove_at(&mut object, q);
        }
    }
    for p in &ours {
        if let Some(v) = value_at(applied, p) {
            // An empty map claims the map, not its absence of members: children stay.
            let claims_map_only = v.as_object().is_some_and(Map::is_empty);
            if claims_map_only && value_at(&object, p).is_some_and(Value::is_object) {
                continue;
            }
            set_at(&mut object, p, v.clone());
        }
    }

    let changed = without_managed_fields(&object) != without_managed_fields(base);
    match list.iter().position(is_mine) {
        Some(i) => {
            if changed || list[i].fields != ours {
                list[i].time = now.to_owned();
            }
            list[i].fields = ours;
            list[i].api_version = def.api_version();
        }
        None => list.push(Entry {
            manager: manager.to_owned(),
            operation: "Apply".to_owned(),
            api_version: def.api_version(),
            time: now.to_owned(),
            subresource,
            fields: ours,
        }),
    }
    for entry in &mut list {
        entry.fields.retain(|q| value_at(&object, q).is_some());
    }
    list.retain(|e| !e.fields.is_empty());
    write_entries(&mut object, &list);
    Ok(object)
}

fn dotted(path: &[String]) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

/// The real server's 409 for apply conflicts.
fn conflict_error(conflicts: &[(Entry, FieldPath)]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(entry, path)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", entry.describe()),
                "field": dotted(path),
            })
        })
        .collect();
    let message = if let [(entry, path)] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            entry.describe(),
            dotted(path)
        )
    } else {
        let mut by_manager: Vec<(String, Vec<String>)> = Vec::new();
        for (entry, path) in conflicts {
            let who = entry.describe();
            match by_manager.iter_mut().find(|(w, _)| *w == who) {
                Some((_, paths)) => paths.push(dotted(path)),
                None => by_manager.push((who, vec![dotted(path)])),
            }
        }
        by_manager.sort();
        let body: Vec<String> = by_manager
            .iter()
            .map(|(who, paths)| {
                let lines: Vec<String> = paths.iter().map(|p| format!("- {p}")).collect();
                format!("conflicts with {who}:\n{}", lines.join("\n"))
            })
            .collect();
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            body.join("\n")
        )
    };
    ApiError::apply_conflict(message, causes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> ResourceDef {
        ResourceDef::new("g", "v1", "things", "Thing").with_status()
    }

    #[test]
    fn apply_owns_removes_and_conflicts() {
        let d = def();
        let base = json!({"apiVersion": "g/v1", "kind": "Thing", "metadata": {"name": "x"}});
        let a1 = json!({"status": {"a": 1, "b": {"c": 2}}});
        let o1 = apply(&d, Scope::Status, &base, &a1, "m1", false, "t1").unwrap();
        assert_eq!(o1["status"], json!({"a": 1, "b": {"c": 2}}));
        // m1 omits b: removed.
        let o2 = apply(
            &d,
            Scope::Status,
            &o1,
            &json!({"status": {"a": 1}}),
            "m1",
            false,
            "t2",
        )
        .unwrap();
        assert_eq!(o2["status"], json!({"a": 1}));
        // m2 applies a different a: conflict; same a: shared.
        let err = apply(
            &d,
            Scope::Status,
            &o2,
            &json!({"status": {"a": 5}}),
            "m2",
            false,
            "t3",
        )
        .unwrap_err();
        assert_eq!(err.code(), 409);
        assert!(
            err.message()
                .contains("conflict with \"m1\" with subresource \"status\": .status.a"),
            "{}",
            err.message()
        );
        let shared = apply(
            &d,
            Scope::Status,
            &o2,
            &json!({"status": {"a": 1}}),
            "m2",
            false,
            "t3",
        )
        .unwrap();
        assert_eq!(entries(&shared).len(), 2);
        let forced = apply(
            &d,
            Scope::Status,
            &o2,
            &json!({"status": {"a": 5}}),
            "m2",
            true,
            "t3",
        )
        .unwrap();
        assert_eq!(forced["status"]["a"], 5);
        let list = entries(&forced);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].manager, "m2");
    }

    #[test]
    fn fields_v1_round_trip() {
        let set: FieldSet = [
            vec!["spec".to_owned(), "a".to_owned()],
            vec!["metadata".to_owned(), "labels".to_owned(), "x".to_owned()],
        ]
        .into_iter()
        .collect();
        let mut out = FieldSet::new();
        parse_fields_v1(&fields_v1(&set), &mut Vec::new(), &mut out);
        assert_eq!(out, set);
    }
}
