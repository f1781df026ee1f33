//! The audit trail: exactly one structured line per report or read-back, accepted or refused,
//! with who, which informer, the decision, the status code, the counts and a SHA-256 of the
//! body — never the token, never the body itself.

use std::sync::Arc;

use crate::auth::Identity;
use crate::informers::Grant;

/// Whether the request was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Served.
    Accepted,
    /// Refused with an error.
    Refused,
}

/// One audit record, filled in as the request proceeds.
#[derive(Debug, Clone)]
pub struct Audit {
    /// `report` or `read`.
    pub action: &'static str,
    /// The informer named in the path, as sent.
    pub informer: String,
    /// What the caller was authorized for (none until authorized). Its informer name is a
    /// registered one, so usable as a metric label.
    pub grant: Option<Arc<Grant>>,
    /// The authenticated caller, once known (shared with the token cache, not copied).
    pub identity: Option<Arc<Identity>>,
    /// Served or refused.
    pub decision: Decision,
    /// Why it was refused.
    pub reason: Option<&'static str>,
    /// Of a 403 from the UpdateInformers: the detailed reason (`Unregistered`, `Disabled`,
    /// `Reserved`, `NotAProducer`), which the caller is not told.
    pub denial: Option<&'static str>,
    /// The HTTP status code.
    pub code: u16,
    /// Insights held after the report.
    pub accepted: usize,
    /// Insights refused.
    pub rejected: usize,
    /// SHA-256 of the body, when it was read.
    pub body_sha256: Option<[u8; 32]>,
    /// Body length, when it was read.
    pub bytes: usize,
}

impl Audit {
    /// A record for `action` on the informer named in the path.
    pub fn new(action: &'static str, informer: &str) -> Self {
        // The path segment is attacker-chosen (and percent-decoded): keep it short and plain
        // ASCII in the log. Valid informer names are ASCII; anything else becomes `?`, so no
        // control, bidi-override or invisible character reaches a terminal reading the log.
        let informer: String = informer
            .chars()
            .take(80)
            .map(|c| if c.is_ascii_graphic() { c } else { '?' })
            .collect();
        Self {
            action,
            informer,
            grant: None,
            identity: None,
            decision: Decision::Accepted,
            reason: None,
            denial: None,
            code: 0,
            accepted: 0,
            rejected: 0,
            body_sha256: None,
            bytes: 0,
        }
    }

    /// The authenticated username, once known.
    pub fn username(&self) -> Option<&str> {
        self.identity.as_deref().map(|i| i.username.as_str())
    }

    /// Writes the line (tracing target `audit`).
    ///
    /// Only the identity, which comes from outside, is written quoted and escaped; the other
    /// values are this program's own words, hex, numbers or the informer name made plain ASCII
    /// in [`Audit::new`], and are written as they are (escaping them cost every report time).
    pub fn emit(&self) {
        tracing::info!(
            target: "audit",
            action = %self.action,
            identity = self.username().unwrap_or("-"),
            informer = %self.informer,
            decision = %match self.decision { Decision::Accepted => "accepted", Decision::Refused => "refused" },
            reason = %self.reason.unwrap_or("-"),
            denial = %self.denial.unwrap_or("-"),
            code = self.code,
            accepted = self.accepted,
            rejected = self.rejected,
            body_sha256 = %Hex(self.body_sha256.as_ref()),
            bytes = self.bytes,
            "informer request"
        );
    }
}

/// Lower-case hex of a digest, or `-` when there is none; written straight into the log line.
struct Hex<'a>(Option<&'a [u8; 32]>);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("-"),
            Some(bytes) => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                let mut text = [0u8; 64];
                for (pair, b) in text.chunks_exact_mut(2).zip(bytes) {
                    if let [hi, lo] = pair {
                        *hi = DIGITS[usize::from(b >> 4)];
                        *lo = DIGITS[usize::from(b & 0x0f)];
                    }
                }
                // Hex digits are ASCII, so this never falls back.
                f.write_str(std::str::from_utf8(&text).unwrap_or("-"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_written_in_lower_case_hex() {
        let mut digest = [0u8; 32];
        digest[0] = 0xab;
        digest[31] = 0x0f;
        let text = Hex(Some(&digest)).to_string();
        assert_eq!(text.len(), 64);
        assert!(text.starts_with("ab00"), "{text}");
        assert!(text.ends_with("000f"), "{text}");
        assert_eq!(Hex(None).to_string(), "-");
    }
}
