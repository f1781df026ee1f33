//! The audit trail: exactly one structured line per report or read-back, accepted or refused,
//! with who, which informer, the decision, the status code, the counts and a SHA-256 of the
//! body — never the token, never the body itself.

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
    /// The informer as authorized (empty until authorized); bounded, so usable as a metric label.
    pub informer_label: String,
    /// The authenticated username, once known.
    pub identity: Option<String>,
    /// Served or refused.
    pub decision: Decision,
    /// Why it was refused.
    pub reason: Option<&'static str>,
    /// The HTTP status code.
    pub code: u16,
    /// Insights held after the report.
    pub accepted: usize,
    /// Insights refused.
    pub rejected: usize,
    /// SHA-256 of the body, when it was read.
    pub body_sha256: Option<String>,
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
            informer_label: String::new(),
            identity: None,
            decision: Decision::Accepted,
            reason: None,
            code: 0,
            accepted: 0,
            rejected: 0,
            body_sha256: None,
            bytes: 0,
        }
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
            identity = self.identity.as_deref().unwrap_or("-"),
            informer = %self.informer,
            decision = %match self.decision { Decision::Accepted => "accepted", Decision::Refused => "refused" },
            reason = %self.reason.unwrap_or("-"),
            code = self.code,
            accepted = self.accepted,
            rejected = self.rejected,
            body_sha256 = %self.body_sha256.as_deref().unwrap_or("-"),
            bytes = self.bytes,
            "informer request"
        );
    }
}
