//! The staging rules on plain objects, with time passed in.

use std::cell::RefCell;

use super::*;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_nanos(i128::from(secs) * 1_000_000_000 + 1_767_225_600_000_000_000).unwrap()
}

fn name(s: &str) -> InformerName {
    InformerName::new(s).unwrap()
}

fn insight(uid: &str) -> ReportedInsight {
    serde_json::from_value(
        serde_json::json!({"uid": uid, "insight": {"type": "Health", "health": {
            "scope": {"type": "ControlPlane"},
            "impact": {"level": "Info", "type": "None", "summary": uid},
            "remediation": {}
        }}}),
    )
    .unwrap()
}

fn page(report: &str, index: u32, count: u32, uids: &[&str]) -> IncomingPage {
    let digest = {
        let mut d = [0_u8; 32];
        let text = format!("{report}/{index}/{count}/{uids:?}");
        for (i, b) in text.bytes().enumerate() {
            d[i % 32] ^= b.rotate_left(i as u32 % 8);
        }
        d
    };
    IncomingPage {
        page: Page {
            report: ReportId::new(report).unwrap(),
            index,
            count,
        },
        digest,
        bytes: 100,
        accepted: uids
            .iter()
            .enumerate()
            .map(|(i, u)| (i, insight(u)))
            .collect(),
        rejected: Vec::new(),
        max_insights: 10,
    }
}

/// Stages pages and records every commit, as the store would receive it.
struct Harness {
    staging: Staging,
    commits: RefCell<Vec<CompleteReport>>,
}

impl Harness {
    fn new(limits: PagingLimits) -> Self {
        Self {
            staging: Staging::new(limits),
            commits: RefCell::new(Vec::new()),
        }
    }

    fn send(
        &self,
        informer: &str,
        p: IncomingPage,
        now: Timestamp,
    ) -> Result<PageOutcome, PageError> {
        self.staging
            .stage(&name(informer), p, now, |complete| {
                let result = ReportResult {
                    informer: informer.to_owned(),
                    accepted: complete.accepted.len() as u32,
                    removed: 0,
                    unchanged: false,
                    rejected: complete.rejected.clone(),
                    report: Some(complete.report.to_string()),
                    pages: Some(complete.pages),
                };
                self.commits.borrow_mut().push(complete);
                Ok(result)
            })
            .unwrap()
    }

    fn staged(&self, informer: &str, p: IncomingPage, now: Timestamp) -> PageStaged {
        match self.send(informer, p, now) {
            Ok(PageOutcome::Staged(s)) => s,
            other => panic!("not staged: {other:?}"),
        }
    }

    fn committed(&self, informer: &str, p: IncomingPage, now: Timestamp) -> ReportResult {
        match self.send(informer, p, now) {
            Ok(PageOutcome::Committed(r)) => r,
            other => panic!("not committed: {other:?}"),
        }
    }

    fn uids(&self, n: usize) -> Vec<String> {
        self.commits.borrow()[n]
            .accepted
            .iter()
            .map(|i| i.uid.to_string())
            .collect()
    }
}

#[test]
fn pages_in_any_order_commit_once_complete_in_page_order() {
    let h = Harness::new(PagingLimits::default());
    let s = h.staged("mc", page("r1", 2, 3, &["e", "f"]), t(0));
    assert_eq!(
        (s.staged.clone(), s.staged_insights, s.count),
        (vec![2], 2, 3)
    );
    assert_eq!(s.expires_at, t(120));
    let s = h.staged("mc", page("r1", 0, 3, &["a", "b"]), t(1));
    assert_eq!(s.staged, vec![0, 2]);
    assert!(
        h.commits.borrow().is_empty(),
        "nothing commits before the last page"
    );
    let r = h.committed("mc", page("r1", 1, 3, &["c", "d"]), t(2));
    assert_eq!((r.accepted, r.pages), (6, Some(3)));
    assert_eq!(h.uids(0), ["a", "b", "c", "d", "e", "f"]);
    assert_eq!(h.staging.staged_bytes(), 0, "a commit frees its pages");
}

#[test]
fn a_repeated_page_changes_nothing_and_a_changed_one_is_refused() {
    let h = Harness::new(PagingLimits::default());
    let first = h.staged("mc", page("r1", 0, 2, &["a"]), t(0));
    let again = h.staged("mc", page("r1", 0, 2, &["a"]), t(1));
    assert_eq!(first, again);
    assert_eq!(
        h.staging.staged_bytes(),
        100,
        "a repeated page is not counted twice"
    );
    let err = h.send("mc", page("r1", 0, 2, &["x"]), t(2)).unwrap_err();
    assert!(
        matches!(err, PageError::ContentChanged { index: 0, .. }),
        "{err}"
    );
    let err = h.send("mc", page("r1", 1, 3, &["b"]), t(2)).unwrap_err();
    assert!(
        matches!(err, PageError::CountChanged { was: 2, now: 3, .. }),
        "{err}"
    );
    // The refusals changed nothing: the right last page still completes the report.
    let r = h.committed("mc", page("r1", 1, 2, &["b"]), t(3));
    assert_eq!(r.accepted, 2);
    assert_eq!(h.uids(0), ["a", "b"]);
}

#[test]
fn a_page_of_a_committed_report_answers_its_result_again() {
    let h = Harness::new(PagingLimits::default());
    h.staged("mc", page("r1", 0, 2, &["a"]), t(0));
    let done = h.committed("mc", page("r1", 1, 2, &["b"]), t(1));
    let retry = h.committed("mc", page("r1", 1, 2, &["b"]), t(2));
    assert_eq!(h.commits.borrow().len(), 1, "no second commit");
    assert!(retry.unchanged);
    assert_eq!(retry.accepted, done.accepted);
    assert_eq!(h.staging.staged_bytes(), 0, "and nothing staged");
    // After a whole report replaced the set, the old id is a new report again.
    h.staging.forget(&name("mc"));
    h.staged("mc", page("r1", 1, 2, &["b"]), t(3));
}

#[test]
fn a_new_report_id_discards_the_older_staged_pages() {
    let h = Harness::new(PagingLimits::default());
    h.staged("mc", page("r1", 0, 2, &["a"]), t(0));
    let s = h.staged("mc", page("r2", 1, 2, &["y"]), t(1));
    assert_eq!((s.report.as_str(), s.staged.clone()), ("r2", vec![1]));
    assert_eq!(h.staging.staged_bytes(), 100);
    // r1's last page now starts r1 over instead of completing it.
    let s = h.staged("mc", page("r1", 1, 2, &["b"]), t(2));
    assert_eq!(s.staged, vec![1]);
    assert!(h.commits.borrow().is_empty());
}

#[test]
fn staged_pages_expire_from_the_first_page() {
    let limits = PagingLimits {
        ttl: GoDuration::from_secs(10),
        ..PagingLimits::default()
    };
    let h = Harness::new(limits);
    h.staged("mc", page("r1", 0, 2, &["a"]), t(0));
    h.staged("other", page("o1", 0, 2, &["a"]), t(5));
    // Just in time.
    let s = h.staged("mc", page("r1", 0, 2, &["a"]), t(9));
    assert_eq!(s.expires_at, t(10));
    // At ten seconds r1 is gone: its last page starts it over.
    let s = h.staged("mc", page("r1", 1, 2, &["b"]), t(10));
    assert_eq!(s.staged, vec![1]);
    // Any page expires every informer's old pages, freeing their bytes.
    h.staged("mc", page("r1", 1, 2, &["b"]), t(15));
    assert_eq!(h.staging.staged_bytes(), 100, "only r1's new page is left");
}

#[test]
fn over_the_limits_a_page_is_refused_and_nothing_changes() {
    let limits = PagingLimits {
        max_pages: 4,
        max_staged_bytes: 250,
        ..PagingLimits::default()
    };
    let h = Harness::new(limits);
    let err = h.send("mc", page("r1", 0, 5, &["a"]), t(0)).unwrap_err();
    assert_eq!(err, PageError::TooManyPages { count: 5, max: 4 });
    h.staged("mc", page("r1", 0, 4, &["a"]), t(0));
    h.staged("other", page("o1", 0, 2, &["a"]), t(0));
    // A third page of 100 bytes would make 300 > 250.
    let err = h.send("mc", page("r1", 1, 4, &["b"]), t(1)).unwrap_err();
    assert!(
        matches!(
            err,
            PageError::StagingFull {
                staged: 200,
                bytes: 100,
                max: 250
            }
        ),
        "{err}"
    );
    assert_eq!(h.staging.staged_bytes(), 200);
    // Superseding one's own report frees its bytes first.
    h.staged("mc", page("r2", 0, 4, &["a"]), t(1));
    // Too many insights for the informer: 10 allowed, 6 + 6 sent.
    let mut big = page("r3", 0, 2, &["a", "b", "c", "d", "e", "f"]);
    big.bytes = 10;
    h.staged("mc", big, t(2));
    let mut more = page("r3", 1, 2, &["g", "h", "i", "j", "k", "l"]);
    more.bytes = 10;
    let err = h.send("mc", more, t(2)).unwrap_err();
    assert!(
        matches!(
            err,
            PageError::TooManyInsights {
                total: 12,
                max: 10,
                ..
            }
        ),
        "{err}"
    );
    assert!(h.commits.borrow().is_empty());
}

#[test]
fn a_uid_on_two_pages_is_kept_once_and_the_later_one_refused() {
    let h = Harness::new(PagingLimits::default());
    h.staged("mc", page("r1", 1, 2, &["x", "a"]), t(0));
    let r = h.committed("mc", page("r1", 0, 2, &["a", "b"]), t(1));
    assert_eq!(h.uids(0), ["a", "b", "x"]);
    assert_eq!(r.rejected.len(), 1);
    let dup = &r.rejected[0];
    assert_eq!(
        (dup.page, dup.index, dup.uid.as_deref()),
        (Some(1), 1, Some("a"))
    );
}
