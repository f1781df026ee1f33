//! Paged full-state reports: an informer whose complete set is larger than one request may carry
//! (10,000 Node insights do not fit in 1 MiB) sends it in pages of one report id. Pages are staged
//! here, per informer, and handed over as one complete set only when every page of that id is
//! present, so a reader never sees half a report. The rules:
//!
//! - the same page twice (same id, index and content) changes nothing;
//! - a page of a new id discards the older id's staged pages (the producer started over);
//! - staged pages expire a fixed time after the report's first page;
//! - staged bytes are counted against one cap over all informers, and a report may not declare
//!   more pages, or hold more insights, than the limits say;
//! - a page of a report already committed answers with that commit's result (its answer was lost).
//!
//! Everything is decided under one lock, and the commit (the store's replace) runs under it too,
//! so a retried page can never slip between a report's completion and its commit.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::InformerName;
use update_status_api::wire::{
    Page, PageStaged, Rejection, ReportId, ReportResult, ReportedInsight,
};

/// The limits of paged reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagingLimits {
    /// Most pages one report may declare.
    pub max_pages: u32,
    /// How long a report may take from its first page to its last.
    pub ttl: GoDuration,
    /// Most bytes of staged page bodies, over all informers.
    pub max_staged_bytes: usize,
}

impl Default for PagingLimits {
    fn default() -> Self {
        Self {
            max_pages: 32,
            ttl: GoDuration::from_secs(120),
            max_staged_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a page was refused. Nothing staged or held changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The report declares more pages than allowed.
    #[error("page.count is {count} but a report may have at most {max} pages")]
    TooManyPages { count: u32, max: u32 },
    /// The same report id with another page count.
    #[error(
        "report {report} was started with {was} pages and this page says {now}; send every page of a report with the same count, or start a new report id"
    )]
    CountChanged { report: String, was: u32, now: u32 },
    /// The same page of the same report with other content.
    #[error(
        "page {index} of report {report} was already received with other content; a retry must resend the same page, a changed set needs a new report id"
    )]
    ContentChanged { report: String, index: u32 },
    /// Staging this page would put more insights in the report than the informer may hold.
    #[error(
        "report {report} would hold {total} insights but informer {informer} may hold at most {max}"
    )]
    TooManyInsights {
        report: String,
        informer: String,
        total: usize,
        max: usize,
    },
    /// The staging area is full.
    #[error(
        "the server already holds {staged} bytes of unfinished paged reports and this page of {bytes} bytes would pass its limit of {max}; retry later"
    )]
    StagingFull {
        staged: usize,
        bytes: usize,
        max: usize,
    },
}

/// One page as the handler read it.
#[derive(Debug, Clone)]
pub struct IncomingPage {
    /// Which page of which report.
    pub page: Page,
    /// A digest of the request body: the same page again must have the same one.
    pub digest: [u8; 32],
    /// The body's length, what the page costs against the cap.
    pub bytes: usize,
    /// Its valid insights with their positions in the page, in page order.
    pub accepted: Vec<(usize, ReportedInsight)>,
    /// Its refused insights (`page` set).
    pub rejected: Vec<Rejection>,
    /// The most insights the whole report may hold.
    pub max_insights: usize,
}

/// What a page did.
#[derive(Debug, Clone, PartialEq)]
pub enum PageOutcome {
    /// Staged; the report is not complete yet (HTTP 202).
    Staged(PageStaged),
    /// It completed its report, which was committed with this result; or it belongs to a report
    /// committed before, whose result this is again.
    Committed(ReportResult),
}

/// A complete report, handed to the commit: every page's valid insights in page order, and
/// every page's refusals.
#[derive(Debug, Clone, PartialEq)]
pub struct CompleteReport {
    /// The report's id.
    pub report: ReportId,
    /// How many pages it had.
    pub pages: u32,
    /// Valid insights, page by page; a uid already seen on an earlier page is refused.
    pub accepted: Vec<ReportedInsight>,
    /// Refused insights, by page and index.
    pub rejected: Vec<Rejection>,
}

/// The staged pages of every informer.
#[derive(Debug, Default)]
pub struct Staging {
    limits: PagingLimits,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    staged: BTreeMap<InformerName, StagedReport>,
    /// The last committed paged report of each informer, so a retried page gets its answer.
    committed: BTreeMap<InformerName, (ReportId, u32, ReportResult)>,
    /// Bytes of all staged pages.
    bytes: usize,
}

#[derive(Debug)]
struct StagedReport {
    report: ReportId,
    count: u32,
    started: Timestamp,
    pages: BTreeMap<u32, StagedPage>,
    bytes: usize,
    insights: usize,
}

#[derive(Debug)]
struct StagedPage {
    digest: [u8; 32],
    accepted: Vec<(usize, ReportedInsight)>,
    rejected: Vec<Rejection>,
}

/// The lock was poisoned: a bug elsewhere; the handler answers 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the staging area's lock is poisoned")]
pub struct Poisoned;

impl Staging {
    /// An empty staging area with these limits.
    pub fn new(limits: PagingLimits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &PagingLimits {
        &self.limits
    }

    /// Bytes of staged pages now held, over all informers.
    pub fn staged_bytes(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.bytes)
    }

    /// Stages one page of `informer`'s report at `now`. When it completes the report, `commit`
    /// runs (under the staging lock) with the complete set and its result is the answer.
    pub fn stage(
        &self,
        informer: &InformerName,
        incoming: IncomingPage,
        now: Timestamp,
        commit: impl FnOnce(CompleteReport) -> Result<ReportResult, Poisoned>,
    ) -> Result<Result<PageOutcome, PageError>, Poisoned> {
        let mut guard = self.inner.lock().map_err(|_| Poisoned)?;
        let inner = &mut *guard;
        inner.expire(now, self.limits.ttl);
        let page = &incoming.page;
        if page.count > self.limits.max_pages {
            return Ok(Err(PageError::TooManyPages {
                count: page.count,
                max: self.limits.max_pages,
            }));
        }
        if let Some((id, count, result)) = inner.committed.get(informer)
            && *id == page.report
        {
            if *count != page.count {
                return Ok(Err(PageError::CountChanged {
                    report: id.to_string(),
                    was: *count,
                    now: page.count,
                }));
            }
            let mut again = result.clone();
            again.unchanged = true;
            return Ok(Ok(PageOutcome::Committed(again)));
        }
        // The report this page joins: the one staged under the same id, or none (a new id
        // discards the older one, but only once this page is accepted).
        let same = inner
            .staged
            .get(informer)
            .filter(|s| s.report == page.report);
        if let Some(s) = same {
            if s.count != page.count {
                return Ok(Err(PageError::CountChanged {
                    report: s.report.to_string(),
                    was: s.count,
                    now: page.count,
                }));
            }
            if let Some(old) = s.pages.get(&page.index) {
                return Ok(if old.digest == incoming.digest {
                    Ok(PageOutcome::Staged(self.staged_answer(
                        informer,
                        s,
                        &old.rejected,
                    )))
                } else {
                    Err(PageError::ContentChanged {
                        report: s.report.to_string(),
                        index: page.index,
                    })
                });
            }
        }
        let held_insights = same.map_or(0, |s| s.insights);
        let insights = incoming.accepted.len() + incoming.rejected.len();
        if held_insights + insights > incoming.max_insights {
            return Ok(Err(PageError::TooManyInsights {
                report: page.report.to_string(),
                informer: informer.to_string(),
                total: held_insights + insights,
                max: incoming.max_insights,
            }));
        }
        // A superseded report's bytes are freed by this page, so they do not count against it.
        let superseded = inner
            .staged
            .get(informer)
            .filter(|s| s.report != page.report)
            .map(|s| s.bytes);
        if inner.bytes - superseded.unwrap_or(0) + incoming.bytes > self.limits.max_staged_bytes {
            return Ok(Err(PageError::StagingFull {
                staged: inner.bytes,
                bytes: incoming.bytes,
                max: self.limits.max_staged_bytes,
            }));
        }
        if superseded.is_some() {
            inner.discard(informer);
        }
        let report = inner
            .staged
            .entry(informer.clone())
            .or_insert_with(|| StagedReport {
                report: page.report.clone(),
                count: page.count,
                started: now,
                pages: BTreeMap::new(),
                bytes: 0,
                insights: 0,
            });
        report.bytes += incoming.bytes;
        report.insights += insights;
        report.pages.insert(
            page.index,
            StagedPage {
                digest: incoming.digest,
                accepted: incoming.accepted,
                rejected: incoming.rejected,
            },
        );
        inner.bytes += incoming.bytes;
        let complete = usize::try_from(page.count).is_ok_and(|n| report.pages.len() == n);
        if !complete {
            let s = &inner.staged[informer];
            let rejected = &s.pages[&page.index].rejected;
            return Ok(Ok(PageOutcome::Staged(
                self.staged_answer(informer, s, rejected),
            )));
        }
        let Some(done) = inner.discard(informer) else {
            return Err(Poisoned);
        };
        let report_id = done.report.clone();
        let count = done.count;
        let result = commit(assemble(done))?;
        inner
            .committed
            .insert(informer.clone(), (report_id, count, result.clone()));
        Ok(Ok(PageOutcome::Committed(result)))
    }

    /// Forgets `informer`'s staged pages and last paged commit: a whole report replaced its set,
    /// so neither may answer for it any more.
    pub fn forget(&self, informer: &InformerName) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.discard(informer);
            inner.committed.remove(informer);
        }
    }

    fn staged_answer(
        &self,
        informer: &InformerName,
        s: &StagedReport,
        rejected: &[Rejection],
    ) -> PageStaged {
        PageStaged {
            informer: informer.to_string(),
            report: s.report.to_string(),
            count: s.count,
            staged: s.pages.keys().copied().collect(),
            staged_insights: u32::try_from(s.insights).unwrap_or(u32::MAX),
            expires_at: s.started.plus(self.limits.ttl),
            rejected: rejected.to_vec(),
        }
    }
}

impl Inner {
    /// Drops every staged report whose time is up.
    fn expire(&mut self, now: Timestamp, ttl: GoDuration) {
        let expired: Vec<InformerName> = self
            .staged
            .iter()
            .filter(|(_, s)| now.since(s.started) >= ttl)
            .map(|(name, _)| name.clone())
            .collect();
        for name in expired {
            if let Some(s) = self.discard(&name) {
                tracing::info!(informer = %name, report = %s.report, staged = s.pages.len(), count = s.count, "discarding an unfinished paged report: its time is up");
            }
        }
    }

    fn discard(&mut self, informer: &InformerName) -> Option<StagedReport> {
        let s = self.staged.remove(informer)?;
        self.bytes -= s.bytes;
        Some(s)
    }
}

/// The complete set of a report whose pages are all staged.
fn assemble(done: StagedReport) -> CompleteReport {
    let mut seen = HashSet::new();
    let mut accepted = Vec::with_capacity(done.insights);
    let mut rejected = Vec::new();
    for (index, page) in done.pages {
        rejected.extend(page.rejected);
        for (at, insight) in page.accepted {
            if seen.insert(insight.uid.clone()) {
                accepted.push(insight);
            } else {
                rejected.push(Rejection {
                    index: at,
                    page: Some(index),
                    uid: Some(insight.uid.to_string()),
                    field: "uid".into(),
                    reason: format!(
                        "uid {} appears on an earlier page of report {}",
                        insight.uid, done.report
                    ),
                });
            }
        }
    }
    rejected.sort_by_key(|r| (r.page, r.index));
    CompleteReport {
        report: done.report,
        pages: done.count,
        accepted,
        rejected,
    }
}

#[cfg(test)]
mod tests;
