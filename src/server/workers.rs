//! Connection workers: one single-threaded tokio runtime per thread, each with its own I/O
//! driver and timers, and each connection pinned to one of them for its whole life.
//!
//! A report is a short request on a keep-alive connection. On tokio's work-stealing runtime
//! every readiness event wakes a parked worker thread somewhere, so a request pays several
//! cross-thread wake-ups (on a virtual machine, each an inter-processor interrupt) on top of its
//! own work; the load benchmark measured the scheduler at a tenth of the server's CPU time and
//! left a quarter of the machine idle waiting on wake-ups. Pinning each connection to one
//! thread, as nginx's worker processes and actix-web's workers do, removes them: the accept loop
//! hands a socket over once, and everything after happens on one thread. What the workers
//! share (the store, the registry, metrics) is behind locks held for microseconds.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// A fixed set of connection worker threads; stops them when dropped.
pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    stop: CancellationToken,
}

impl Workers {
    /// Starts `count` worker threads (at least one), each running its own runtime.
    pub fn start(count: usize) -> io::Result<Self> {
        let stop = CancellationToken::new();
        let mut handles = Vec::with_capacity(count.max(1));
        for i in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("conn-worker-{i}"))
                // `block_on` of a current-thread runtime also runs the tasks spawned on it.
                .spawn(move || runtime.block_on(stop.cancelled_owned()))?;
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
            stop,
        })
    }

    /// The runtime of the next connection, in turn; keep-alive connections of a steady load
    /// spread evenly.
    pub fn next_handle(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }

    /// How many worker threads there are.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Never true: there is always at least one worker.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }
}

impl Drop for Workers {
    /// Ends each worker's `block_on`; its runtime then drops whatever tasks are left.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The default number of workers: the CPUs this process may use (cgroup quotas included).
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_round_the_workers_and_each_runs_its_tasks() {
        let workers = Workers::start(3).unwrap();
        assert_eq!(workers.len(), 3);
        let (tx, rx) = std::sync::mpsc::channel();
        for n in 0..6 {
            let tx = tx.clone();
            workers.next_handle().spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let name = std::thread::current().name().unwrap_or_default().to_owned();
                tx.send((n, name)).unwrap();
            });
        }
        let mut seen: Vec<(i32, String)> = (0..6)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap())
            .collect();
        seen.sort();
        for (n, name) in seen {
            assert_eq!(name, format!("conn-worker-{}", n % 3));
        }
    }

    #[test]
    fn zero_means_one() {
        assert_eq!(Workers::start(0).unwrap().len(), 1);
    }
}
