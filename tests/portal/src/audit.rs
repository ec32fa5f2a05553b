//! The audit trail: every transaction appended with who, which card, which flow, what, the
//! outcome, when and from where, and never a secret. Each row carries a keyed hash (HMAC under
//! the portal's key) of itself and the row before it, so an altered or removed row breaks the
//! chain visibly, and the chain cannot be recomputed by someone who can write the database but
//! does not hold the portal's keys.
//!
//! Cutting rows off the end leaves a chain that still verifies, so every append also moves a
//! keyed checkpoint of the newest row (`audit_head`, in the same transaction) and logs it:
//! `audit --verify` finds a chain that ends before its checkpoint, and the logged heads, kept
//! off the database by the log collector, catch a database rolled back as a whole.

use hmac::Mac;
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::secrets::Keys;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    /// The user (their identity number) or the RA acting.
    pub actor: Option<&'a str>,
    pub card: Option<&'a str>,
    pub flow: Option<&'a str>,
    pub event: &'a str,
    pub outcome: &'a str,
    pub client: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// An event in a user's flow: who, which card, which flow, from where.
    pub fn for_flow(
        flow: &'a crate::db::Flow,
        event: &'a str,
        outcome: &'a str,
        client: &'a str,
    ) -> Entry<'a> {
        Entry {
            actor: Some(&flow.user_uuid),
            card: Some(&flow.card_guid),
            flow: Some(&flow.id),
            event,
            outcome,
            client: Some(client),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub seq: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub card: Option<String>,
    pub flow: Option<String>,
    pub event: String,
    pub outcome: String,
    pub client: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

fn row_hash(keys: &Keys, prev: &str, at: i64, e: &Entry<'_>) -> String {
    let mut hasher = keys.audit_mac();
    // Length-prefixed fields: no two different rows serialise alike.
    for field in [
        Some(prev),
        Some(&*at.to_string()),
        e.actor,
        e.card,
        e.flow,
        Some(e.event),
        Some(e.outcome),
        e.client,
    ] {
        let bytes = field.unwrap_or("\u{0}null").as_bytes();
        hasher.update(&(bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    hasher
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Appends one row; call inside the transaction that makes the change it records.
pub fn append(
    connection: &Connection,
    keys: &Keys,
    at: i64,
    entry: &Entry<'_>,
) -> rusqlite::Result<()> {
    let prev: String = connection
        .query_row(
            "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| GENESIS.to_string());
    let hash = row_hash(keys, &prev, at, entry);
    let inserted = connection.execute(
        "INSERT INTO audit (at, actor, card, flow, event, outcome, client, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            at,
            entry.actor,
            entry.card,
            entry.flow,
            entry.event,
            entry.outcome,
            entry.client,
            prev,
            hash
        ],
    )?;
    debug_assert_eq!(inserted, 1);
    let seq = connection.last_insert_rowid();
    connection.execute(
        "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT(id) DO UPDATE SET seq = ?1, hash = ?2, mac = ?3",
        params![seq, hash, head_mac(keys, seq, &hash)],
    )?;
    tracing::info!(target: "audit_head", seq, %hash, "audit head");
    Ok(())
}

fn head_mac(keys: &Keys, seq: i64, hash: &str) -> String {
    let mut mac = keys.audit_mac();
    mac.update(b"audit head\n");
    mac.update(&seq.to_be_bytes());
    mac.update(hash.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The checkpoint of the newest row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    pub mac: String,
}

pub fn head(connection: &Connection) -> rusqlite::Result<Option<Head>> {
    use rusqlite::OptionalExtension;
    connection
        .query_row(
            "SELECT seq, hash, mac FROM audit_head WHERE id = 1",
            [],
            |r| {
                Ok(Head {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                    mac: r.get(2)?,
                })
            },
        )
        .optional()
}

/// Why the audit log does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("row {0} does not follow from the row before it")]
    Row(i64),
    #[error("the log ends before its checkpoint (row {0}): rows were cut off the end")]
    Truncated(i64),
    #[error("the checkpoint is not the portal's")]
    Checkpoint,
}

pub fn rows(connection: &Connection) -> rusqlite::Result<Vec<Row>> {
    let mut statement = connection.prepare(
        "SELECT seq, at, actor, card, flow, event, outcome, client, prev_hash, hash FROM audit ORDER BY seq",
    )?;
    let rows = statement.query_map([], |r| {
        Ok(Row {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            card: r.get(3)?,
            flow: r.get(4)?,
            event: r.get(5)?,
            outcome: r.get(6)?,
            client: r.get(7)?,
            prev_hash: r.get(8)?,
            hash: r.get(9)?,
        })
    })?;
    rows.collect()
}

/// Checks the whole chain and that it reaches its checkpoint.
pub fn verify(rows: &[Row], head: Option<&Head>, keys: &Keys) -> Result<usize, Broken> {
    let mut prev = GENESIS.to_string();
    for row in rows {
        let entry = Entry {
            actor: row.actor.as_deref(),
            card: row.card.as_deref(),
            flow: row.flow.as_deref(),
            event: &row.event,
            outcome: &row.outcome,
            client: row.client.as_deref(),
        };
        if row.prev_hash != prev || row.hash != row_hash(keys, &prev, row.at, &entry) {
            return Err(Broken::Row(row.seq));
        }
        prev = row.hash.clone();
    }
    match (head, rows.last()) {
        (None, None) => Ok(0),
        (None, Some(_)) => Err(Broken::Checkpoint),
        (Some(head), last) => {
            if head.mac != head_mac(keys, head.seq, &head.hash) {
                return Err(Broken::Checkpoint);
            }
            match last {
                Some(last) if last.seq == head.seq && last.hash == head.hash => Ok(rows.len()),
                _ => Err(Broken::Truncated(head.seq)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_verifies_and_an_altered_row_breaks_it() {
        let connection = crate::db::open(std::path::Path::new(":memory:")).expect("db");
        let dir = tempfile::tempdir().expect("dir");
        let keys = Keys::load_or_create(dir.path()).expect("keys");
        for (i, event) in ["challenge", "registration-start", "registration-complete"]
            .iter()
            .enumerate()
        {
            append(
                &connection,
                &keys,
                100 + i as i64,
                &Entry {
                    event,
                    outcome: "ok",
                    ..Default::default()
                },
            )
            .expect("append");
        }
        let check = |keys: &Keys| {
            verify(
                &rows(&connection).expect("rows"),
                head(&connection).expect("head").as_ref(),
                keys,
            )
        };
        assert_eq!(check(&keys), Ok(3));
        // The table refuses changes...
        assert!(connection
            .execute("UPDATE audit SET outcome = 'failed' WHERE seq = 2", [])
            .is_err());
        assert!(connection
            .execute("DELETE FROM audit WHERE seq = 2", [])
            .is_err());
        // ...and someone who gets round that is caught by the chain.
        connection
            .execute_batch(
                "DROP TRIGGER audit_no_update; UPDATE audit SET outcome = 'failed' WHERE seq = 2;",
            )
            .expect("tamper");
        assert_eq!(check(&keys), Err(Broken::Row(2)));
        // Recomputing the chain over the altered row needs the portal's key: with another
        // key, the recomputed chain does not verify.
        let other_dir = tempfile::tempdir().expect("dir");
        let other = Keys::load_or_create(other_dir.path()).expect("keys");
        assert_eq!(check(&other), Err(Broken::Row(1)));
    }

    #[test]
    fn rows_cut_off_the_end_are_noticed() {
        let connection = crate::db::open(std::path::Path::new(":memory:")).expect("db");
        let dir = tempfile::tempdir().expect("dir");
        let keys = Keys::load_or_create(dir.path()).expect("keys");
        for at in 0..4 {
            let entry = Entry {
                event: "challenge",
                outcome: "ok",
                ..Default::default()
            };
            append(&connection, &keys, at, &entry).expect("append");
        }
        connection
            .execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq > 2;")
            .expect("truncate");
        let rows = rows(&connection).expect("rows");
        let head = head(&connection).expect("head");
        assert_eq!(
            verify(&rows, head.as_ref(), &keys),
            Err(Broken::Truncated(4))
        );
        // A checkpoint moved back without the portal's key is caught too.
        connection
            .execute(
                "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit WHERE seq = 2)",
                [],
            )
            .expect("forge");
        let head = super::head(&connection).expect("head");
        assert_eq!(verify(&rows, head.as_ref(), &keys), Err(Broken::Checkpoint));
    }
}
