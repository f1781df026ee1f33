//! `oc`'s `shortDuration`: Go's `Duration.String()` with zero minutes and seconds cut off, fractions
//! dropped, and zero written as "now".
//!
//! It keeps `oc`'s quirk for sub-second spans: the text before the "." is re-read in *seconds*, so
//! 368.975µs prints as "6m8s".

use update_status_api::time::GoDuration;

/// Formats `d` exactly as `oc`'s `shortDuration` does.
pub(crate) fn short_duration(d: GoDuration) -> String {
    let orig = d.to_string();
    if orig == "0h0m0s" || orig == "0s" {
        return "now".to_owned();
    }
    if let Some(hours) = orig.strip_suffix("h0m0s") {
        return format!("{hours}h");
    }
    if let Some(rest) = orig.strip_suffix("m0s") {
        return format!("{rest}m");
    }
    if let Some(rest) = orig.strip_suffix("h0m") {
        return format!("{rest}h");
    }
    if let Some((whole, _)) = orig.split_once('.') {
        return match parse_signed(&format!("{whole}s")) {
            Some(again) => short_duration(again),
            None => orig,
        };
    }
    orig
}

/// Go's `time.ParseDuration`, which (unlike [`GoDuration`]'s parser) accepts a sign.
fn parse_signed(text: &str) -> Option<GoDuration> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let d: GoDuration = unsigned.parse().ok()?;
    Some(if negative {
        GoDuration::from_nanos(d.as_nanos().checked_neg()?)
    } else {
        d
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(nanos: i64) -> String {
        short_duration(GoDuration::from_nanos(nanos))
    }

    const S: i64 = GoDuration::SECOND;
    const M: i64 = GoDuration::MINUTE;
    const H: i64 = GoDuration::HOUR;

    #[test]
    fn zero_is_now() {
        assert_eq!(short(0), "now");
    }

    #[test]
    fn cuts_zero_minutes_and_seconds() {
        assert_eq!(short(H), "1h");
        assert_eq!(short(10 * M), "10m");
        assert_eq!(short(H + 12 * M), "1h12m");
        assert_eq!(short(H + 24 * M), "1h24m");
        assert_eq!(short(53 * M), "53m");
    }

    #[test]
    fn keeps_seconds() {
        assert_eq!(short(M + 29 * S), "1m29s");
        assert_eq!(short(24 * H + 8 * M + 54 * S), "24h8m54s");
        assert_eq!(short(H + 17 * S), "1h0m17s");
        assert_eq!(short(6 * S), "6s");
    }

    #[test]
    fn sub_second_quirk_reads_microseconds_as_seconds() {
        // 368.975µs -> "368" + "s" -> 6m8s, as oc prints kube-apiserver's SINCE in 4.15.0-ec2-early.
        assert_eq!(short(368_975), "6m8s");
        assert_eq!(short(1_500), "1s");
        assert_eq!(short(2_200_000), "2s");
        assert_eq!(short(368_000), "368µs");
        assert_eq!(short(500), "500ns");
    }

    #[test]
    fn fractions_of_longer_spans_are_dropped() {
        assert_eq!(short(21 * M + 20 * S + 368_975), "21m20s");
        assert_eq!(short(H + 4 * M + 41 * S + 368_975), "1h4m41s");
        assert_eq!(short(5 * M + 500_000_000), "5m");
        assert_eq!(short(H + 500_000_000), "1h");
    }

    #[test]
    fn negative_spans_keep_their_sign() {
        assert_eq!(short(-90 * S), "-1m30s");
        assert_eq!(short(-10 * M), "-10m");
        assert_eq!(short(-(S + 500_000_000)), "-1s");
    }
}
