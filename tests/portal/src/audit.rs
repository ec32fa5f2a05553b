//! The audit trail: every transaction appended with who, which card, which flow, what, the
//! outcome, when and from where, and never a secret. Each row carries a keyed hash (HMAC under
//! the portal's key) of itself and the row before it, so an altered or removed row breaks the
//! chain visibly, and the chain cannot be recomputed by someone who can write the database but
//! does not hold the portal's keys.

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
    connection.execute(
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
    Ok(())
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

/// Checks the whole chain; `Err(seq)` names the first row that does not follow from the one
/// before it.
pub fn verify(rows: &[Row], keys: &Keys) -> Result<usize, i64> {
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
            return Err(row.seq);
        }
        prev = row.hash.clone();
    }
    Ok(rows.len())
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
        assert_eq!(verify(&rows(&connection).expect("rows"), &keys), Ok(3));
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
        assert_eq!(verify(&rows(&connection).expect("rows"), &keys), Err(2));
        // Recomputing the chain over the altered row needs the portal's key: with another
        // key, the recomputed chain does not verify.
        let other_dir = tempfile::tempdir().expect("dir");
        let other = Keys::load_or_create(other_dir.path()).expect("keys");
        assert_eq!(verify(&rows(&connection).expect("rows"), &other), Err(1));
    }
}
