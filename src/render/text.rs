//! Small Go-compatible text helpers that `oc`'s output depends on.

use update_status_api::time::Timestamp;

/// Go's `fmt.Sprintf("%.0f", value)`: the exact binary value rounded to an integer, halves to even.
pub(crate) fn format_0f(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    // Rust's `{:.0}` also rounds the exact binary value, halves to even.
    format!("{value:.0}")
}

/// `oc`'s percentage: `float64(part) / float64(total) * 100.0`, printed with `%.0f`.
pub(crate) fn percent(part: i64, total: i64) -> String {
    format_0f(part as f64 / total as f64 * 100.0)
}

/// `oc` shortens a ClusterOperator's Progressing reason to 20 runes: the first 17 and "...".
pub(crate) fn shorten_reason(reason: &str) -> String {
    if reason.chars().count() > 20 {
        let mut short: String = reason.chars().take(17).collect();
        short.push_str("...");
        short
    } else {
        reason.to_owned()
    }
}

/// `oc`'s `ellipsizeNames`: a node's own name inside its message becomes `<node>`, but only for names
/// of at least 8 bytes.
pub(crate) fn ellipsize_names(message: &str, name: &str) -> String {
    if name.len() < 8 {
        return message.to_owned();
    }
    message.replace(name, "<node>")
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z), which `oc` uses where a time is unknown.
pub(crate) fn go_zero_time() -> Timestamp {
    // Seconds from 0001-01-01 to the Unix epoch, as Go's `time.Time{}.Unix()` gives.
    const ZERO_UNIX_SECONDS: i128 = -62_135_596_800;
    Timestamp::from_nanos(ZERO_UNIX_SECONDS * 1_000_000_000)
        .unwrap_or_else(|_| Timestamp::from(jiff::Timestamp::MIN))
}

/// Go's `t.UTC().Format(time.RFC3339)`: whole seconds, `Z`.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_0f_rounds_half_to_even_like_go() {
        // Each pair was printed by Go's fmt with %.0f.
        let cases = [
            (0.5, "0"),
            (1.5, "2"),
            (2.5, "2"),
            (12.5, "12"),
            (37.5, "38"),
            (100.0 * 4.0 / 33.0, "12"),
            (100.0 * 32.0 / 33.0, "97"),
            (0.49999999999999994, "0"),
            (97.0, "97"),
        ];
        for (value, want) in cases {
            assert_eq!(format_0f(value), want, "{value}");
        }
        assert_eq!(format_0f(f64::NAN), "NaN");
    }

    #[test]
    fn percent_follows_oc_arithmetic() {
        assert_eq!(percent(4, 33), "12");
        assert_eq!(percent(1, 8), "12");
        assert_eq!(percent(22, 59), "37");
        assert_eq!(percent(0, 3), "0");
        assert_eq!(percent(0, 0), "NaN");
    }

    #[test]
    fn reasons_over_20_runes_are_shortened() {
        assert_eq!(shorten_reason("NodeInstaller"), "NodeInstaller");
        assert_eq!(
            shorten_reason("ExactlyTwentyRunes__"),
            "ExactlyTwentyRunes__"
        );
        assert_eq!(
            shorten_reason("DeploymentNotCompleted::NodeCADaemonUnavailable"),
            "DeploymentNotComp..."
        );
        assert_eq!(
            shorten_reason("ééééééééééééééééééééé"),
            "ééééééééééééééééé..."
        );
    }

    #[test]
    fn node_names_of_eight_bytes_or_more_are_ellipsized() {
        assert_eq!(
            ellipsize_names("failed to drain node: build0-x after 1 hour", "build0-x"),
            "failed to drain node: <node> after 1 hour"
        );
        assert_eq!(
            ellipsize_names("node short is bad", "short"),
            "node short is bad"
        );
    }

    #[test]
    fn zero_time_prints_like_go() {
        assert_eq!(rfc3339(go_zero_time()), "0001-01-01T00:00:00Z");
    }
}
