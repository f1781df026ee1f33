//! The object store: what etcd and the watch cache are to a real server.
//!
//! - One global `resourceVersion` counter, bumped by every write of any resource, as etcd's
//!   revision is; objects carry the value of their last write as a decimal string.
//! - A bounded history of change events (each with the object before the change), which serves
//!   watches that resume from a resourceVersion and consistent snapshots for paginated lists.
//!   Events older than the history are gone: a watch or a continue token that needs them gets
//!   410 `Expired`, as after etcd compaction. [`Store::compact`] drops the history at once.
//! - Writes are read-modify-write closures run under one lock, so preconditions (resourceVersion,
//!   existence) are checked against exactly the state that is then replaced.
//! - A no-op write (the closure returns [`Mutation::Unchanged`]) stores nothing, bumps no
//!   resourceVersion and sends no watch event, as the real server skips writes that change nothing.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::status::ApiError;

/// Where an object lives inside its resource: namespace (empty when cluster-scoped) and name.
pub(crate) type ObjKey = (String, String);

/// The kind of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    Added,
    Modified,
    Deleted,
}

/// One stored change.
#[derive(Debug)]
pub(crate) struct HistoryEvent {
    pub(crate) rv: u64,
    pub(crate) resource: String,
    pub(crate) key: ObjKey,
    pub(crate) kind: EventKind,
    /// The object after the change (for a deletion: the deleted object, at the deletion's rv).
    pub(crate) object: Arc<Value>,
    /// The object before the change, to rebuild older snapshots and to evaluate selectors.
    pub(crate) prev: Option<Arc<Value>>,
}

/// What a write closure decided.
pub(crate) enum Mutation {
    /// Store this object (its `metadata.resourceVersion` is set by the store).
    Put(Value),
    /// Remove the object.
    Delete,
    /// Change nothing; answer with the current object.
    Unchanged,
}

/// The result of a write.
#[derive(Debug)]
pub(crate) struct Written {
    /// The object as stored (or as deleted), or the current one for a no-op.
    pub(crate) object: Arc<Value>,
    /// Whether the write created the object.
    pub(crate) created: bool,
}

struct Inner {
    rv: u64,
    objects: HashMap<String, BTreeMap<ObjKey, Arc<Value>>>,
    history: VecDeque<Arc<HistoryEvent>>,
    history_limit: usize,
    /// Watches from a resourceVersion below this, and snapshots older than it, are expired.
    floor: u64,
}

/// Why events or a snapshot are unavailable.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HistoryError {
    /// The requested resourceVersion is older than the kept history; carries the oldest usable one.
    TooOld(u64),
    /// The requested resourceVersion is newer than the store; carries the current one.
    TooNew(u64),
}

/// The shared store.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    notify: watch::Sender<u64>,
}

impl Store {
    pub(crate) fn new(history_limit: usize) -> Self {
        let (notify, _) = watch::channel(1);
        Self {
            inner: Mutex::new(Inner {
                // etcd starts at revision 1; a fresh cluster never answers resourceVersion 0.
                rv: 1,
                objects: HashMap::new(),
                history: VecDeque::new(),
                history_limit: history_limit.max(1),
                floor: 1,
            }),
            notify,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-written in a way later
        // requests could not handle, so a poisoned lock is used as is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that changes whenever the resourceVersion moves.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// The current resourceVersion.
    pub(crate) fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// One object.
    pub(crate) fn get(&self, resource: &str, key: &ObjKey) -> Option<Arc<Value>> {
        self.lock()
            .objects
            .get(resource)
            .and_then(|m| m.get(key))
            .cloned()
    }

    /// Whether a namespace object exists (for the NamespaceLifecycle check on create).
    pub(crate) fn namespace_exists(&self, name: &str) -> bool {
        self.get("/namespaces", &(String::new(), name.to_owned()))
            .is_some()
    }

    /// All objects of a resource, in key order, at the current resourceVersion.
    pub(crate) fn current(&self, resource: &str) -> (u64, Vec<(ObjKey, Arc<Value>)>) {
        let inner = self.lock();
        let items = inner
            .objects
            .get(resource)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        (inner.rv, items)
    }

    /// All objects of a resource as they were at `at`, rebuilt by undoing the later history.
    pub(crate) fn snapshot(
        &self,
        resource: &str,
        at: u64,
    ) -> Result<Vec<(ObjKey, Arc<Value>)>, HistoryError> {
        let inner = self.lock();
        if at > inner.rv {
            return Err(HistoryError::TooNew(inner.rv));
        }
        if at < inner.floor {
            return Err(HistoryError::TooOld(inner.floor));
        }
        let mut map = inner.objects.get(resource).cloned().unwrap_or_default();
        for event in inner.history.iter().rev() {
            if event.rv <= at {
                break;
            }
            if event.resource != resource {
                continue;
            }
            match (&event.kind, &event.prev) {
                (EventKind::Added, _) => {
                    map.remove(&event.key);
                }
                (_, Some(prev)) => {
                    map.insert(event.key.clone(), prev.clone());
                }
                (_, None) => {}
            }
        }
        Ok(map.into_iter().collect())
    }

    /// The events after `after` (all resources), and the resourceVersion they lead up to.
    pub(crate) fn events_after(
        &self,
        after: u64,
    ) -> Result<(Vec<Arc<HistoryEvent>>, u64), HistoryError> {
        let inner = self.lock();
        if after < inner.floor {
            return Err(HistoryError::TooOld(inner.floor));
        }
        // The history is sorted by rv: skip what the caller has seen.
        let start = inner.history.partition_point(|e| e.rv <= after);
        let events = inner.history.range(start..).cloned().collect();
        Ok((events, inner.rv.max(after)))
    }

    /// The oldest resourceVersion a watch may resume from (the real server's "too old" bound).
    pub(crate) fn floor(&self) -> u64 {
        self.lock().floor
    }

    /// Drops the whole history, as etcd compaction at the current revision does.
    pub(crate) fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.floor = inner.rv;
    }

    /// Changes the history bound (events beyond it are dropped oldest first).
    pub(crate) fn set_history_limit(&self, limit: usize) {
        let mut inner = self.lock();
        inner.history_limit = limit.max(1);
        trim(&mut inner);
    }

    /// Runs a read-modify-write of one object atomically.
    ///
    /// The closure sees the current object and the resourceVersion the write will get, and decides.
    pub(crate) fn mutate<F>(&self, resource: &str, key: &ObjKey, f: F) -> Result<Written, ApiError>
    where
        F: FnOnce(Option<&Arc<Value>>, u64) -> Result<Mutation, ApiError>,
    {
        let mut inner = self.lock();
        let current = inner
            .objects
            .get(resource)
            .and_then(|m| m.get(key))
            .cloned();
        let next_rv = inner.rv + 1;
        let mutation = f(current.as_ref(), next_rv)?;
        let (kind, object) = match mutation {
            Mutation::Unchanged => {
                return match current {
                    Some(object) => Ok(Written {
                        object,
                        created: false,
                    }),
                    None => Err(ApiError::internal("no-op write of an absent object")),
                };
            }
            Mutation::Put(mut object) => {
                set_rv(&mut object, next_rv);
                let object = Arc::new(object);
                inner
                    .objects
                    .entry(resource.to_owned())
                    .or_default()
                    .insert(key.clone(), object.clone());
                let kind = if current.is_some() {
                    EventKind::Modified
                } else {
                    EventKind::Added
                };
                (kind, object)
            }
            Mutation::Delete => {
                let Some(existing) = current.as_ref() else {
                    return Err(ApiError::internal("delete of an absent object"));
                };
                let mut object = (**existing).clone();
                set_rv(&mut object, next_rv);
                if let Some(map) = inner.objects.get_mut(resource) {
                    map.remove(key);
                }
                (EventKind::Deleted, Arc::new(object))
            }
        };
        inner.rv = next_rv;
        let created = kind == EventKind::Added;
        inner.history.push_back(Arc::new(HistoryEvent {
            rv: next_rv,
            resource: resource.to_owned(),
            key: key.clone(),
            kind,
            object: object.clone(),
            prev: current,
        }));
        trim(&mut inner);
        drop(inner);
        self.notify.send_replace(next_rv);
        Ok(Written { object, created })
    }
}

fn trim(inner: &mut Inner) {
    while inner.history.len() > inner.history_limit {
        if let Some(dropped) = inner.history.pop_front() {
            inner.floor = inner.floor.max(dropped.rv);
        }
    }
}

fn set_rv(object: &mut Value, rv: u64) {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjKey {
        (String::new(), name.to_owned())
    }

    fn put(store: &Store, name: &str, v: i64) -> u64 {
        let w = store
            .mutate("/things", &key(name), |_, _| {
                Ok(Mutation::Put(json!({"metadata": {"name": name}, "v": v})))
            })
            .map_err(|e| e.to_string());
        w.ok()
            .and_then(|w| {
                w.object["metadata"]["resourceVersion"]
                    .as_str()
                    .map(str::to_owned)
            })
            .and_then(|s| s.parse().ok())
            .unwrap_or_default()
    }

    #[test]
    fn snapshots_undo_later_history() {
        let store = Store::new(100);
        let rv1 = put(&store, "a", 1);
        put(&store, "a", 2);
        put(&store, "b", 1);
        let snap = store.snapshot("/things", rv1).unwrap_or_default();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].1["v"], 1);
        assert_eq!(store.current("/things").1.len(), 2);
    }

    #[test]
    fn history_bound_and_compaction_expire_old_versions() {
        let store = Store::new(2);
        let rv1 = put(&store, "a", 1);
        put(&store, "a", 2);
        put(&store, "a", 3);
        assert_eq!(
            store.events_after(rv1 - 1).err(),
            Some(HistoryError::TooOld(rv1))
        );
        assert!(store.events_after(rv1).is_ok());
        store.compact();
        assert!(store.events_after(rv1).is_err());
        assert!(store.events_after(store.current_rv()).is_ok());
    }
}
