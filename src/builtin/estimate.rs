//! How long the control-plane update will take, exactly as `oc` estimates it
//! (`baselineDuration`, `timewiseComplete`, `estimateCompletion` in controlplane.go). The float
//! arithmetic follows Go's operation order so results agree to the second.

use update_status_api::time::GoDuration;

use crate::cluster::openshift::{HISTORY_COMPLETED, UpdateHistory};

const HOUR: GoDuration = GoDuration::from_nanos(GoDuration::HOUR);
const SECOND: GoDuration = GoDuration::from_nanos(GoDuration::SECOND);
const MINUTE: GoDuration = GoDuration::from_nanos(GoDuration::MINUTE);

/// Go's `Duration.Seconds()`: whole seconds plus the fraction, computed separately.
pub fn go_seconds(d: GoDuration) -> f64 {
    let n = d.as_nanos();
    let secs = n / GoDuration::SECOND;
    let nsec = n % GoDuration::SECOND;
    secs as f64 + nsec as f64 / 1e9
}

/// How long a previous update took: the first `Completed` entry between the current update and
/// the last entry (assumed to be the installation); one hour when there is none.
pub fn baseline_duration(history: &[UpdateHistory]) -> GoDuration {
    if history.len() < 3 {
        return HOUR;
    }
    let middle = history.get(1..history.len() - 1).unwrap_or(&[]);
    for item in middle {
        if item.state == HISTORY_COMPLETED {
            // A Completed entry without times measures as Go's zero times do.
            let zero = crate::cluster::go_zero_time();
            let completed = item.completion_time.unwrap_or(zero);
            let started = item.started_time.unwrap_or(zero);
            return completed.since(started);
        }
    }
    HOUR
}

/// The share of the update's time that has passed when `co_completion` of the operators are
/// updated: three polynomials curve-fitted on the b01 cluster.
pub fn timewise_complete(co_completion: f64) -> f64 {
    let x = co_completion;
    // math.Pow(x, n) for a small integer n squares repeatedly: x² = x·x, x³ = x·x², x⁴ = x²·x².
    let x2 = x * x;
    let x3 = x * x2;
    let x4 = x2 * x2;
    if co_completion < 0.25 {
        -0.03078788 + 2.62886 * x - 3.823954 * x2
    } else if co_completion < 0.9 {
        0.1851215 + 1.64994 * x - 4.676898 * x2 + 5.451824 * x3 - 2.125286 * x4
    } else {
        25053.32 - 107394.3 * x + 172527.2 * x2 - 123107.0 * x3 + 32921.81 * x4
    }
}

/// The time left: extrapolated from the time to the last observed progress when there is enough
/// signal, else the baseline; overestimated by 1.2 (or underestimated when late); rounded to the
/// minute above 10 minutes, else to the second. Zero when every operator is updated.
pub fn estimate_completion(
    baseline: GoDuration,
    to_last_observed_progress: GoDuration,
    updating_for: GoDuration,
    co_completion: f64,
) -> GoDuration {
    if co_completion >= 1.0 {
        return GoDuration::default();
    }
    let completion = timewise_complete(co_completion);
    let estimate_total_seconds = if co_completion > 0.0
        && completion > 0.0
        && to_last_observed_progress > GoDuration::from_mins(5)
    {
        go_seconds(to_last_observed_progress) / completion
    } else {
        go_seconds(baseline)
    };
    let remaining_seconds = estimate_total_seconds - go_seconds(updating_for);
    let overestimate = if remaining_seconds < 0.0 {
        1.0 / 1.2
    } else {
        1.2
    };
    // time.Duration(float) truncates toward zero; then whole seconds.
    let whole_seconds = (remaining_seconds * overestimate) as i64;
    let eta = GoDuration::from_secs(whole_seconds);
    if eta > GoDuration::from_mins(10) {
        eta.round(MINUTE)
    } else {
        eta.round(SECOND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(mins: i64) -> GoDuration {
        GoDuration::from_mins(mins)
    }

    /// Every anchor row of `TestEstimateCompletion` (the reference's estimate table).
    #[test]
    fn estimate_table_anchors() {
        let rows: &[(f64, GoDuration, GoDuration, GoDuration, &str)] = &[
            (0.0, m(60), m(30), m(30), "36m0s"),
            (0.0, m(60), m(30), m(31), "35m0s"),
            (0.2, m(60), m(30), m(30), "1h9m0s"),
            (0.2, m(60), m(30), m(35), "1h3m0s"),
            (0.75, m(60), m(30), m(30), "50m0s"),
            (0.99, m(60), m(20), m(20), "4m50s"),
            (0.05, m(80), m(4), m(10), "1h24m0s"),
            (1.0, m(60), m(30), m(30), "0s"),
        ];
        for (c, baseline, to_last, updating_for, want) in rows {
            let got = estimate_completion(*baseline, *to_last, *updating_for, *c);
            assert_eq!(
                got.to_string(),
                *want,
                "c={c} toLast={to_last} for={updating_for}"
            );
        }
    }

    #[test]
    fn late_updates_get_negative_estimates_shrunk_by_the_overestimate() {
        // Baseline 1h, 2h in: remaining -3600s / 1.2 = -3000s = -50m.
        let eta = estimate_completion(m(60), m(1), m(120), 0.1);
        assert_eq!(eta, m(-50));
    }

    #[test]
    fn timewise_complete_pieces() {
        assert!(timewise_complete(0.0) < 0.0);
        assert!((timewise_complete(0.2) - 0.342_025_96).abs() < 1e-9);
        let at_97 = timewise_complete(0.97);
        assert!(at_97 > 0.5 && at_97 < 0.8, "{at_97}");
    }

    fn entry(state: &str, start: &str, end: Option<&str>) -> UpdateHistory {
        UpdateHistory {
            state: state.into(),
            started_time: Some(start.parse().unwrap()),
            completion_time: end.map(|e| e.parse().unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn baseline_skips_the_current_update_and_the_installation() {
        let cur = entry("Partial", "2024-01-01T10:00:00Z", None);
        let partial = entry("Partial", "2024-01-01T08:00:00Z", None);
        let done = entry(
            "Completed",
            "2024-01-01T06:00:00Z",
            Some("2024-01-01T07:12:22Z"),
        );
        let install = entry(
            "Completed",
            "2024-01-01T00:00:00Z",
            Some("2024-01-01T05:00:00Z"),
        );
        assert_eq!(baseline_duration(&[cur.clone(), install.clone()]), HOUR);
        assert_eq!(
            baseline_duration(&[cur.clone(), partial.clone(), done, install.clone()]).to_string(),
            "1h12m22s"
        );
        assert_eq!(baseline_duration(&[cur, partial, install]), HOUR);
    }

    #[test]
    fn go_seconds_splits_whole_and_fraction() {
        assert_eq!(go_seconds(GoDuration::from_nanos(1_500_000_000)), 1.5);
        assert_eq!(go_seconds(GoDuration::from_nanos(-1_500_000_000)), -1.5);
    }
}
