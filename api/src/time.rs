//! Points in time and spans of time, as they appear on the wire.
//!
//! `metav1.Time` keeps only whole seconds. Insights keep nanoseconds, because a renderer that
//! works from the object alone must reproduce durations exactly as `oc` computes them.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant, written as RFC 3339 with a fractional part only when it is not zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub jiff::Timestamp);

impl Timestamp {
    /// The instant `nanos` nanoseconds after the Unix epoch.
    pub fn from_nanos(nanos: i128) -> Result<Self, jiff::Error> {
        jiff::Timestamp::from_nanosecond(nanos).map(Self)
    }

    /// Nanoseconds since the Unix epoch.
    pub fn as_nanos(self) -> i128 {
        self.0.as_nanosecond()
    }

    /// The signed span `self - earlier`, saturating at the limits of [`GoDuration`].
    pub fn since(self, earlier: Timestamp) -> GoDuration {
        let nanos = self.as_nanos() - earlier.as_nanos();
        GoDuration::from_nanos(nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// `self + d`, saturating at the limits jiff can represent.
    pub fn plus(self, d: GoDuration) -> Timestamp {
        let nanos = self.as_nanos() + i128::from(d.as_nanos());
        jiff::Timestamp::from_nanosecond(nanos)
            .map(Self)
            .unwrap_or(self)
    }

    /// The instant with its fraction of a second dropped, as `metav1.Time` keeps it.
    pub fn truncated_to_seconds(self) -> Timestamp {
        let nanos = self.as_nanos();
        let second = i128::from(GoDuration::SECOND);
        Self::from_nanos(nanos - nanos.rem_euclid(second)).unwrap_or(self)
    }

    /// RFC 3339 in whole seconds (`2024-02-27T15:42:58Z`), as Go's `time.RFC3339` prints.
    pub fn to_rfc3339_seconds(self) -> String {
        jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", self.0)
            .unwrap_or_else(|_| self.to_string())
    }
}

impl From<jiff::Timestamp> for Timestamp {
    fn from(t: jiff::Timestamp) -> Self {
        Self(t)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The earliest instant RFC 3339 can write, `0000-01-01T00:00:00Z`.
const EARLIEST_RFC3339: jiff::Timestamp = jiff::Timestamp::constant(-62_167_219_200, 0);

impl FromStr for Timestamp {
    type Err = jiff::Error;
    /// RFC 3339 text. An instant before the year 0000 is refused: jiff reads one (from
    /// `-000001-01-01T00:00:00Z`, or `0000-01-01T00:00:00+01:00`) but writes it with a signed
    /// six-digit year, which the API server's `date-time` format refuses, so one such time in a
    /// report would make the whole UpgradeStatus unpublishable.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.parse::<jiff::Timestamp>()?;
        if t < EARLIEST_RFC3339 {
            return Err(jiff::Error::from_args(format_args!(
                "{t} is before the year 0000"
            )));
        }
        Ok(Self(t))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        s.parse().map_err(|e| {
            serde::de::Error::custom(format!(
                "must be an RFC 3339 time such as 2024-02-27T15:42:58Z: {e}"
            ))
        })
    }
}

impl JsonSchema for Timestamp {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "date-time"})
    }
}

/// A span of time in Go's `time.Duration` text form (`1h2m3s`, `10m0s`, `368.975µs`), because
/// that is how OpenShift APIs and `oc` write durations.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(i64);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {why} (write it as Go does, for example 90s, 10m or 1h30m)")]
pub struct DurationError {
    input: String,
    why: &'static str,
}

impl GoDuration {
    /// One nanosecond.
    pub const NANOSECOND: i64 = 1;
    /// One second in nanoseconds.
    pub const SECOND: i64 = 1_000_000_000;
    /// One minute in nanoseconds.
    pub const MINUTE: i64 = 60 * Self::SECOND;
    /// One hour in nanoseconds.
    pub const HOUR: i64 = 60 * Self::MINUTE;
    /// The schema pattern: one or more number-unit pairs, or a bare `0`; never negative.
    pub const PATTERN: &'static str =
        r"^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";

    /// A span of `nanos` nanoseconds (negative spans are allowed in computations).
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// A span of whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(Self::SECOND))
    }

    /// A span of whole minutes.
    pub const fn from_mins(mins: i64) -> Self {
        Self(mins.saturating_mul(Self::MINUTE))
    }

    /// The span in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// The span in seconds, with the fraction.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / Self::SECOND as f64
    }

    /// Go's `Duration.Round(m)`: halfway values round away from zero.
    pub fn round(self, m: GoDuration) -> GoDuration {
        let m = m.0;
        if m <= 0 {
            return self;
        }
        let d = self.0;
        let mut r = d % m;
        if d < 0 {
            r = -r;
            if r + r < m {
                return Self(d + r);
            }
            return Self(d.checked_sub(m - r).map_or(i64::MIN, |v| v));
        }
        if r + r < m {
            return Self(d - r);
        }
        Self(d.checked_add(m - r).map_or(i64::MAX, |v| v))
    }

    /// Go's `Duration.Truncate(m)`: rounds toward zero.
    pub fn truncate(self, m: GoDuration) -> GoDuration {
        if m.0 <= 0 {
            self
        } else {
            Self(self.0 - self.0 % m.0)
        }
    }
}

impl fmt::Display for GoDuration {
    /// Exactly Go's `Duration.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let u = self.0.unsigned_abs();
        let mut out = String::new();
        if u == 0 {
            return f.write_str("0s");
        }
        if u < Self::SECOND as u64 {
            let (prec, unit) = if u < 1_000 {
                (0, "ns")
            } else if u < 1_000_000 {
                (3, "µs")
            } else {
                (6, "ms")
            };
            let (int, frac) = split_fraction(u, prec);
            out.push_str(&int.to_string());
            out.push_str(&frac);
            out.push_str(unit);
        } else {
            let (secs, frac) = split_fraction(u, 9);
            let (mins, s) = (secs / 60, secs % 60);
            let (hours, m) = (mins / 60, mins % 60);
            if hours > 0 {
                out.push_str(&format!("{hours}h{m}m"));
            } else if mins > 0 {
                out.push_str(&format!("{m}m"));
            }
            out.push_str(&format!("{s}{frac}s"));
        }
        if neg {
            f.write_str("-")?;
        }
        f.write_str(&out)
    }
}

/// Splits `v` into `v / 10^prec` and the fraction as `.ddd` without trailing zeros (or "").
fn split_fraction(v: u64, prec: u32) -> (u64, String) {
    let scale = 10u64.pow(prec);
    let (int, frac) = (v / scale, v % scale);
    if frac == 0 {
        return (int, String::new());
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    (int, format!(".{}", digits.trim_end_matches('0')))
}

impl fmt::Debug for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for GoDuration {
    type Err = DurationError;

    /// Go's `time.ParseDuration`, without the sign: negative spans are never valid input here.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |why| DurationError {
            input: input.to_owned(),
            why,
        };
        if input == "0" {
            return Ok(Self(0));
        }
        if input.is_empty() {
            return Err(err("it is empty"));
        }
        let mut rest = input;
        let mut total: u128 = 0;
        while !rest.is_empty() {
            let int_end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let (int_part, after_int) = rest.split_at(int_end);
            let (frac_part, after_num) = match after_int.strip_prefix('.') {
                Some(r) => {
                    let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                    r.split_at(end)
                }
                None => ("", after_int),
            };
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(err("expected a number"));
            }
            let unit_end = after_num
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after_num.len());
            let (unit, next) = after_num.split_at(unit_end);
            let scale: u128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                "" => return Err(err("a number is missing its unit")),
                _ => return Err(err("unknown unit")),
            };
            let int: u128 = if int_part.is_empty() {
                0
            } else {
                int_part.parse().map_err(|_| err("number too large"))?
            };
            let mut value = int.checked_mul(scale).ok_or_else(|| err("too large"))?;
            let mut place = scale;
            for digit in frac_part.bytes() {
                place /= 10;
                if place == 0 {
                    break;
                }
                value += u128::from(digit - b'0') * place;
            }
            total = total.checked_add(value).ok_or_else(|| err("too large"))?;
            rest = next;
        }
        i64::try_from(total).map(Self).map_err(|_| err("too large"))
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for GoDuration {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "GoDuration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "maxLength": 64, "pattern": Self::PATTERN})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (368_975, "368.975µs"),
            (2_200_000, "2.2ms"),
            (GoDuration::SECOND, "1s"),
            (GoDuration::SECOND + 500_000_000, "1.5s"),
            (10 * GoDuration::MINUTE, "10m0s"),
            (GoDuration::HOUR, "1h0m0s"),
            (
                GoDuration::HOUR + 2 * GoDuration::MINUTE + 3 * GoDuration::SECOND,
                "1h2m3s",
            ),
            (-90 * GoDuration::SECOND, "-1m30s"),
            (
                6 * GoDuration::MINUTE + 8 * GoDuration::SECOND + 975,
                "6m8.000000975s",
            ),
        ];
        for (nanos, want) in cases {
            assert_eq!(GoDuration::from_nanos(*nanos).to_string(), *want);
        }
    }

    #[test]
    fn parses_like_go_and_round_trips() {
        for s in [
            "0",
            "0s",
            "10m0s",
            "1h2m3s",
            "1.5s",
            "368.975µs",
            "1h",
            "90s",
            ".5s",
            "1us",
        ] {
            let d: GoDuration = s.parse().unwrap();
            let again: GoDuration = d.to_string().parse().unwrap();
            assert_eq!(d, again, "{s}");
        }
        assert_eq!(
            "1h30m".parse::<GoDuration>().unwrap(),
            GoDuration::from_mins(90)
        );
        for bad in ["", "1", "-1s", "1x", "s", "1h ", "1e3s"] {
            assert!(bad.parse::<GoDuration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rounds_half_away_from_zero_and_truncates_toward_zero() {
        let s = GoDuration::from_secs(1);
        assert_eq!(
            GoDuration::from_nanos(1_500_000_000).round(s),
            GoDuration::from_secs(2)
        );
        assert_eq!(
            GoDuration::from_nanos(-1_500_000_000).round(s),
            GoDuration::from_secs(-2)
        );
        assert_eq!(
            GoDuration::from_nanos(1_499_999_999).round(s),
            GoDuration::from_secs(1)
        );
        assert_eq!(
            GoDuration::from_nanos(-1_900_000_000).truncate(s),
            GoDuration::from_secs(-1)
        );
    }

    #[test]
    fn timestamps_keep_nanoseconds_and_print_go_rfc3339() {
        let t: Timestamp = "2024-02-27T15:42:58.000368975Z".parse().unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2024-02-27T15:42:58.000368975Z\""
        );
        assert_eq!(t.to_rfc3339_seconds(), "2024-02-27T15:42:58Z");
        let whole: Timestamp = "2024-02-27T15:42:58Z".parse().unwrap();
        assert_eq!(
            serde_json::to_string(&whole).unwrap(),
            "\"2024-02-27T15:42:58Z\""
        );
        assert_eq!(t.since(whole), GoDuration::from_nanos(368_975));
    }

    #[test]
    fn timestamps_before_the_year_0000_are_refused() {
        let earliest: Timestamp = "0000-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(earliest.0, EARLIEST_RFC3339);
        assert_eq!(
            serde_json::to_string(&earliest).unwrap(),
            "\"0000-01-01T00:00:00Z\""
        );
        for bad in [
            "-000001-01-01T00:00:00Z",
            "-009999-06-01T00:00:00Z",
            "0000-01-01T00:00:00+01:00",
            "0000-01-01T00:00:00.5+00:01",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
            assert!(
                serde_json::from_str::<Timestamp>(&format!("\"{bad}\"")).is_err(),
                "{bad}"
            );
        }
    }
}
