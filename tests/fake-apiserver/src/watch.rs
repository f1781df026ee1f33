//! Watch streams: newline-delimited JSON events, as the real server streams them.
//!
//! - Events come in resourceVersion order, starting after the requested resourceVersion; a start
//!   older than the kept history gets one `ERROR` event with a 410 `Expired` Status (in a 200
//!   stream, as the real watch cache answers), and the stream ends.
//! - Without a resourceVersion (or with "0") the stream opens with synthetic `ADDED` events for the
//!   current state. With `sendInitialEvents=true` those are followed by a `BOOKMARK` annotated
//!   `k8s.io/initial-events-end: "true"` (the streaming-list protocol), when bookmarks are allowed.
//! - With `allowWatchBookmarks`, `BOOKMARK` events carry the resourceVersion the stream has reached,
//!   at the configured interval.
//! - With selectors, an object that stops matching is sent as `DELETED` and one that starts
//!   matching as `ADDED`, as the real watch cache does.
//! - `timeoutSeconds` ends the stream cleanly; so do [`crate::FakeApiServer::close_watches`] and a
//!   watcher that fell behind the history (the real server drops watchers that cannot keep up;
//!   the client resumes, and gets 410 if what it missed is gone).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::output::Output;
use crate::registry::ResourceDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{EventKind, HistoryEvent, Store};

/// Where a watch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// After this resourceVersion.
    From(u64),
    /// With the current state as synthetic `ADDED` events.
    CurrentState,
}

/// What to watch and how.
#[derive(Clone, Debug)]
pub(crate) struct WatchSpec {
    pub(crate) def: ResourceDef,
    pub(crate) namespace: Option<String>,
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
    pub(crate) start: Start,
    pub(crate) bookmarks: bool,
    pub(crate) initial_events_end: bool,
    pub(crate) timeout: Duration,
    pub(crate) bookmark_interval: Duration,
    /// How each event's object is shaped (see [`crate::output`]).
    pub(crate) output: Output,
}

impl WatchSpec {
    fn selects(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    fn in_namespace(&self, namespace: &str) -> bool {
        self.namespace.as_ref().is_none_or(|ns| ns == namespace)
    }
}

struct State {
    store: Arc<Store>,
    spec: WatchSpec,
    resource: String,
    rx: watch::Receiver<u64>,
    cursor: u64,
    pending: VecDeque<Bytes>,
    deadline: Instant,
    next_bookmark: Instant,
    close: CancellationToken,
    done: bool,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut bytes =
        serde_json::to_vec(&json!({ "type": kind, "object": object })).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn bookmark(spec: &WatchSpec, rv: u64, initial_end: bool) -> Bytes {
    let mut metadata = json!({ "resourceVersion": rv.to_string(), "creationTimestamp": null });
    if initial_end {
        metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    let object = json!({ "kind": spec.def.kind, "apiVersion": spec.def.api_version(), "metadata": metadata });
    line("BOOKMARK", &spec.output.watch_object(&object))
}

impl State {
    fn render(&self, event: &HistoryEvent) -> Option<Bytes> {
        if event.resource != self.resource || !self.spec.in_namespace(&event.key.0) {
            return None;
        }
        let now = self.spec.selects(&event.object);
        let before = event.prev.as_ref().is_some_and(|p| self.spec.selects(p));
        let kind = match event.kind {
            EventKind::Added => now.then_some("ADDED"),
            EventKind::Deleted => (now || before).then_some("DELETED"),
            EventKind::Modified => match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
        }?;
        Some(line(kind, &self.spec.output.watch_object(&event.object)))
    }
}

async fn step(mut st: State) -> Option<(Result<Bytes, Infallible>, State)> {
    loop {
        if let Some(bytes) = st.pending.pop_front() {
            return Some((Ok(bytes), st));
        }
        if st.done {
            return None;
        }
        st.rx.borrow_and_update();
        match st.store.events_after(st.cursor) {
            Err(_) => {
                st.done = true;
                continue;
            }
            Ok((events, upto)) => {
                for event in &events {
                    if let Some(bytes) = st.render(event) {
                        st.pending.push_back(bytes);
                    }
                }
                st.cursor = upto;
            }
        }
        if !st.pending.is_empty() {
            continue;
        }
        let bookmarks = st.spec.bookmarks;
        // Biased: a closed or timed-out watch sends nothing more, even if a change is ready too.
        tokio::select! {
            biased;
            () = st.close.cancelled() => st.done = true,
            () = tokio::time::sleep_until(st.deadline) => st.done = true,
            changed = st.rx.changed() => {
                if changed.is_err() {
                    st.done = true;
                }
            }
            () = tokio::time::sleep_until(st.next_bookmark), if bookmarks => {
                st.pending.push_back(bookmark(&st.spec, st.cursor, false));
                st.next_bookmark = Instant::now() + st.spec.bookmark_interval;
            }
        }
    }
}

/// Opens a watch and returns the streaming response body.
pub(crate) fn open(store: Arc<Store>, spec: WatchSpec, close: CancellationToken) -> Body {
    let resource = spec.def.store_key();
    let mut rx = store.subscribe();
    rx.borrow_and_update();
    let mut pending = VecDeque::new();
    let mut done = false;
    let cursor = match spec.start {
        Start::From(rv) => {
            let floor = store.floor();
            if rv < floor {
                let status = ApiError::expired(format!("too old resource version: {rv} ({floor})"));
                pending.push_back(line("ERROR", &status.to_status()));
                done = true;
            }
            rv
        }
        Start::CurrentState => {
            let (rv, items) = store.current(&resource);
            for ((namespace, _), object) in &items {
                if spec.in_namespace(namespace) && spec.selects(object) {
                    pending.push_back(line("ADDED", &spec.output.watch_object(object)));
                }
            }
            if spec.initial_events_end && spec.bookmarks {
                pending.push_back(bookmark(&spec, rv, true));
            }
            rv
        }
    };
    let now = Instant::now();
    let state = State {
        deadline: now + spec.timeout,
        next_bookmark: now + spec.bookmark_interval,
        store,
        resource,
        rx,
        cursor,
        pending,
        close,
        done,
        spec,
    };
    Body::from_stream(futures_util::stream::unfold(state, step))
}
