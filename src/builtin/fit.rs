//! Fitting cluster text into the API's constrained strings. A real cluster's messages can be long
//! or carry control characters; an insight must still be produced, so text is cleaned and cut
//! (on a character boundary, ending in "…") instead of being dropped or causing a panic.

use update_status_api::constraints::is_forbidden_in_text;
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    ApiGroup, Condition, ConditionMessage, ConditionStatus, ConditionType, ObjectName, Paragraph,
    Reason, RefName, ResourceName, ResourceRef, ShortText, Url, Version,
};

/// What marks text that was cut to fit.
const ELLIPSIS: char = '…';

/// Replaces the characters the API refuses (C0 controls, DEL, C1 controls, bidi controls,
/// zero-width and tag characters; line feeds too unless `multi_line`) with spaces, and drops
/// carriage returns so CRLF text keeps its lines.
pub fn clean(text: &str, multi_line: bool) -> String {
    text.chars()
        .filter(|&c| c != '\r')
        .map(|c| {
            let forbidden = is_forbidden_in_text(c) && !(multi_line && c == '\n');
            if forbidden { ' ' } else { c }
        })
        .collect()
}

/// Cuts `text` to at most `max` characters, marking the cut with "…".
pub fn truncate(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let keep = max.saturating_sub(1);
    let mut out: String = text.chars().take(keep).collect();
    if max > 0 {
        out.push(ELLIPSIS);
    }
    out
}

/// One line of table text; `None` when there is nothing to say.
pub fn short_text(text: &str) -> Option<ShortText> {
    let t = truncate(clean(text, false), ShortText::MAX_LEN);
    if t.trim().is_empty() {
        return None;
    }
    ShortText::new(t).ok()
}

/// A paragraph (line feeds kept).
pub fn paragraph(text: &str) -> Paragraph {
    Paragraph::new(truncate(clean(text, true), Paragraph::MAX_LEN)).unwrap_or_default()
}

/// A paragraph, or `None` for empty text.
pub fn non_empty_paragraph(text: &str) -> Option<Paragraph> {
    (!text.is_empty()).then(|| paragraph(text))
}

/// A condition message (line feeds kept).
pub fn condition_message(text: &str) -> ConditionMessage {
    ConditionMessage::new(truncate(clean(text, true), ConditionMessage::MAX_LEN))
        .unwrap_or_default()
}

/// A CamelCase reason. A reason the API would refuse (an operator may use any text) keeps its
/// letters, digits, `_`, `,` and `:`, so the gist survives; empty stays empty.
pub fn reason(text: &str) -> Reason {
    if let Ok(r) = Reason::new(text) {
        return r;
    }
    let kept: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ',' | ':'))
        .skip_while(|c| !c.is_ascii_alphabetic())
        .take(Reason::MAX_LEN)
        .collect();
    let kept = kept.trim_end_matches([',', ':']);
    Reason::new(kept).unwrap_or_default()
}

/// The name of an object as the API accepts it. Kubernetes names always fit; anything else is
/// lower-cased with other characters replaced by `-`, so an insight is still produced.
pub fn object_name(name: &str) -> ObjectName {
    if let Ok(n) = ObjectName::new(name) {
        return n;
    }
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(ObjectName::MAX_LEN)
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    ObjectName::new(trimmed)
        .or_else(|_| ObjectName::new("unknown"))
        .unwrap_or_default()
}

/// A release version, or `None` when empty or not a semantic version.
pub fn version(text: &str) -> Option<Version> {
    Version::new(text).ok()
}

/// A documentation or runbook link, or `None` when it is not an http(s) URL.
pub fn url(text: &str) -> Option<Url> {
    Url::new(text).ok()
}

/// A reference to an object, or to something a health insight is about.
pub fn resource_ref(group: &str, resource: &str, name: &str, namespace: &str) -> ResourceRef {
    ResourceRef {
        group: (!group.is_empty())
            .then(|| ApiGroup::new(group).ok())
            .flatten(),
        resource: ResourceName::new(resource).unwrap_or_default(),
        name: RefName::new(truncate(
            clean(name, false).replace('/', "-"),
            RefName::MAX_LEN,
        ))
        .or_else(|_| RefName::new("unknown"))
        .unwrap_or_default(),
        namespace: (!namespace.is_empty())
            .then(|| ObjectName::new(namespace).ok())
            .flatten(),
    }
}

/// A condition built from cluster text, cleaned to fit.
pub fn condition(
    type_: &str,
    status: ConditionStatus,
    last_transition_time: Timestamp,
    reason_text: &str,
    message: &str,
) -> Condition {
    Condition {
        type_: ConditionType::new(type_).unwrap_or_default(),
        status,
        last_transition_time,
        reason: reason(reason_text),
        message: condition_message(message),
        observed_generation: None,
    }
}

/// A count as the API holds it, capped at its maximum rather than refused.
pub fn count(n: usize) -> update_status_api::v1alpha1::NodeCount {
    use update_status_api::v1alpha1::NodeCount;
    NodeCount::new(
        i32::try_from(n)
            .unwrap_or(NodeCount::MAX)
            .min(NodeCount::MAX),
    )
    .unwrap_or_default()
}

/// `%.0f` of `part / whole × 100` as Go prints it (round half to even); `None` when `whole` is 0.
pub fn percent(part: usize, whole: usize) -> Option<i32> {
    if whole == 0 {
        return None;
    }
    let p = part as f64 / whole as f64 * 100.0;
    Some(p.round_ties_even() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_an_ellipsis() {
        let long = "é".repeat(300);
        let s = short_text(&long).unwrap();
        assert_eq!(s.chars().count(), ShortText::MAX_LEN);
        assert!(s.ends_with('…'));
        let p = paragraph(&"ü\n".repeat(5000));
        assert_eq!(p.chars().count(), Paragraph::MAX_LEN);
        assert_eq!(truncate("abc".into(), 3), "abc");
        assert_eq!(truncate("abcd".into(), 3), "ab…");
    }

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(clean("a\tb\r\nc\u{1b}[0m\u{9b}", true), "a b\nc [0m ");
        assert_eq!(clean("a\nb", false), "a b");
        assert!(short_text("  \t ").is_none());
        assert_eq!(short_text("line1\nline2").unwrap().as_str(), "line1 line2");
    }

    #[test]
    fn reasons_keep_their_gist() {
        assert_eq!(
            reason("EtcdEndpoints_Error::Members").as_str(),
            "EtcdEndpoints_Error::Members"
        );
        assert_eq!(reason("").as_str(), "");
        assert_eq!(reason("Not ready - 5 nodes").as_str(), "Notready5nodes");
        assert_eq!(reason("123 go:").as_str(), "go");
        assert_eq!(reason(&"A".repeat(2000)).len(), Reason::MAX_LEN);
    }

    #[test]
    fn names_and_refs_always_fit() {
        assert_eq!(
            object_name("ip-10-0-1-2.ec2.internal").as_str(),
            "ip-10-0-1-2.ec2.internal"
        );
        assert_eq!(object_name("My_Node").as_str(), "my-node");
        assert_eq!(object_name("__").as_str(), "unknown");
        let r = resource_ref("", "nodes", "n1", "");
        assert!(r.group.is_none() && r.namespace.is_none());
        let r = resource_ref("config.openshift.io", "alerts", "A/B", "ns");
        assert_eq!(r.name.as_str(), "A-B");
        assert_eq!(r.namespace.unwrap().as_str(), "ns");
    }

    #[test]
    fn percent_rounds_half_to_even_like_go() {
        assert_eq!(percent(32, 33), Some(97));
        assert_eq!(percent(1, 33), Some(3));
        assert_eq!(percent(4, 33), Some(12));
        assert_eq!(percent(1, 8), Some(12)); // 12.5 → 12
        assert_eq!(percent(3, 8), Some(38)); // 37.5 → 38
        assert_eq!(percent(0, 0), None);
        assert_eq!(percent(22, 59), Some(37));
    }
}
