//! How the `report` subcommand splits a report too large for one request into the pages of one
//! paged report (`docs/producers.md`): greedily, each page within the server's body and count
//! limits, with an id derived from the report's content, so running the command again with the
//! same file is a retry (the server answers the committed result) rather than a new report.

use serde_json::Value;
use sha2::{Digest, Sha256};
use update_status_api::wire::Discovery;

/// Why a report could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    /// The file is not a JSON object with an `insights` list.
    #[error("the report file is not a report (a JSON object with an insights list): {0}")]
    NotAReport(String),
    /// One insight alone is larger than a request may be.
    #[error(
        "insight {index} is {bytes} bytes, more than one request may carry ({max} bytes with the page around it)"
    )]
    InsightTooLarge {
        index: usize,
        bytes: usize,
        max: usize,
    },
    /// More pages would be needed than the server allows.
    #[error("the report needs {pages} pages but the server allows at most {max}")]
    TooManyPages { pages: usize, max: u32 },
}

/// Room kept in each page for `{"page": {...}, "insights": []}`.
const PAGE_OVERHEAD: usize = 160;

/// The page bodies of `report` within `discovery`'s limits.
pub fn split(report: &[u8], discovery: &Discovery) -> Result<Vec<Vec<u8>>, PagingError> {
    let value: Value =
        serde_json::from_slice(report).map_err(|e| PagingError::NotAReport(e.to_string()))?;
    let insights = value
        .get("insights")
        .and_then(Value::as_array)
        .ok_or_else(|| PagingError::NotAReport("no insights list".into()))?;
    let limits = &discovery.limits;
    let max_bytes = usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX);
    let max_count = usize::try_from(limits.max_insights_per_report.max(1)).unwrap_or(1);
    let mut groups: Vec<Vec<&Value>> = vec![Vec::new()];
    let mut size = PAGE_OVERHEAD;
    for (index, insight) in insights.iter().enumerate() {
        let bytes = serde_json::to_vec(insight)
            .map_err(|e| PagingError::NotAReport(e.to_string()))?
            .len()
            + 1;
        if bytes + PAGE_OVERHEAD > max_bytes {
            return Err(PagingError::InsightTooLarge {
                index,
                bytes,
                max: max_bytes,
            });
        }
        let full = groups
            .last()
            .is_some_and(|g| !g.is_empty() && (g.len() >= max_count || size + bytes > max_bytes));
        if full {
            groups.push(Vec::new());
            size = PAGE_OVERHEAD;
        }
        size += bytes;
        if let Some(g) = groups.last_mut() {
            g.push(insight);
        }
    }
    if groups.len() > limits.max_pages_per_report as usize {
        return Err(PagingError::TooManyPages {
            pages: groups.len(),
            max: limits.max_pages_per_report,
        });
    }
    let id = report_id(report);
    let count = groups.len();
    groups
        .iter()
        .enumerate()
        .map(|(index, g)| {
            serde_json::to_vec(&serde_json::json!({
                "page": {"report": id, "index": index, "count": count},
                "insights": g,
            }))
            .map_err(|e| PagingError::NotAReport(e.to_string()))
        })
        .collect()
}

/// `r-` and the first 16 hex digits of the report's SHA-256: the same file, the same id.
pub fn report_id(report: &[u8]) -> String {
    let digest = Sha256::digest(report);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("r-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use update_status_api::wire::Limits;

    fn discovery(max_body_bytes: u64, per_request: u32, pages: u32) -> Discovery {
        Discovery {
            api_versions: vec!["v1alpha1".into()],
            audience: "a".into(),
            limits: Limits {
                max_body_bytes,
                max_insights_per_report: per_request,
                max_uid_length: 63,
                max_summary_length: 256,
                max_description_length: 4096,
                max_reference_length: 512,
                max_pages_per_report: pages,
                max_insights_per_informer: 20_000,
                staged_report_ttl_seconds: 120,
                max_staged_bytes: 1 << 26,
            },
        }
    }

    fn report(n: usize) -> Vec<u8> {
        let insights: Vec<Value> = (0..n)
            .map(|i| serde_json::json!({"uid": format!("u-{i}"), "insight": {"type": "Health", "pad": "x".repeat(100)}}))
            .collect();
        serde_json::to_vec(&serde_json::json!({"insights": insights})).unwrap()
    }

    #[test]
    fn pages_respect_both_limits_and_keep_every_insight_in_order() {
        let body = report(100);
        for (bytes, count) in [(2_000, 1000), (1_000_000, 7)] {
            let pages = split(&body, &discovery(bytes, count, 100)).unwrap();
            let mut uids = Vec::new();
            for (i, p) in pages.iter().enumerate() {
                assert!(p.len() <= bytes as usize, "{} > {bytes}", p.len());
                let v: Value = serde_json::from_slice(p).unwrap();
                assert_eq!(v["page"]["index"], i);
                assert_eq!(v["page"]["count"], pages.len());
                assert_eq!(v["page"]["report"], report_id(&body));
                let page_insights = v["insights"].as_array().unwrap();
                assert!(page_insights.len() <= count as usize);
                uids.extend(
                    page_insights
                        .iter()
                        .map(|x| x["uid"].as_str().unwrap().to_owned()),
                );
            }
            let want: Vec<String> = (0..100).map(|i| format!("u-{i}")).collect();
            assert_eq!(uids, want);
        }
    }

    #[test]
    fn what_cannot_be_paged_is_refused_with_the_reason() {
        let body = report(100);
        assert_eq!(
            split(&body, &discovery(1_000_000, 7, 3)),
            Err(PagingError::TooManyPages { pages: 15, max: 3 })
        );
        assert!(matches!(
            split(&body, &discovery(200, 1000, 1000)),
            Err(PagingError::InsightTooLarge { index: 0, .. })
        ));
        assert!(matches!(
            split(b"[]", &discovery(200, 10, 10)),
            Err(PagingError::NotAReport(_))
        ));
        assert_ne!(report_id(&body), report_id(&report(99)));
    }
}
