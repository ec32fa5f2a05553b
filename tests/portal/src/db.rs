//! Storage: embedded SQLite in WAL mode, with numbered migrations. Answers are stored only as
//! Argon2id hashes, codes only as MACs, PUKs only encrypted; the audit table is append-only.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE users (
        uuid TEXT PRIMARY KEY,
        holder_name TEXT NOT NULL,
        email_on_file TEXT
    );
    CREATE TABLE cards (
        guid TEXT PRIMARY KEY,
        user_uuid TEXT NOT NULL REFERENCES users(uuid),
        puk_enc BLOB NOT NULL,
        pending_puk_enc BLOB,
        enrolled_at INTEGER NOT NULL
    );
    CREATE TABLE registrations (
        user_uuid TEXT PRIMARY KEY REFERENCES users(uuid),
        email TEXT NOT NULL,
        registered_at INTEGER NOT NULL
    );
    CREATE TABLE answers (
        user_uuid TEXT NOT NULL REFERENCES users(uuid),
        question_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (user_uuid, question_id)
    );
    CREATE TABLE lockouts (
        user_uuid TEXT PRIMARY KEY REFERENCES users(uuid),
        failed_rounds INTEGER NOT NULL,
        locked_at INTEGER
    );
    CREATE TABLE challenges (
        id TEXT PRIMARY KEY,
        nonce TEXT NOT NULL,
        purpose TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE flows (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        user_uuid TEXT NOT NULL,
        card_guid TEXT NOT NULL,
        step TEXT NOT NULL,
        question_ids TEXT NOT NULL DEFAULT '[]',
        pending_answers TEXT,
        email TEXT,
        code_mac BLOB,
        code_issued_at INTEGER,
        code_tries INTEGER NOT NULL DEFAULT 0,
        codes_sent INTEGER NOT NULL DEFAULT 0,
        authorization_id TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT,
        card TEXT,
        flow TEXT,
        event TEXT NOT NULL,
        outcome TEXT NOT NULL,
        client TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 2: throttles kept across restarts; the questions a user is asked until a round passes.
    r#"
    CREATE TABLE throttle_windows (
        key TEXT PRIMARY KEY,
        window_start INTEGER NOT NULL,
        count INTEGER NOT NULL
    );
    CREATE TABLE question_rounds (
        user_uuid TEXT PRIMARY KEY REFERENCES users(uuid),
        question_ids TEXT NOT NULL
    );
    "#,
    // 3: protocol v2. Each stored PUK has an id the host may know; the card's 9A and 9E keys
    // are pinned at enrolment; each authorization is kept to check its receipt.
    r#"
    ALTER TABLE cards ADD COLUMN puk_id TEXT;
    ALTER TABLE cards ADD COLUMN pending_puk_id TEXT;
    ALTER TABLE cards ADD COLUMN authentication_key BLOB;
    ALTER TABLE cards ADD COLUMN card_authentication_key BLOB;
    ALTER TABLE flows ADD COLUMN authorized_notice_sent INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        mac TEXT NOT NULL
    );
    CREATE TABLE authorizations (
        id TEXT PRIMARY KEY,
        flow_id TEXT NOT NULL REFERENCES flows(id),
        card_guid TEXT NOT NULL,
        payload_hash BLOB NOT NULL,
        issued_at INTEGER NOT NULL,
        receipt_at INTEGER
    );
    "#,
];

/// The questions this user is being asked, kept until a round passes (starting a new flow does
/// not choose new ones).
pub fn question_round(
    connection: &Connection,
    user: &str,
) -> rusqlite::Result<Option<Vec<String>>> {
    let ids: Option<String> = connection
        .query_row(
            "SELECT question_ids FROM question_rounds WHERE user_uuid = ?1",
            params![user],
            |r| r.get(0),
        )
        .optional()?;
    Ok(ids.and_then(|ids| serde_json::from_str(&ids).ok()))
}

pub fn set_question_round(
    connection: &Connection,
    user: &str,
    ids: Option<&[String]>,
) -> rusqlite::Result<()> {
    match ids {
        Some(ids) => connection.execute(
            "INSERT INTO question_rounds (user_uuid, question_ids) VALUES (?1, ?2)
             ON CONFLICT(user_uuid) DO UPDATE SET question_ids = ?2",
            params![user, serde_json::to_string(ids).unwrap_or_default()],
        ),
        None => connection.execute(
            "DELETE FROM question_rounds WHERE user_uuid = ?1",
            params![user],
        ),
    }
    .map(|_| ())
}

pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(&connection)?;
    Ok(connection)
}

fn migrate(connection: &Connection) -> rusqlite::Result<()> {
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        connection.execute_batch(&format!(
            "BEGIN; {migration} PRAGMA user_version = {}; COMMIT;",
            index + 1
        ))?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct CardRecord {
    pub guid: String,
    pub user_uuid: String,
    pub holder_name: String,
    pub puk_enc: Vec<u8>,
    pub pending_puk_enc: Option<Vec<u8>>,
    pub puk_id: Option<String>,
    pub pending_puk_id: Option<String>,
    /// Pinned at enrolment: the 9A (PIV Authentication) and 9E (Card Authentication) public
    /// keys, SubjectPublicKeyInfo DER.
    pub authentication_key: Option<Vec<u8>>,
    pub card_authentication_key: Option<Vec<u8>>,
}

pub fn card(connection: &Connection, guid: &str) -> rusqlite::Result<Option<CardRecord>> {
    connection
        .query_row(
            "SELECT c.guid, c.user_uuid, u.holder_name, c.puk_enc, c.pending_puk_enc,
                    c.puk_id, c.pending_puk_id, c.authentication_key, c.card_authentication_key
             FROM cards c JOIN users u ON u.uuid = c.user_uuid WHERE c.guid = ?1",
            params![guid],
            |row| {
                Ok(CardRecord {
                    guid: row.get(0)?,
                    user_uuid: row.get(1)?,
                    holder_name: row.get(2)?,
                    puk_enc: row.get(3)?,
                    pending_puk_enc: row.get(4)?,
                    puk_id: row.get(5)?,
                    pending_puk_id: row.get(6)?,
                    authentication_key: row.get(7)?,
                    card_authentication_key: row.get(8)?,
                })
            },
        )
        .optional()
}

pub fn email_on_file(connection: &Connection, user: &str) -> rusqlite::Result<Option<String>> {
    connection
        .query_row(
            "SELECT email_on_file FROM users WHERE uuid = ?1",
            params![user],
            |r| r.get(0),
        )
        .optional()
        .map(Option::flatten)
}

pub fn registration_email(connection: &Connection, user: &str) -> rusqlite::Result<Option<String>> {
    connection
        .query_row(
            "SELECT email FROM registrations WHERE user_uuid = ?1",
            params![user],
            |r| r.get(0),
        )
        .optional()
}

/// The user's stored answer hashes: (question id, version, PHC hash).
pub fn answers(
    connection: &Connection,
    user: &str,
) -> rusqlite::Result<Vec<(String, u32, String)>> {
    let mut statement = connection.prepare(
        "SELECT question_id, version, hash FROM answers WHERE user_uuid = ?1 ORDER BY question_id",
    )?;
    let rows = statement.query_map(params![user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

pub fn failed_rounds(connection: &Connection, user: &str) -> rusqlite::Result<u8> {
    Ok(connection
        .query_row(
            "SELECT failed_rounds FROM lockouts WHERE user_uuid = ?1",
            params![user],
            |r| r.get::<_, u8>(0),
        )
        .optional()?
        .unwrap_or(0))
}

pub fn set_failed_rounds(
    connection: &Connection,
    user: &str,
    rounds: u8,
    now: i64,
) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO lockouts (user_uuid, failed_rounds, locked_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(user_uuid) DO UPDATE SET failed_rounds = ?2, locked_at = ?3",
        params![
            user,
            rounds,
            (rounds >= selfservice_rules::codes::MAX_FAILED_QUESTION_ROUNDS).then_some(now)
        ],
    )?;
    Ok(())
}

/// One flow's row.
#[derive(Debug, Clone)]
pub struct Flow {
    pub id: String,
    pub kind: String,
    pub user_uuid: String,
    pub card_guid: String,
    pub step: String,
    pub question_ids: Vec<String>,
    pub pending_answers: Option<String>,
    pub email: Option<String>,
    pub code_mac: Option<Vec<u8>>,
    pub code_issued_at: Option<i64>,
    pub code_tries: u8,
    pub codes_sent: u8,
    pub authorization_id: Option<String>,
    pub expires_at: i64,
    /// The "your smartcard is being unlocked" email went out (before the first authorization).
    pub authorized_notice_sent: bool,
}

pub fn flow(connection: &Connection, id: &str) -> rusqlite::Result<Option<Flow>> {
    connection
        .query_row(
            "SELECT id, kind, user_uuid, card_guid, step, question_ids, pending_answers, email, code_mac,
                    code_issued_at, code_tries, codes_sent, authorization_id, expires_at,
                    authorized_notice_sent
             FROM flows WHERE id = ?1",
            params![id],
            |r| {
                let ids: String = r.get(5)?;
                Ok(Flow {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    user_uuid: r.get(2)?,
                    card_guid: r.get(3)?,
                    step: r.get(4)?,
                    question_ids: serde_json::from_str(&ids).unwrap_or_default(),
                    pending_answers: r.get(6)?,
                    email: r.get(7)?,
                    code_mac: r.get(8)?,
                    code_issued_at: r.get(9)?,
                    code_tries: r.get(10)?,
                    codes_sent: r.get(11)?,
                    authorization_id: r.get(12)?,
                    expires_at: r.get(13)?,
                    authorized_notice_sent: r.get(14)?,
                })
            },
        )
        .optional()
}

pub fn set_step(connection: &Connection, flow: &str, step: &str) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE flows SET step = ?2 WHERE id = ?1",
        params![flow, step],
    )?;
    Ok(())
}
