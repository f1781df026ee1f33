//! What the controller observed of each remote informer besides what the store holds: the latest
//! refusals of its reports (for its UpdateInformer's `recentRejections`) and how many of its
//! insights the last status built for publication left out (`omittedInsights`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    ConditionReason, InformerName, MAX_RECENT_REJECTIONS, RecentRejection, RejectionMessage,
};

/// Per-informer observations, shared by the report handler (which records) and the
/// UpdateInformer status writer (which reads).
#[derive(Debug, Default)]
pub struct Observed {
    rejections: Mutex<BTreeMap<InformerName, VecDeque<RecentRejection>>>,
    /// `None` until a status has been built for publication.
    omitted: Mutex<Option<BTreeMap<InformerName, usize>>>,
}

impl Observed {
    /// Records refusals of `informer`'s report at `now`: `reason` is the API's error reason
    /// (`InsightRejected` for one insight), each message one refusal. Only the newest
    /// [`MAX_RECENT_REJECTIONS`] are kept, and only the first of a report's many.
    pub fn record_rejections<I>(
        &self,
        informer: &InformerName,
        now: Timestamp,
        reason: &str,
        messages: I,
    ) where
        I: IntoIterator<Item = String>,
    {
        let Ok(reason) = ConditionReason::new(reason) else {
            return;
        };
        let time = now.truncated_to_seconds();
        let fresh: Vec<RecentRejection> = messages
            .into_iter()
            .take(MAX_RECENT_REJECTIONS)
            .map(|m| RecentRejection {
                time,
                reason: reason.clone(),
                message: rejection_message(&m),
            })
            .collect();
        if fresh.is_empty() {
            return;
        }
        let Ok(mut all) = self.rejections.lock() else {
            return;
        };
        let list = all.entry(informer.clone()).or_default();
        // Newest first; a report's own refusals keep their order.
        for r in fresh.into_iter().rev() {
            list.push_front(r);
        }
        list.truncate(MAX_RECENT_REJECTIONS);
    }

    /// The newest refusals of `informer`'s reports seen by this process, newest first.
    pub fn recent_rejections(&self, informer: &InformerName) -> Vec<RecentRejection> {
        self.rejections
            .lock()
            .ok()
            .and_then(|all| all.get(informer).map(|l| l.iter().cloned().collect()))
            .unwrap_or_default()
    }

    /// Records what the status built for publication left out, per informer.
    pub fn set_omitted(&self, omitted: BTreeMap<InformerName, usize>) {
        if let Ok(mut o) = self.omitted.lock() {
            *o = Some(omitted);
        }
    }

    /// How many of `informer`'s insights the last status built for publication left out;
    /// `None` before one was built.
    pub fn omitted(&self, informer: &InformerName) -> Option<usize> {
        self.omitted
            .lock()
            .ok()
            .and_then(|o| o.as_ref().map(|m| m.get(informer).copied().unwrap_or(0)))
    }
}

/// The longest message kept, in characters.
const MAX_MESSAGE_CHARS: usize = RejectionMessage::MAX_LEN;

/// `message` as a [`RejectionMessage`]: control characters (it may quote the producer's input)
/// become spaces, and it is cut to [`MAX_MESSAGE_CHARS`] characters.
pub fn rejection_message(message: &str) -> RejectionMessage {
    let clean: String = message
        .chars()
        .map(|c| {
            if update_status_api::constraints::is_forbidden_in_text(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let cut = match clean.char_indices().nth(MAX_MESSAGE_CHARS - 1) {
        Some((at, _)) => format!("{}…", &clean[..at]),
        None => clean,
    };
    RejectionMessage::new(cut.trim())
        .or_else(|_| RejectionMessage::new("(no message)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn only_the_newest_five_are_kept_newest_first_to_the_second() {
        let o = Observed::default();
        let name = InformerName::new("storage").unwrap();
        o.record_rejections(
            &name,
            t("2026-01-01T00:00:00.5Z"),
            "MalformedReport",
            ["old".to_owned()],
        );
        o.record_rejections(
            &name,
            t("2026-01-01T00:01:00Z"),
            "InsightRejected",
            (0..9).map(|i| format!("insight {i}")),
        );
        let recent = o.recent_rejections(&name);
        assert_eq!(recent.len(), MAX_RECENT_REJECTIONS);
        assert_eq!(recent[0].message.as_str(), "insight 0");
        assert_eq!(recent[4].message.as_str(), "insight 4");
        o.record_rejections(
            &name,
            t("2026-01-01T00:02:00.9Z"),
            "TooManyInsights",
            ["new".to_owned()],
        );
        let recent = o.recent_rejections(&name);
        assert_eq!(recent[0].message.as_str(), "new");
        assert_eq!(recent[0].time, t("2026-01-01T00:02:00Z"));
        assert!(
            o.recent_rejections(&InformerName::new("other").unwrap())
                .is_empty()
        );
    }

    #[test]
    fn messages_are_one_bounded_line() {
        let m = rejection_message("a\u{1b}[2J\nb\u{85}");
        assert_eq!(m.as_str(), "a [2J b");
        let long = rejection_message(&"x".repeat(5000));
        assert_eq!(long.chars().count(), MAX_MESSAGE_CHARS);
        assert_eq!(rejection_message("\n").as_str(), "(no message)");
    }

    #[test]
    fn omitted_is_unknown_until_a_status_was_built() {
        let o = Observed::default();
        let name = InformerName::new("storage").unwrap();
        assert_eq!(o.omitted(&name), None);
        o.set_omitted(BTreeMap::from([(name.clone(), 3)]));
        assert_eq!(o.omitted(&name), Some(3));
        assert_eq!(o.omitted(&InformerName::new("other").unwrap()), Some(0));
    }
}
