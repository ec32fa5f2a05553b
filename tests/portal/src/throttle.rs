//! Throttling by client address, user and card: fixed windows counted in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Throttle {
    windows: Arc<Mutex<HashMap<String, (i64, u32)>>>,
}

/// How many of each kind of request one key may make per window.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: u32,
    pub window_seconds: i64,
}

pub const PER_CLIENT: Limit = Limit {
    max: 300,
    window_seconds: 60,
};
pub const FLOW_STARTS_PER_CARD: Limit = Limit {
    max: 20,
    window_seconds: 3600,
};
pub const CODES_PER_USER: Limit = Limit {
    max: 10,
    window_seconds: 3600,
};

impl Throttle {
    /// Counts one request for `key`; `Err(seconds)` says how long until it is allowed again.
    pub fn check(&self, key: &str, limit: Limit, now: i64) -> Result<(), u32> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now - entry.0 >= limit.window_seconds {
            *entry = (now, 0);
        }
        if entry.1 >= limit.max {
            return Err((entry.0 + limit.window_seconds - now).max(1) as u32);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_fills_then_reopens() {
        let throttle = Throttle::default();
        let limit = Limit {
            max: 2,
            window_seconds: 60,
        };
        assert!(throttle.check("ip", limit, 0).is_ok());
        assert!(throttle.check("ip", limit, 1).is_ok());
        assert_eq!(throttle.check("ip", limit, 2), Err(58));
        assert!(throttle.check("other", limit, 2).is_ok());
        assert!(throttle.check("ip", limit, 60).is_ok());
    }
}
