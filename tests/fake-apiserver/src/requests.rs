//! The request log: every request the fake answered, for tests that assert on the client's
//! traffic (how many lists a watcher made, which field manager a write used, that a retry happened),
//! and how many requests per path were outstanding at once (how many TokenReviews a flood of
//! tokens made a client keep in flight together).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// One answered request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// When the request arrived.
    pub time: SystemTime,
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The Kubernetes verb (`list`, `watch`, `get`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`), or the lower-case method for non-resource paths.
    pub verb: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The authenticated username, when authentication got that far.
    pub user: Option<String>,
    /// The response status code (for a watch: of the response head; the stream follows).
    pub status: u16,
    /// Requests to the same path outstanding when this one arrived, itself included: what a
    /// client's cap on concurrent calls (for example on TokenReviews) must keep low.
    pub in_flight: usize,
}

impl RecordedRequest {
    /// The value of one query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A bounded log (oldest entries dropped first).
#[derive(Debug)]
pub(crate) struct RequestLog {
    entries: VecDeque<RecordedRequest>,
    limit: usize,
}

impl RequestLog {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            limit: limit.max(1),
        }
    }

    pub(crate) fn push(&mut self, entry: RecordedRequest) {
        if self.entries.len() >= self.limit {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        self.entries.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Outstanding requests per path: how many now, and the most at once since the last reset.
///
/// A request is outstanding from when its headers arrive (before injected latency) until its
/// answer is ready, or until the client gives up and the connection goes (the request's future
/// is dropped then, and so is its [`InFlightGuard`]).
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    paths: HashMap<String, (usize, usize)>,
}

impl InFlight {
    /// Counts a request to `path` as outstanding until the guard drops; returns the guard and
    /// how many are outstanding on that path now, this one included.
    pub(crate) fn enter(this: &Arc<Mutex<Self>>, path: &str) -> (InFlightGuard, usize) {
        let mut state = crate::state::lock(this);
        let (current, max) = state.paths.entry(path.to_owned()).or_default();
        *current += 1;
        *max = (*max).max(*current);
        let now = *current;
        drop(state);
        (
            InFlightGuard {
                state: Arc::clone(this),
                path: path.to_owned(),
            },
            now,
        )
    }

    /// Outstanding requests to `path` now.
    pub(crate) fn current(&self, path: &str) -> usize {
        self.paths.get(path).map_or(0, |(current, _)| *current)
    }

    /// The most requests to `path` outstanding at once since the last [`InFlight::reset_max`].
    pub(crate) fn max(&self, path: &str) -> usize {
        self.paths.get(path).map_or(0, |(_, max)| *max)
    }

    /// Starts the maxima again from what is outstanding now.
    pub(crate) fn reset_max(&mut self) {
        for (current, max) in self.paths.values_mut() {
            *max = *current;
        }
    }
}

/// Keeps one request counted as outstanding until dropped.
#[derive(Debug)]
pub(crate) struct InFlightGuard {
    state: Arc<Mutex<InFlight>>,
    path: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut state = crate::state::lock(&self.state);
        if let Some((current, _)) = state.paths.get_mut(&self.path) {
            *current = current.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_counts_per_path_and_keeps_the_maximum() {
        let state = Arc::new(Mutex::new(InFlight::default()));
        let (a, n) = InFlight::enter(&state, "/a");
        assert_eq!(n, 1);
        let (b, n) = InFlight::enter(&state, "/a");
        assert_eq!(n, 2);
        let (_c, n) = InFlight::enter(&state, "/b");
        assert_eq!(n, 1, "paths are counted apart");
        drop(a);
        drop(b);
        let (_d, n) = InFlight::enter(&state, "/a");
        assert_eq!(n, 1);
        let mut s = crate::state::lock(&state);
        assert_eq!((s.current("/a"), s.max("/a")), (1, 2));
        s.reset_max();
        assert_eq!((s.current("/a"), s.max("/a")), (1, 1));
        assert_eq!((s.current("/none"), s.max("/none")), (0, 0));
    }
}
