//! The controller's clock. Rules never read the time themselves: "now" is passed in. In a
//! cluster it is the wall clock; offline with a recorded cluster it can run from the moment the
//! recording describes, so durations and estimates read as they did then; tests fix it.

use update_status_api::time::Timestamp;

/// Where "now" comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Wall-clock time plus a fixed offset (zero for the wall clock itself).
    Offset(i128),
    /// Always the same moment.
    Fixed(Timestamp),
}

impl Default for Clock {
    fn default() -> Self {
        Self::wall()
    }
}

impl Clock {
    /// The wall clock.
    pub fn wall() -> Self {
        Self::Offset(0)
    }

    /// A clock that reads `start` now and advances in real time.
    pub fn starting_at(start: Timestamp) -> Self {
        Self::Offset(start.as_nanos() - wall_now().as_nanos())
    }

    /// A clock that never moves.
    pub fn fixed(at: Timestamp) -> Self {
        Self::Fixed(at)
    }

    /// The current time on this clock.
    pub fn now(&self) -> Timestamp {
        match self {
            Self::Fixed(t) => *t,
            Self::Offset(offset) => {
                let wall = wall_now();
                Timestamp::from_nanos(wall.as_nanos() + offset).unwrap_or(wall)
            }
        }
    }
}

/// The wall clock as a [`Timestamp`].
pub fn wall_now() -> Timestamp {
    Timestamp(jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_starts_where_asked_and_advances() {
        let start: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        let clock = Clock::starting_at(start);
        let a = clock.now();
        assert!(a.since(start).as_nanos() >= 0 && a.since(start).as_nanos() < 1_000_000_000);
        assert!(clock.now() >= a);
        assert!(Clock::wall().now().since(wall_now()).as_nanos().abs() < 1_000_000_000);
        assert_eq!(Clock::fixed(start).now(), start);
    }
}
