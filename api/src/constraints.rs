//! Constrained value types: each one states its limits once, and those limits are used both for
//! the CRD's OpenAPI schema and for deserializing what a producer sends. This is how the schema a
//! real API server enforces and the controller's own validation can never drift apart.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The invisible characters refused in every text field, as a regex class body: every format
/// character (Unicode category Cf, Unicode 16) — bidi embeddings, overrides, isolates and marks
/// (U+061C, U+200E/F, U+202A–E, U+2066–9), zero-width characters (U+200B–D, U+2060–4, U+FEFF),
/// the soft hyphen and the tag characters (U+E0000–E007F) — and the line and paragraph
/// separators (U+2028/9, categories Zl/Zp). They reorder or hide text in terminals and the
/// console (Trojan Source). Listed by code point rather than as `\p{Cf}` so the API server's
/// regex engine and this crate's, with their different Unicode versions, refuse the same set;
/// a test checks the list against the `regex` crate's own `\p{Cf}`.
macro_rules! invisible {
    () => {
        r"\x{ad}\x{600}-\x{605}\x{61c}\x{6dd}\x{70f}\x{890}-\x{891}\x{8e2}\x{180e}\x{200b}-\x{200f}\x{2028}-\x{202e}\x{2060}-\x{2064}\x{2066}-\x{206f}\x{feff}\x{fff9}-\x{fffb}\x{110bd}\x{110cd}\x{13430}-\x{1343f}\x{1bca0}-\x{1bca3}\x{1d173}-\x{1d17a}\x{e0000}-\x{e007f}"
    };
}

/// Characters that must never reach a terminal: C0 controls, DEL, C1 controls and the
/// invisible characters above.
pub const SINGLE_LINE_PATTERN: &str = concat!(r"^[^\x00-\x1f\x7f-\x9f", invisible!(), r"]*$");
/// As [`SINGLE_LINE_PATTERN`] but allowing line feeds, for paragraphs.
pub const MULTI_LINE_PATTERN: &str =
    concat!(r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f", invisible!(), r"]*$");
/// RFC 1123 label, the form of Kubernetes names, insight uids and informer names.
pub const DNS_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// RFC 1123 subdomain (a dotted series of labels), the form of API groups and most object names.
pub const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// An anchored semantic version, as OpenShift release versions are (`4.15.0-ec.2`).
pub const SEMVER_PATTERN: &str = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$";
/// A condition type: an optional DNS subdomain prefix and a name, as in `metav1.Condition`.
pub const CONDITION_TYPE_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$";
/// A condition reason: CamelCase, as in `metav1.Condition`; empty when the source gave none.
pub const REASON_PATTERN: &str = r"^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?)?$";
/// A name that is no path: no `/`, no control or invisible characters, not empty.
pub const REF_NAME_PATTERN: &str = concat!(r"^[^/\x00-\x1f\x7f-\x9f", invisible!(), r"]+$");
/// An absolute http(s) URL without spaces, control or invisible characters.
pub const URL_PATTERN: &str = concat!(r"^https?://[^\s\x00-\x1f\x7f-\x9f", invisible!(), r"]+$");

/// Why a constrained value was refused; the message names the limit so a producer can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// Shorter than the minimum length (in characters).
    #[error("must be at least {min} characters long, got {len}")]
    TooShort { min: usize, len: usize },
    /// Longer than the maximum length (in characters).
    #[error("must be at most {max} characters long, got {len}")]
    TooLong { max: usize, len: usize },
    /// Did not match the pattern.
    #[error("{what}")]
    Pattern { what: &'static str },
    /// A number outside its range.
    #[error("must be between {min} and {max}, got {value}")]
    OutOfRange { min: i64, max: i64, value: i64 },
    /// A list with too many items.
    #[error("must have at most {max} items, got {len}")]
    TooManyItems { max: usize, len: usize },
    /// A list with too few items.
    #[error("must have at least {min} item(s), got {len}")]
    TooFewItems { min: usize, len: usize },
}

/// How a constrained type checks its pattern at run time. Every string of every report goes
/// through one, so the patterns most fields use are checked by hand-written code, which
/// `tests::hand_written_matchers_agree_with_the_regexes` proves equivalent to the regex the CRD
/// schema carries; any other pattern is compiled as a regex.
#[doc(hidden)]
#[derive(Debug)]
pub enum Matcher {
    /// [`SINGLE_LINE_PATTERN`].
    SingleLine,
    /// [`MULTI_LINE_PATTERN`].
    MultiLine,
    /// [`DNS_LABEL_PATTERN`].
    DnsLabel,
    /// [`DNS_SUBDOMAIN_PATTERN`].
    DnsSubdomain,
    /// [`REF_NAME_PATTERN`].
    RefName,
    /// [`URL_PATTERN`].
    Url,
    /// Any other pattern; `None` if it did not compile (nothing then matches).
    Regex(Option<regex::Regex>),
}

impl Matcher {
    /// The matcher of `pattern`.
    pub fn for_pattern(pattern: &str) -> Self {
        match pattern {
            SINGLE_LINE_PATTERN => Self::SingleLine,
            MULTI_LINE_PATTERN => Self::MultiLine,
            DNS_LABEL_PATTERN => Self::DnsLabel,
            DNS_SUBDOMAIN_PATTERN => Self::DnsSubdomain,
            REF_NAME_PATTERN => Self::RefName,
            URL_PATTERN => Self::Url,
            other => Self::Regex(regex::Regex::new(other).ok()),
        }
    }

    /// Whether the whole of `value` matches the pattern.
    pub fn is_match(&self, value: &str) -> bool {
        match self {
            Self::SingleLine => !value.chars().any(is_forbidden_in_text),
            Self::MultiLine => !value.chars().any(|c| c != '\n' && is_forbidden_in_text(c)),
            Self::DnsLabel => is_dns_label(value),
            Self::DnsSubdomain => value.split('.').all(is_dns_label),
            Self::RefName => {
                !value.is_empty() && !value.chars().any(|c| c == '/' || is_forbidden_in_text(c))
            }
            Self::Url => value
                .strip_prefix("https://")
                .or_else(|| value.strip_prefix("http://"))
                .is_some_and(|rest| {
                    !rest.is_empty()
                        && !rest
                            .chars()
                            .any(|c| c.is_whitespace() || is_forbidden_in_text(c))
                }),
            Self::Regex(re) => re.as_ref().is_some_and(|re| re.is_match(value)),
        }
    }
}

/// C0 controls, DEL, C1 controls and the invisible characters of [`SINGLE_LINE_PATTERN`]: what
/// no text field may hold, and what a renderer must not print.
pub fn is_forbidden_in_text(c: char) -> bool {
    matches!(c, '\0'..='\x1f' | '\x7f'..='\u{9f}') || is_invisible(c)
}

/// The characters of `invisible!`, one arm per range.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`.
fn is_dns_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

/// Declares a string newtype whose length and pattern are enforced on deserialization and
/// emitted into the JSON schema.
macro_rules! constrained_string {
    ($(#[$meta:meta])* $name:ident, min = $min:expr, max = $max:expr, pattern = $pattern:expr, what = $what:expr $(, format = $format:expr)?) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(String);

        impl $name {
            /// Shortest accepted value, in characters.
            pub const MIN_LEN: usize = $min;
            /// Longest accepted value, in characters.
            pub const MAX_LEN: usize = $max;
            /// The regular expression every value matches.
            pub const PATTERN: &'static str = $pattern;

            /// Checks `value` against the limits and wraps it.
            pub fn new(value: impl Into<String>) -> Result<Self, $crate::constraints::ConstraintError> {
                let value = value.into();
                let len = value.chars().count();
                if len < Self::MIN_LEN {
                    return Err($crate::constraints::ConstraintError::TooShort { min: Self::MIN_LEN, len });
                }
                if len > Self::MAX_LEN {
                    return Err($crate::constraints::ConstraintError::TooLong { max: Self::MAX_LEN, len });
                }
                static MATCHER: std::sync::OnceLock<$crate::constraints::Matcher> =
                    std::sync::OnceLock::new();
                let matcher =
                    MATCHER.get_or_init(|| $crate::constraints::Matcher::for_pattern(Self::PATTERN));
                if matcher.is_match(&value) {
                    Ok(Self(value))
                } else {
                    Err($crate::constraints::ConstraintError::Pattern { what: $what })
                }
            }

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value, consumed.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::constraints::ConstraintError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::constraints::ConstraintError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::constraints::ConstraintError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                #[allow(unused_mut)]
                let mut schema = schemars::json_schema!({
                    "type": "string",
                    "minLength": Self::MIN_LEN,
                    "maxLength": Self::MAX_LEN,
                    "pattern": Self::PATTERN,
                });
                $(schema.insert("format".into(), $format.into());)?
                schema
            }
        }
    };
}
pub(crate) use constrained_string;

/// A list with an upper bound on its length, enforced on deserialization and emitted as
/// `maxItems`. Keeps one producer from growing the object without limit.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BoundedVec<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> BoundedVec<T, MAX> {
    /// The longest accepted list.
    pub const MAX_ITEMS: usize = MAX;

    /// Checks the length and wraps the list.
    pub fn new(items: Vec<T>) -> Result<Self, ConstraintError> {
        if items.len() > MAX {
            return Err(ConstraintError::TooManyItems {
                max: MAX,
                len: items.len(),
            });
        }
        Ok(Self(items))
    }

    /// An empty list.
    pub fn empty() -> Self {
        Self(Vec::new())
    }

    /// The items, consumed.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T, const MAX: usize> Default for BoundedVec<T, MAX> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T, const MAX: usize> Deref for BoundedVec<T, MAX> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: fmt::Debug, const MAX: usize> fmt::Debug for BoundedVec<T, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<T: Serialize, const MAX: usize> Serialize for BoundedVec<T, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedVec<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(d)?;
        Self::new(items).map_err(serde::de::Error::custom)
    }
}

impl<T: JsonSchema, const MAX: usize> JsonSchema for BoundedVec<T, MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("BoundedVec_{}_{}", T::schema_name(), MAX).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "items": generator.subschema_for::<T>(),
            "maxItems": MAX,
        })
    }
}

/// A [`BoundedVec`] that must also hold at least one item (`minItems: 1`): for lists where
/// "empty" would mean nothing (no producer, no allowed type) and is therefore a mistake.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NonEmptyVec<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> NonEmptyVec<T, MAX> {
    /// The longest accepted list.
    pub const MAX_ITEMS: usize = MAX;

    /// Checks both bounds and wraps the list.
    pub fn new(items: Vec<T>) -> Result<Self, ConstraintError> {
        if items.is_empty() {
            return Err(ConstraintError::TooFewItems { min: 1, len: 0 });
        }
        BoundedVec::<T, MAX>::new(items).map(|v| Self(v.into_vec()))
    }

    /// The items, consumed.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T, const MAX: usize> Deref for NonEmptyVec<T, MAX> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: fmt::Debug, const MAX: usize> fmt::Debug for NonEmptyVec<T, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<T: Serialize, const MAX: usize> Serialize for NonEmptyVec<T, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for NonEmptyVec<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(d)?;
        Self::new(items).map_err(serde::de::Error::custom)
    }
}

impl<T: JsonSchema, const MAX: usize> JsonSchema for NonEmptyVec<T, MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("NonEmptyVec_{}_{}", T::schema_name(), MAX).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "items": generator.subschema_for::<T>(),
            "minItems": 1,
            "maxItems": MAX,
        })
    }
}

/// Declares an integer newtype with an inclusive range, enforced on deserialization and emitted
/// as `minimum`/`maximum`.
macro_rules! bounded_int {
    ($(#[$meta:meta])* $name:ident($inner:ty), min = $min:expr, max = $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
        pub struct $name($inner);

        impl $name {
            /// Smallest accepted value.
            pub const MIN: $inner = $min;
            /// Largest accepted value.
            pub const MAX: $inner = $max;

            /// Checks the range and wraps the value.
            pub fn new(value: $inner) -> Result<Self, $crate::constraints::ConstraintError> {
                if (Self::MIN..=Self::MAX).contains(&value) {
                    Ok(Self(value))
                } else {
                    Err($crate::constraints::ConstraintError::OutOfRange {
                        min: i64::from(Self::MIN),
                        max: i64::from(Self::MAX),
                        value: i64::from(value),
                    })
                }
            }

            /// The value.
            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = <$inner>::deserialize(d)?;
                Self::new(v).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "integer",
                    "format": "int32",
                    "minimum": Self::MIN,
                    "maximum": Self::MAX,
                })
            }
        }
    };
}
pub(crate) use bounded_int;

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)]
    mod label {
        use super::super::*;
        constrained_string!(
            /// test type
            Label, min = 1, max = 5, pattern = DNS_LABEL_PATTERN, what = "must be a DNS label"
        );
    }
    use label::Label;

    #[test]
    fn every_pattern_compiles() {
        for p in [
            SINGLE_LINE_PATTERN,
            MULTI_LINE_PATTERN,
            DNS_LABEL_PATTERN,
            DNS_SUBDOMAIN_PATTERN,
            SEMVER_PATTERN,
            CONDITION_TYPE_PATTERN,
            REASON_PATTERN,
            REF_NAME_PATTERN,
            URL_PATTERN,
        ] {
            assert!(regex::Regex::new(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn constrained_string_checks_length_then_pattern() {
        assert!(Label::new("ab-c").is_ok());
        assert_eq!(
            Label::new(""),
            Err(ConstraintError::TooShort { min: 1, len: 0 })
        );
        assert_eq!(
            Label::new("abcdef"),
            Err(ConstraintError::TooLong { max: 5, len: 6 })
        );
        assert!(matches!(
            Label::new("A"),
            Err(ConstraintError::Pattern { .. })
        ));
        let err = serde_json::from_str::<Label>("\"-a\"").unwrap_err();
        assert!(err.to_string().contains("DNS label"), "{err}");
    }

    /// The patterns with a hand-written [`Matcher`], and characters that sit on their edges.
    const FAST: [&str; 6] = [
        SINGLE_LINE_PATTERN,
        MULTI_LINE_PATTERN,
        DNS_LABEL_PATTERN,
        DNS_SUBDOMAIN_PATTERN,
        REF_NAME_PATTERN,
        URL_PATTERN,
    ];
    const EDGES: &[char] = &[
        'a',
        'z',
        '0',
        '9',
        '-',
        '.',
        'A',
        '_',
        '/',
        ':',
        'h',
        't',
        'p',
        's',
        ' ',
        '\t',
        '\n',
        '\r',
        '\0',
        '\x1f',
        '\x7f',
        '\u{80}',
        '\u{9f}',
        '\u{a0}',
        '\u{85}',
        '\u{2028}',
        '\u{3000}',
        '\u{feff}',
        'é',
        '✓',
        '\u{202e}',
        '\u{2066}',
        '\u{200b}',
        '\u{ad}',
        '\u{e0041}',
        '\u{2029}',
        '\u{1d173}',
        '\u{6dd}',
    ];

    /// Each fast pattern with its hand-written matcher and its compiled regex.
    fn both() -> &'static [(&'static str, Matcher, regex::Regex)] {
        static BOTH: std::sync::OnceLock<Vec<(&str, Matcher, regex::Regex)>> =
            std::sync::OnceLock::new();
        BOTH.get_or_init(|| {
            FAST.iter()
                .map(|p| (*p, Matcher::for_pattern(p), regex::Regex::new(p).unwrap()))
                .collect()
        })
    }

    fn agree(value: &str) {
        for (pattern, fast, re) in both() {
            assert!(
                !matches!(fast, Matcher::Regex(_)),
                "{pattern} has no hand-written matcher"
            );
            assert_eq!(
                fast.is_match(value),
                re.is_match(value),
                "{pattern} on {value:?}"
            );
        }
    }

    #[test]
    fn hand_written_matchers_agree_with_the_regexes() {
        // Every string of up to three edge characters, alone and after each URL scheme.
        let mut values = vec![String::new()];
        let mut level = values.clone();
        for _ in 0..3 {
            level = level
                .iter()
                .flat_map(|v| EDGES.iter().map(move |c| format!("{v}{c}")))
                .collect();
            values.extend_from_slice(&level);
        }
        for v in &values {
            agree(v);
            agree(&format!("http://{v}"));
            agree(&format!("https://{v}"));
            agree(&format!("a.{v}"));
        }
        let n = EDGES.len();
        assert_eq!(values.len(), 1 + n + n * n + n * n * n);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn hand_written_matchers_agree_on_longer_strings(
            prefix in proptest::sample::select(vec!["", "http://", "https://", "ftp://"]),
            chars in proptest::collection::vec(proptest::sample::select(EDGES), 0..24),
        ) {
            let value: String = chars.into_iter().collect();
            agree(&format!("{prefix}{value}"));
        }
    }

    /// Every code point: the hand-written matchers and the patterns the CRD carries agree, and
    /// every format character and line or paragraph separator the `regex` crate knows of
    /// (`\p{Cf}`, `\p{Zl}`, `\p{Zp}`) is refused, so a newer Unicode's additions fail here.
    #[test]
    fn every_invisible_character_is_refused_by_matcher_and_pattern_alike() {
        let format = regex::Regex::new(r"^[\p{Cf}\p{Zl}\p{Zp}]$").unwrap();
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let text = c.to_string();
            if format.is_match(&text) {
                assert!(is_forbidden_in_text(c), "U+{:04X} is not refused", c as u32);
            }
            agree(&text);
        }
        for attack in [
            "safe\u{202e}txt.exe",
            "a\u{2066}b",
            "zero\u{200b}width",
            "tag\u{e0041}",
        ] {
            assert!(!Matcher::SingleLine.is_match(attack), "{attack:?}");
            assert!(!Matcher::MultiLine.is_match(attack), "{attack:?}");
            assert!(
                !Matcher::Url.is_match(&format!("https://x/{attack}")),
                "{attack:?}"
            );
        }
    }

    #[test]
    fn other_patterns_fall_back_to_the_regex() {
        let m = Matcher::for_pattern(SEMVER_PATTERN);
        assert!(matches!(m, Matcher::Regex(Some(_))));
        assert!(m.is_match("4.15.0") && !m.is_match("4.15"));
        assert!(
            !Matcher::for_pattern("(").is_match(""),
            "a broken pattern matches nothing"
        );
    }

    #[test]
    fn control_characters_are_refused_but_newlines_only_in_paragraphs() {
        let single = regex::Regex::new(SINGLE_LINE_PATTERN).unwrap();
        let multi = regex::Regex::new(MULTI_LINE_PATTERN).unwrap();
        assert!(single.is_match("Node a is degraded ✓"));
        assert!(!single.is_match("a\nb"));
        assert!(multi.is_match("a\nb"));
        for bad in ["\u{1b}[31m", "\u{7}", "\u{9b}", "a\rb", "\u{0}"] {
            assert!(!single.is_match(bad) && !multi.is_match(bad), "{bad:?}");
        }
    }

    #[test]
    fn semver_is_anchored() {
        let re = regex::Regex::new(SEMVER_PATTERN).unwrap();
        for ok in [
            "4.15.0",
            "4.15.0-ec.2",
            "4.14.0-rc.3",
            "4.16.0-0.nightly-2024-02-01-000000",
        ] {
            assert!(re.is_match(ok), "{ok}");
        }
        for bad in ["", "4.15", "x4.15.0", "4.15.0 ", "<none>", "4.15.0-"] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn non_empty_vec_refuses_empty_and_long_lists() {
        let ok: NonEmptyVec<u8, 2> = serde_json::from_str("[1,2]").unwrap();
        assert_eq!(ok.len(), 2);
        let empty = serde_json::from_str::<NonEmptyVec<u8, 2>>("[]").unwrap_err();
        assert!(empty.to_string().contains("at least 1"), "{empty}");
        assert!(serde_json::from_str::<NonEmptyVec<u8, 2>>("[1,2,3]").is_err());
    }

    #[test]
    fn bounded_vec_refuses_long_lists() {
        let ok: BoundedVec<u8, 2> = serde_json::from_str("[1,2]").unwrap();
        assert_eq!(ok.len(), 2);
        assert!(serde_json::from_str::<BoundedVec<u8, 2>>("[1,2,3]").is_err());
    }
}
