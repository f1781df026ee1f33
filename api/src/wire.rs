//! Wire types of the informer HTTP API (`/v1alpha1/...`) and the one function that turns a
//! request body into a validated report. The server and any Rust producer share them.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::constraints::{DNS_LABEL_PATTERN, constrained_string};
use crate::time::Timestamp;
use crate::v1alpha1::{Insight, InsightPayload, Uid};
use crate::validation;

/// What a producer POSTs: its complete current set of insights, in one request or, when that
/// set is larger than one request may carry, in pages.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Present when this request is one page of a paged report: the insights of all its pages
    /// together are the complete set, committed at once when the last one arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<Page>,
    /// Every insight the informer currently has (of a paged report: this page's share); those it
    /// held before and omits now are removed.
    pub insights: Vec<ReportedInsight>,
}

constrained_string!(
    /// The producer's name for one paged report: its pages carry the same id, and a new id
    /// discards the pages of an older report not yet complete.
    ReportId, min = 1, max = 63, pattern = DNS_LABEL_PATTERN,
    what = "must be a lower-case RFC 1123 label (a-z, 0-9 and '-', starting and ending alphanumeric)"
);

/// The most pages a paged report may declare, whatever the server's configured limit.
pub const MAX_PAGES: u32 = 1000;

/// Which page of which paged report a request carries.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Page {
    /// The report's id, the same on all its pages.
    pub report: ReportId,
    /// This page's position, from 0; pages may arrive in any order.
    pub index: u32,
    /// How many pages the report has, the same on all its pages.
    #[schemars(range(min = 1, max = 1000))]
    pub count: u32,
}

/// The answer (202) to a page that does not complete its report: what is staged so far.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageStaged {
    /// The informer.
    pub informer: String,
    /// The report's id.
    pub report: String,
    /// How many pages the report has.
    pub count: u32,
    /// The indexes of the pages staged so far, this one included, in order.
    pub staged: Vec<u32>,
    /// Insights staged so far, over all staged pages.
    pub staged_insights: u32,
    /// When the staged pages are discarded unless the report is complete by then.
    pub expires_at: Timestamp,
    /// This page's refused insights (all pages' are listed again in the final answer).
    pub rejected: Vec<Rejection>,
}

/// One insight as a producer sends it; the controller stamps `acquiredAt`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportedInsight {
    /// The producer's stable id for this fact.
    pub uid: Uid,
    /// The fact.
    pub insight: InsightPayload,
}

/// The answer to an accepted report.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportResult {
    /// The informer the report was for.
    pub informer: String,
    /// How many insights were accepted (and are now held).
    pub accepted: u32,
    /// How many insights held before were removed because the report no longer lists them.
    pub removed: u32,
    /// True when the report changed nothing the controller held.
    pub unchanged: bool,
    /// Each refused insight, with where and why.
    pub rejected: Vec<Rejection>,
    /// Of a paged report: its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// Of a paged report: how many pages it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
}

/// One insight that was refused while the rest of its report was accepted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// Its position in `insights` (of its page, for a paged report).
    pub index: usize,
    /// Of a paged report: the index of its page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Its uid, when it had a readable one; an unparsable insight's is cut to the longest valid
    /// uid's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The offending field, as a JSON path below the insight (`insight.health.impact.summary`).
    pub field: String,
    /// What is wrong, for a person.
    pub reason: String,
}

/// What the controller holds for one informer (`GET .../insights`), so a restarted producer can
/// reconcile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InsightsResponse {
    /// The informer.
    pub informer: String,
    /// Its insights.
    pub insights: Vec<Insight>,
}

/// `GET /v1alpha1/discovery`: what a producer needs to know before reporting.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    /// The API versions served.
    pub api_versions: Vec<String>,
    /// The audience producer tokens must carry.
    pub audience: String,
    /// The limits the server enforces.
    pub limits: Limits,
}

/// The limits a report must stay within.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Most insights in one report (an UpdateInformer may lower it).
    pub max_insights_per_report: u32,
    /// Longest uid.
    pub max_uid_length: u32,
    /// Longest health summary.
    pub max_summary_length: u32,
    /// Longest description.
    pub max_description_length: u32,
    /// Longest reference URL.
    pub max_reference_length: u32,
    /// Most pages one paged report may have.
    pub max_pages_per_report: u32,
    /// Most insights an informer may hold: one report, or all pages of a paged report together
    /// (an UpdateInformer's `maxInsights` may lower it).
    pub max_insights_per_informer: u32,
    /// How long, from its first page, a paged report may take to complete before its staged
    /// pages are discarded.
    pub staged_report_ttl_seconds: u32,
    /// Most bytes of staged pages the server keeps, over all informers.
    pub max_staged_bytes: u64,
}

/// Every error the API returns has this shape.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status code.
    pub code: u16,
    /// A CamelCase reason a program can branch on (`Unauthorized`, `BodyTooLarge`, ...).
    pub reason: String,
    /// What went wrong and what to do, for a person.
    pub message: String,
}

/// Why a whole report was refused. Nothing the controller held changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The body is not JSON of the report's shape.
    #[error("the body is not a valid report: {0}")]
    Malformed(String),
    /// More insights than allowed.
    #[error("the report has {count} insights but at most {max} are allowed")]
    TooManyInsights { count: usize, max: usize },
    /// A page that cannot be one: no pages, too many, or an index past the count.
    #[error("{0}")]
    InvalidPage(String),
}

/// A report split into what can be kept and what cannot.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedReport {
    /// Which page of a paged report this is; `None` for a whole report.
    pub page: Option<Page>,
    /// Valid insights, in report order.
    pub accepted: Vec<ReportedInsight>,
    /// Refused insights.
    pub rejected: Vec<Rejection>,
}

/// The shape a report is first read into, so one bad insight cannot spoil the others.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport<'a> {
    #[serde(default)]
    page: Option<Page>,
    /// Each insight's JSON text, borrowed from the body: it is parsed once, into its type.
    #[serde(borrow)]
    insights: Vec<&'a serde_json::value::RawValue>,
}

/// Just the `uid` of an insight that failed to parse, so its rejection can name it.
#[derive(Deserialize)]
struct UidOnly {
    #[serde(default)]
    uid: Option<serde_json::Value>,
}

/// The `uid` a rejection repeats for an insight that failed to parse: the producer's own input,
/// of any length (a body may be megabytes), so cut to the longest valid uid, [`Uid::MAX_LEN`]
/// characters, on a character boundary. Cut rather than dropped: the start of it still tells
/// the producer which insight was refused, and the answer no longer grows with the input.
fn echoed_uid(uid: &str) -> String {
    match uid.char_indices().nth(Uid::MAX_LEN) {
        Some((at, _)) => uid[..at].to_owned(),
        None => uid.to_owned(),
    }
}

/// The deepest nesting of arrays and objects a report may have; a valid report needs fewer than
/// ten levels. Checked before parsing, so a hostile body is refused whole: each insight is only
/// captured as raw text at first, and that capture has no depth limit of its own.
pub const MAX_NESTING: usize = 64;

/// The byte offset at which `json` opens its `max + 1`-th nested array or object, if it does.
/// Brackets inside strings (escapes included) do not count; the grammar is left to the parser.
fn too_deep(json: &[u8], max: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0_usize, false, false);
    for (at, &b) in json.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(at);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Parses and validates a report body. A body that is not a report, or has too many insights, is
/// refused whole; each insight that breaks a rule is refused alone and listed.
pub fn parse_report(body: &[u8], max_insights: usize) -> Result<ParsedReport, ReportError> {
    if let Some(at) = too_deep(body, MAX_NESTING) {
        return Err(ReportError::Malformed(format!(
            "the JSON is nested deeper than {MAX_NESTING} levels at byte {at}"
        )));
    }
    let raw: RawReport =
        serde_json::from_slice(body).map_err(|e| ReportError::Malformed(e.to_string()))?;
    if let Some(page) = &raw.page {
        if page.count == 0 || page.count > MAX_PAGES {
            return Err(ReportError::InvalidPage(format!(
                "page.count is {} but a report has 1 to {MAX_PAGES} pages",
                page.count
            )));
        }
        if page.index >= page.count {
            return Err(ReportError::InvalidPage(format!(
                "page.index {} is not below page.count {} (pages count from 0)",
                page.index, page.count
            )));
        }
    }
    if raw.insights.len() > max_insights {
        return Err(ReportError::TooManyInsights {
            count: raw.insights.len(),
            max: max_insights,
        });
    }
    let mut accepted = Vec::with_capacity(raw.insights.len());
    let mut rejected = Vec::new();
    let mut seen = HashSet::new();
    for (index, json) in raw.insights.into_iter().enumerate() {
        let page = raw.page.as_ref().map(|p| p.index);
        let reject = |uid: Option<String>, field: String, reason: String| Rejection {
            index,
            page,
            uid,
            field,
            reason,
        };
        match validation::from_json_str::<ReportedInsight>(json.get()) {
            Err(v) => {
                let uid = serde_json::from_str::<UidOnly>(json.get())
                    .ok()
                    .and_then(|u| u.uid)
                    .and_then(|u| u.as_str().map(echoed_uid));
                rejected.push(reject(uid, v.field, v.reason));
            }
            Ok(insight) => {
                let uid = || Some(insight.uid.to_string());
                if let Some(v) = validation::insight_rules(&insight.insight, "insight.")
                    .into_iter()
                    .next()
                {
                    rejected.push(reject(uid(), v.field, v.reason));
                } else if !seen.insert(insight.uid.clone()) {
                    rejected.push(reject(
                        uid(),
                        "uid".into(),
                        format!("uid {} appears more than once in the report", insight.uid),
                    ));
                } else {
                    accepted.push(insight);
                }
            }
        }
    }
    Ok(ParsedReport {
        page: raw.page,
        accepted,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert_eq!(too_deep(br#"{"a":[[1]]}"#, 3), None);
        assert_eq!(too_deep(br#"{"a":[[[1]]]}"#, 3), Some(7));
        // Brackets in strings, with escaped quotes and backslashes around them, do not count.
        assert_eq!(too_deep(br#"{"a":"[[[[\"[[[\\","b":[1]}"#, 2), None);
        // Closing brackets bring the depth back down.
        assert_eq!(too_deep(br#"[[]],[[]],[[]]"#, 2), None);
    }

    #[test]
    fn a_deep_body_is_refused_whole_and_a_shallow_one_is_not() {
        let deep = format!(
            "{{\"insights\": [{}{}]}}",
            "[".repeat(MAX_NESTING),
            "]".repeat(MAX_NESTING)
        );
        assert!(matches!(
            parse_report(deep.as_bytes(), 10),
            Err(ReportError::Malformed(m)) if m.contains("nested deeper")
        ));
        let parsed = parse_report(br#"{"insights": [[[1]]]}"#, 10).unwrap();
        assert_eq!(parsed.rejected.len(), 1);
    }

    #[test]
    fn a_page_is_read_and_checked_before_its_insights() {
        let parsed = parse_report(
            br#"{"page": {"report": "r1", "index": 1, "count": 2}, "insights": []}"#,
            10,
        )
        .unwrap();
        assert_eq!(
            parsed.page,
            Some(Page {
                report: ReportId::new("r1").unwrap(),
                index: 1,
                count: 2
            })
        );
        for bad in [
            r#"{"page": {"report": "r1", "index": 2, "count": 2}, "insights": []}"#,
            r#"{"page": {"report": "r1", "index": 0, "count": 0}, "insights": []}"#,
            r#"{"page": {"report": "r1", "index": 0, "count": 1001}, "insights": []}"#,
        ] {
            assert!(
                matches!(
                    parse_report(bad.as_bytes(), 10),
                    Err(ReportError::InvalidPage(_))
                ),
                "{bad}"
            );
        }
        for malformed in [
            r#"{"page": {"report": "R 1", "index": 0, "count": 1}, "insights": []}"#,
            r#"{"page": {"report": "r1", "index": -1, "count": 1}, "insights": []}"#,
            r#"{"page": {"report": "r1", "index": 0, "count": 1, "extra": 1}, "insights": []}"#,
        ] {
            assert!(
                matches!(
                    parse_report(malformed.as_bytes(), 10),
                    Err(ReportError::Malformed(_))
                ),
                "{malformed}"
            );
        }
    }

    #[test]
    fn an_unparsable_insights_uid_is_echoed_at_most_a_uids_length() {
        // 100 KB of a multi-byte character: a cut in the middle of one would not be UTF-8.
        let long = "é".repeat(50_000);
        for (uid, echoed) in [
            (long.as_str(), "é".repeat(Uid::MAX_LEN)),
            ("ok-uid", "ok-uid".to_owned()),
        ] {
            let body = serde_json::json!({"insights": [{"uid": uid, "insight": {"type": "Nope"}}]});
            let parsed = parse_report(body.to_string().as_bytes(), 10).unwrap();
            assert_eq!(parsed.rejected.len(), 1);
            assert_eq!(parsed.rejected[0].uid.as_deref(), Some(echoed.as_str()));
        }
    }

    #[test]
    fn a_duplicate_field_in_an_insight_is_refused_not_collapsed() {
        let body = br#"{"insights": [{"uid": "a", "uid": "b", "insight": {}}]}"#;
        let parsed = parse_report(body, 10).unwrap();
        assert!(parsed.accepted.is_empty());
        assert!(
            parsed.rejected[0].reason.contains("duplicate field"),
            "{:?}",
            parsed.rejected
        );
    }
}
