//! Per-source connection accounting: how many connections each client address holds, so that
//! one source cannot take the whole global connection cap (SECURITY.md, D1).
//!
//! A source is the peer's IP address (IPv4-mapped IPv6 addresses count as their IPv4 address).
//! IPv6 sources are not grouped by prefix: in a cluster every pod has its own address, and a
//! host that rotates through many addresses of its /64 is still bounded by the global cap and
//! by the unauthenticated-connection lifetime (see [`super::listener`]).
//!
//! The table holds one entry per source with at least one open connection, so it never has
//! more entries than the global cap allows connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Open connections per source address, bounded by `max_per_source`.
#[derive(Debug)]
pub struct PeerTable {
    max_per_source: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PeerTable {
    /// A table that lets each source hold at most `max_per_source` connections.
    pub fn new(max_per_source: usize) -> Arc<Self> {
        Arc::new(PeerTable {
            max_per_source,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one more connection from `ip`, or `None` when that source already holds
    /// `max_per_source`. The count drops when the returned permit is dropped.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<PeerPermit> {
        let ip = ip.to_canonical();
        // A poisoned lock only means a panic elsewhere while counting; the counts are still
        // whole numbers, so keep using them rather than refusing every connection.
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max_per_source {
            return None;
        }
        *count += 1;
        Some(PeerPermit {
            table: Arc::clone(self),
            ip,
        })
    }

    /// Connections `ip` holds now.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&ip.to_canonical()).copied().unwrap_or(0)
    }

    /// How many sources hold at least one connection.
    pub fn sources(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn release(&self, ip: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// One connection counted against its source; releases it when dropped.
#[derive(Debug)]
pub struct PeerPermit {
    table: Arc<PeerTable>,
    ip: IpAddr,
}

impl Drop for PeerPermit {
    fn drop(&mut self) {
        self.table.release(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn each_source_is_capped_on_its_own_and_slots_come_back() {
        let table = PeerTable::new(2);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let first = table.try_acquire(a).unwrap();
        let _second = table.try_acquire(a).unwrap();
        assert!(table.try_acquire(a).is_none(), "a third from one source");
        let _other = table.try_acquire(b).unwrap();
        assert_eq!((table.open_from(a), table.open_from(b)), (2, 1));
        drop(first);
        assert_eq!(table.open_from(a), 1);
        assert!(table.try_acquire(a).is_some());
    }

    #[test]
    fn mapped_ipv6_counts_as_its_ipv4_source_and_empty_entries_go() {
        let table = PeerTable::new(1);
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        let permit = table.try_acquire(v4).unwrap();
        assert!(table.try_acquire(mapped).is_none());
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let other = table.try_acquire(v6).unwrap();
        assert_eq!(table.sources(), 2);
        drop(permit);
        drop(other);
        assert_eq!(
            table.sources(),
            0,
            "no entry is kept for a source with no connection"
        );
    }
}
