//! The log line format when stderr is not a terminal: tracing-subscriber's default (`Full`)
//! layout, with the audit lines written by a direct path.
//!
//! An audit line is written for every report, and the generic formatter spent about a tenth of
//! a report's CPU time on it (measured with `bench/informer_load.sh`, with and without
//! `RUST_LOG=info,audit=warn`). Audit events are this program's own, with known field types, so
//! [`AuditFast`] writes them without the generic machinery: the time prefix is formatted once
//! per second, and strings that need no escaping are copied as they are. The result is
//! byte-for-byte what `Full` writes (`tests::audit_lines_are_what_the_default_format_writes`).
//! Every other event goes to `Full` unchanged.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The tracing target of audit lines (`http::audit`).
pub const AUDIT_TARGET: &str = "audit";

/// `Full` without colours, with a direct path for audit events.
#[derive(Debug, Default)]
pub struct AuditFast {
    full: Format<Full>,
}

impl AuditFast {
    /// The default layout, without ANSI colours (this format is for files and pipes).
    pub fn new() -> Self {
        Self {
            full: Format::default().with_ansi(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for AuditFast
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        // Audit events are never inside a span; any that is gets the full treatment.
        if meta.target() != AUDIT_TARGET || ctx.lookup_current().is_some() {
            return self.full.format_event(ctx, writer, event);
        }
        write_time(&mut writer)?;
        write!(writer, "{:>5} {}: ", meta.level().as_str(), meta.target())?;
        let mut visitor = Fields {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;
        writer.write_char('\n')
    }
}

/// Writes `2026-11-29T16:27:01.123456Z ` as `Full`'s `SystemTime` timer does, the part up to
/// the second formatted once per second and thread.
fn write_time(writer: &mut Writer<'_>) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let Ok(at) = jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(i64::MAX))
            else {
                return Err(fmt::Error);
            };
            cached.1.clear();
            write!(cached.1, "{}", at.strftime("%Y-%m-%dT%H:%M:%S"))?;
            cached.0 = secs;
        }
        write!(writer, "{}.{:06}Z ", cached.1, since.subsec_micros())
    })
}

/// Writes fields as `DefaultFields` does: the message first and bare, then `name=value`
/// separated by spaces, strings quoted and escaped as `Debug` does.
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = if field.name() == "message" {
            self.writer
                .write_str(separator)
                .and_then(|()| value(self.writer))
        } else {
            let name = field.name();
            let name = name.strip_prefix("r#").unwrap_or(name);
            write!(self.writer, "{separator}{name}=").and_then(|()| value(self.writer))
        };
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // `Debug` of a string of printable ASCII without quotes or backslashes is the string in
        // quotes; anything else is left to `Debug`.
        let plain = value
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
        if field.name() == "message" || !plain {
            self.record_debug(field, &value);
            return;
        }
        self.field(field, |w| {
            w.write_char('"')?;
            w.write_str(value)?;
            w.write_char('"')
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |w| write!(w, "{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn events() {
        let odd = "quote \" back \\ tab \t bell \u{7} é \u{202e}";
        tracing::info!(
            target: "audit",
            action = %"report",
            identity = "system:serviceaccount:ns:sa",
            informer = %"example",
            odd,
            code = 200u16,
            signed = -3i64,
            yes = true,
            r#type = "x",
            debug = ?Some(1),
            "informer request"
        );
        tracing::warn!(target: "audit", "only a message with \"quotes\"");
        tracing::info!(target: "other", value = "left to Full", "not an audit line");
    }

    /// The lines, each with its timestamp (everything before the first space) cut off.
    fn lines_without_time(text: &str) -> Vec<String> {
        text.lines()
            .map(|l| l.split_once(' ').map(|(_, rest)| rest.to_owned()).unwrap())
            .collect()
    }

    #[test]
    fn audit_lines_are_what_the_default_format_writes() {
        let full = Buffer::default();
        let fast = Buffer::default();
        let subscriber = |w: Buffer| {
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::TRACE)
                .with_writer(w)
        };
        tracing::subscriber::with_default(subscriber(full.clone()).finish(), events);
        tracing::subscriber::with_default(
            subscriber(fast.clone())
                .event_format(AuditFast::new())
                .finish(),
            events,
        );
        let (full, fast) = (full.text(), fast.text());
        assert_eq!(lines_without_time(&fast), lines_without_time(&full));
        assert_eq!(fast.lines().count(), 3);
        // The timestamps have the same shape: 2026-11-29T16:27:01.123456Z
        for line in fast.lines() {
            let time = line.split_once(' ').unwrap().0;
            assert_eq!(time.len(), 27, "{time}");
            assert!(time.ends_with('Z') && time.as_bytes()[19] == b'.', "{time}");
            assert!(time.parse::<jiff::Timestamp>().is_ok(), "{time}");
        }
    }
}
