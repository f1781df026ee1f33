//! The request log: every request the fake answered, for tests that assert on the client's
//! traffic (how many lists a watcher made, which field manager a write used, that a retry happened).

use std::collections::VecDeque;
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
