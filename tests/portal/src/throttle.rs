//! Throttling by client address, user and card: fixed windows counted in the database, so a
//! restart of the portal forgets nothing.

use rusqlite::{params, Connection, OptionalExtension};

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

/// Counts one request for `key`; `Ok(Err(seconds))` says how long until it is allowed again.
pub fn check(
    db: &Connection,
    key: &str,
    limit: Limit,
    now: i64,
) -> rusqlite::Result<Result<(), u32>> {
    let window: Option<(i64, u32)> = db
        .query_row(
            "SELECT window_start, count FROM throttle_windows WHERE key = ?1",
            params![key],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (start, count) = match window {
        Some((start, count)) if now - start < limit.window_seconds => (start, count),
        _ => (now, 0),
    };
    if count >= limit.max {
        return Ok(Err((start + limit.window_seconds - now).max(1) as u32));
    }
    db.execute(
        "INSERT INTO throttle_windows (key, window_start, count) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET window_start = ?2, count = ?3",
        params![key, start, count + 1],
    )?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_fills_then_reopens() {
        let dir = tempfile::tempdir().expect("dir");
        let db = crate::db::open(&dir.path().join("t.sqlite3")).expect("db");
        let limit = Limit {
            max: 2,
            window_seconds: 60,
        };
        assert_eq!(check(&db, "ip", limit, 0), Ok(Ok(())));
        assert_eq!(check(&db, "ip", limit, 1), Ok(Ok(())));
        assert_eq!(check(&db, "ip", limit, 2), Ok(Err(58)));
        assert_eq!(check(&db, "other", limit, 2), Ok(Ok(())));
        assert_eq!(check(&db, "ip", limit, 60), Ok(Ok(())));
    }
}
