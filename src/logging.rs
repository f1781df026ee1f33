//! Log output that costs a request almost nothing: each line is appended to a shared buffer in
//! memory, and one thread writes the buffer out every [`FLUSH_INTERVAL`] in a single `write(2)`.
//!
//! Every report produces an audit line, so at thousands of reports per second a `write(2)` per
//! line (or a channel message and a thread wake-up per line, as `tracing-appender` does) is a
//! large share of a request's cost. Nothing is dropped: a thread that finds the buffer at
//! [`MAX_BUFFERED`] writes it out itself before adding its line (back-pressure, in order), and
//! the [`FlushGuard`] writes what is left when the program ends. Lines reach the output in the
//! order they were logged; what a `SIGKILL` interrupts within the last interval is lost, as with
//! any buffered log.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait in memory before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// The most bytes held in memory; a writer that would exceed it writes the batch out itself.
pub const MAX_BUFFERED: usize = 1 << 20;

/// The destination of the batches.
type Sink = Box<dyn Write + Send>;

struct Shared {
    /// Lines not yet written, and whether the program is ending.
    pending: Mutex<Pending>,
    /// Wakes the flusher early when the program ends.
    ending: Condvar,
    /// The output; held while a batch is written, so batches leave in the order they were cut.
    /// Always taken before `pending`, never after, so the two cannot deadlock.
    output: Mutex<Output>,
}

/// The destination, and the buffer the next batch is cut into: the two buffers take turns, so
/// a batch costs no allocation (a fresh buffer grew again to a batch's size every interval).
struct Output {
    sink: Sink,
    spare: Vec<u8>,
}

impl Output {
    /// Swaps the pending lines out for the spare buffer and writes them, keeping the buffer.
    fn write_pending(&mut self, pending: &Mutex<Pending>) -> io::Result<()> {
        let mut batch = std::mem::take(&mut self.spare);
        std::mem::swap(&mut batch, &mut lock(pending).bytes);
        let result = if batch.is_empty() {
            Ok(())
        } else {
            self.sink.write_all(&batch).and_then(|()| self.sink.flush())
        };
        batch.clear();
        self.spare = batch;
        result
    }
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    ending: bool,
}

/// A `MakeWriter` for `tracing-subscriber` that batches lines; clone it freely.
#[derive(Clone)]
pub struct BatchedLog {
    shared: Arc<Shared>,
}

/// Writes what is buffered and stops the flusher when dropped: keep it alive for the program.
#[must_use = "dropping the guard stops the log flusher"]
pub struct FlushGuard {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

/// Starts the flusher thread writing batches to `sink`.
pub fn batched(sink: impl Write + Send + 'static) -> io::Result<(BatchedLog, FlushGuard)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        ending: Condvar::new(),
        output: Mutex::new(Output {
            sink: Box::new(sink),
            spare: Vec::new(),
        }),
    });
    let flusher = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("log-flusher".into())
            .spawn(move || flush_loop(&shared))?
    };
    Ok((
        BatchedLog {
            shared: Arc::clone(&shared),
        },
        FlushGuard {
            shared,
            flusher: Some(flusher),
        },
    ))
}

/// A lock that survives a panic elsewhere: a log buffer is still a log buffer.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn flush_loop(shared: &Shared) {
    loop {
        let ending = {
            let pending = lock(&shared.pending);
            let (pending, _) = shared
                .ending
                .wait_timeout_while(pending, FLUSH_INTERVAL, |p| !p.ending)
                .unwrap_or_else(PoisonError::into_inner);
            pending.ending
        };
        write_batch(shared);
        if ending {
            return;
        }
    }
}

/// Cuts the pending lines and writes them; a failed write has nowhere to be reported, and the
/// next batch is tried all the same.
fn write_batch(shared: &Shared) {
    let _ = lock(&shared.output).write_pending(&shared.pending);
}

impl Write for BatchedLog {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        {
            let mut pending = lock(&self.shared.pending);
            if pending.bytes.len() + line.len() <= MAX_BUFFERED {
                pending.bytes.extend_from_slice(line);
                return Ok(line.len());
            }
        }
        // Full: write the batch out here (in order, under the sink lock), then add the line.
        let mut output = lock(&self.shared.output);
        output.write_pending(&self.shared.pending)?;
        if line.len() > MAX_BUFFERED {
            output.sink.write_all(line)?;
        } else {
            lock(&self.shared.pending).bytes.extend_from_slice(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Lines are flushed by the flusher within the interval; a caller's flush need not wait.
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedLog {
    type Writer = BatchedLog;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        lock(&self.shared.pending).ending = true;
        self.shared.ending.notify_all();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        // Lines logged after the flusher's last batch (by threads still running) are written too.
        write_batch(&self.shared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read, counting the writes it received.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Capture {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let mut c = lock(&self.0);
            c.0.extend_from_slice(b);
            c.1 += 1;
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_in_order_in_few_writes_and_all_by_the_end() {
        let capture = Capture::default();
        let (log, guard) = batched(capture.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        log.write_all(format!("t{t} line {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let (bytes, writes) = lock(&capture.0).clone();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.lines().count(), 4000);
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("t{t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(
                mine,
                (0..1000).collect::<Vec<_>>(),
                "thread {t} out of order"
            );
        }
        assert!(writes < 100, "{writes} writes for 4000 lines");
    }

    #[test]
    fn a_full_buffer_is_written_by_the_logging_thread_in_order() {
        let capture = Capture::default();
        let (mut log, guard) = batched(capture.clone()).unwrap();
        let line = vec![b'x'; MAX_BUFFERED / 2 + 1];
        log.write_all(&line).unwrap();
        log.write_all(b"\nsecond\n").unwrap();
        log.write_all(&line).unwrap();
        let big = vec![b'y'; MAX_BUFFERED + 1];
        log.write_all(&big).unwrap();
        drop(guard);
        let bytes = lock(&capture.0).0.clone();
        let mut expected = line.clone();
        expected.extend_from_slice(b"\nsecond\n");
        expected.extend_from_slice(&line);
        expected.extend_from_slice(&big);
        assert_eq!(bytes.len(), expected.len());
        assert!(bytes == expected, "batches out of order");
    }

    #[test]
    fn a_line_is_written_within_the_interval_without_a_flush() {
        let capture = Capture::default();
        let (mut log, _guard) = batched(capture.clone()).unwrap();
        log.write_all(b"soon\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lock(&capture.0).0.is_empty() {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lock(&capture.0).0, b"soon\n");
    }

    #[test]
    fn cutting_a_batch_keeps_its_buffer_for_the_next() {
        let capture = Capture::default();
        let (mut log, guard) = batched(capture.clone()).unwrap();
        log.write_all(&[b'x'; 1000]).unwrap();
        write_batch(&log.shared);
        log.write_all(&[b'y'; 1000]).unwrap();
        write_batch(&log.shared);
        // The flusher may cut batches too; whichever buffer is where, one kept its capacity.
        let kept = lock(&log.shared.pending)
            .bytes
            .capacity()
            .max(lock(&log.shared.output).spare.capacity());
        assert!(kept >= 1000, "{kept}");
        drop(guard);
        assert_eq!(lock(&capture.0).0.len(), 2000);
    }
}
