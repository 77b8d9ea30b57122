//! The injected clock. Everything that depends on the time of day (timers, retry schedules,
//! token expiry, receive times) reads it through [`Clock`], so tests move time forward instead
//! of sleeping.

use crate::domain::Millis;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now(&self) -> Millis;

    /// A receiver that changes whenever the clock is moved by hand. The system clock never
    /// jumps, so it has none; the scheduler then relies on real sleeps alone.
    fn jumps(&self) -> Option<watch::Receiver<Millis>> {
        None
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that reads the wall clock"
    )]
    fn now(&self) -> Millis {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Millis::try_from(since_epoch.as_millis()).unwrap_or(Millis::MAX)
    }
}

/// A clock that only moves when told to; tests advance it to fire timers.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
    jumps: watch::Sender<Millis>,
}

impl ManualClock {
    pub fn new(start: Millis) -> Arc<Self> {
        let (jumps, _) = watch::channel(start);
        Arc::new(Self {
            now: AtomicI64::new(start),
            jumps,
        })
    }

    /// Moves the clock forward and wakes everything waiting on it.
    pub fn advance(&self, by: std::time::Duration) {
        let by = Millis::try_from(by.as_millis()).unwrap_or(Millis::MAX);
        let now = self.now.fetch_add(by, Ordering::SeqCst) + by;
        self.jumps.send_replace(now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }

    fn jumps(&self) -> Option<watch::Receiver<Millis>> {
        Some(self.jumps.subscribe())
    }
}

/// The date at `now` in `time_zone`: the "today" of an organisation's guests.
pub fn local_date(now: Millis, time_zone: chrono_tz::Tz) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .with_timezone(&time_zone)
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now(), 1_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now(), 3_000);
    }

    #[test]
    fn advancing_a_manual_clock_signals_its_watchers() {
        let clock = ManualClock::new(0);
        let mut jumps = clock.jumps().unwrap();
        clock.advance(Duration::from_millis(5));
        assert!(jumps.has_changed().unwrap());
        assert_eq!(*jumps.borrow_and_update(), 5);
    }

    #[test]
    fn the_local_date_follows_the_time_zone() {
        // 2026-05-28T20:26:40Z.
        let now = 1_780_000_000_000;
        let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(local_date(now, chrono_tz::Tz::UTC), date(2026, 5, 28));
        assert_eq!(local_date(now, chrono_tz::Asia::Tokyo), date(2026, 5, 29));
        assert_eq!(
            local_date(now, chrono_tz::Pacific::Honolulu),
            date(2026, 5, 28)
        );
    }
}
