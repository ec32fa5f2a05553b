//! The portal's clock. A real portal runs on real time. A test-mode portal can instead run on
//! a stopped clock that moves only when a test moves it (or sets it), so a boundary such as
//! "a code entered at 14:59 works, at 15:01 it does not" is exact and cannot be tipped by a
//! second boundary or a moment of load between two requests.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// How the portal tells the time (`clock = "real"` or `"stopped"` in the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    #[default]
    Real,
    /// Starts at the real time of start-up and stands still until moved (test mode only).
    Stopped,
}

#[derive(Clone)]
pub struct Clock {
    mode: ClockMode,
    /// Real mode: an offset added to real time. Stopped mode: the time itself.
    value: Arc<AtomicI64>,
}

fn real_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new(ClockMode::Real)
    }
}

impl Clock {
    pub fn new(mode: ClockMode) -> Clock {
        let start = match mode {
            ClockMode::Real => 0,
            ClockMode::Stopped => real_now(),
        };
        Clock {
            mode,
            value: Arc::new(AtomicI64::new(start)),
        }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// Unix seconds.
    pub fn now(&self) -> i64 {
        let value = self.value.load(Ordering::SeqCst);
        match self.mode {
            ClockMode::Real => real_now() + value,
            ClockMode::Stopped => value,
        }
    }

    pub fn advance(&self, seconds: i64) {
        self.value.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Sets the time (Unix seconds); a real clock keeps running from there.
    pub fn set(&self, unix_seconds: i64) {
        let value = match self.mode {
            ClockMode::Real => unix_seconds - real_now(),
            ClockMode::Stopped => unix_seconds,
        };
        self.value.store(value, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_clock_moves_only_when_moved() {
        let clock = Clock::new(ClockMode::Stopped);
        clock.set(1_000);
        assert_eq!(clock.now(), 1_000);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(clock.now(), 1_000, "a second of real time changed nothing");
        clock.advance(899);
        assert_eq!(clock.now(), 1_899);
    }

    #[test]
    fn a_real_clock_follows_real_time_with_its_offset() {
        let clock = Clock::new(ClockMode::Real);
        clock.advance(3600);
        let expected = real_now() + 3600;
        assert!((clock.now() - expected).abs() <= 1);
    }
}
