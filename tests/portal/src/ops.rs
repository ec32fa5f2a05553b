//! Operator commands: enrol a card (the card-management step that precedes self-service),
//! clear a self-service lock as the Registration Authority, export and verify the audit log,
//! list the enrolled cards with their self-service state.

use anyhow::{bail, Result};
use rusqlite::params;

use crate::audit::{self, Entry};
use crate::config::PortalConfig;
use crate::{db, secrets};

fn open(config: &PortalConfig) -> Result<(rusqlite::Connection, secrets::Keys)> {
    std::fs::create_dir_all(&config.data_dir)?;
    Ok((
        db::open(&config.data_dir.join("portal.sqlite3"))?,
        secrets::Keys::load_or_create(&config.data_dir)?,
    ))
}

pub struct Enrolment<'a> {
    pub guid: &'a str,
    pub holder: &'a str,
    pub uuid: &'a str,
    pub puk: &'a str,
    /// The 9A and 9E certificates (PEM or DER), checked against the trusted CA; their keys
    /// are pinned (docs/DESIGN.md §4.2).
    pub certificate_9a: &'a [u8],
    pub certificate_9e: &'a [u8],
    pub email_on_file: Option<&'a str>,
}

pub fn enrol(config: &PortalConfig, card: &Enrolment<'_>, now: i64) -> Result<()> {
    if card.guid.len() != 32 || !card.guid.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("the GUID must be 32 hex digits");
    }
    if card.puk.len() != 8 {
        bail!("the PUK must be 8 characters");
    }
    let ca = match &config.trusted_ca {
        Some(path) => crate::cardproof::TrustedCa::from_pem(&std::fs::read_to_string(path)?)?,
        None => bail!("enrolling a card needs the trusted-ca that issued its certificates"),
    };
    let pin = |what: &str, der: &[u8]| {
        // Not the date: card management may enrol a card whose certificates have expired,
        // and the portal then tells its holder so.
        crate::cardproof::certificate_key(der, Some(&ca), None)
            .map_err(|e| anyhow::anyhow!("the {what} certificate: {e}"))
    };
    let authentication_key = pin("9A", card.certificate_9a)?;
    let card_authentication_key = pin("9E", card.certificate_9e)?;
    if authentication_key == card_authentication_key {
        bail!("the 9A and 9E certificates hold the same key");
    }
    let (mut connection, keys) = open(config)?;
    let guid = card.guid.to_ascii_lowercase();
    let transaction = connection.transaction()?;
    transaction.execute(
        "INSERT INTO users (uuid, holder_name, email_on_file) VALUES (?1, ?2, ?3)
         ON CONFLICT(uuid) DO UPDATE SET holder_name = ?2, email_on_file = ?3",
        params![card.uuid, card.holder, card.email_on_file],
    )?;
    transaction.execute(
        "INSERT INTO cards (guid, user_uuid, puk_enc, puk_id, enrolled_at, authentication_key, card_authentication_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(guid) DO UPDATE SET user_uuid = ?2, puk_enc = ?3, puk_id = ?4,
             pending_puk_enc = NULL, pending_puk_id = NULL, enrolled_at = ?5,
             authentication_key = ?6, card_authentication_key = ?7",
        params![
            guid,
            card.uuid,
            keys.encrypt_puk(card.puk),
            secrets::random_id(),
            now,
            authentication_key,
            card_authentication_key
        ],
    )?;
    audit::append(
        &transaction,
        &keys,
        now,
        &Entry {
            actor: Some("card-management"),
            card: Some(&guid),
            event: "card-enrolled",
            outcome: "ok",
            ..Default::default()
        },
    )?;
    transaction.commit()?;
    Ok(())
}

/// Clears a user's self-service lock; returns whether there was one.
pub fn clear_lock(config: &PortalConfig, uuid: &str, ra: &str, now: i64) -> Result<bool> {
    let (connection, keys) = open(config)?;
    let cleared =
        connection.execute("DELETE FROM lockouts WHERE user_uuid = ?1", params![uuid])? > 0;
    audit::append(
        &connection,
        &keys,
        now,
        &Entry {
            actor: Some(ra),
            event: "ra-clear-lock",
            outcome: if cleared { "cleared" } else { "no-lock" },
            client: Some(&format!("ra-for:{uuid}")),
            ..Default::default()
        },
    )?;
    Ok(cleared)
}

/// The audit log as JSON lines, and whether its chain verifies.
pub fn audit_export(config: &PortalConfig) -> Result<(Vec<String>, Result<usize, audit::Broken>)> {
    let (connection, keys) = open(config)?;
    let rows = audit::rows(&connection)?;
    let lines = rows
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    let head = audit::head(&connection)?;
    Ok((lines, audit::verify(&rows, head.as_ref(), &keys)))
}

/// The stored PUK of a card (for tests checking the rotation; never shown by the API).
pub fn stored_puk(config: &PortalConfig, guid: &str) -> Result<(String, Option<String>)> {
    let (connection, keys) = open(config)?;
    let Some(card) = db::card(&connection, &guid.to_ascii_lowercase())? else {
        bail!("no such card");
    };
    let current = keys.decrypt_puk(&card.puk_enc)?.to_string();
    let pending = match card.pending_puk_enc {
        Some(blob) => Some(keys.decrypt_puk(&blob)?.to_string()),
        None => None,
    };
    Ok((current, pending))
}

/// One enrolled card as the operator (and the demo's control page) sees it.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardSummary {
    pub guid: String,
    pub holder: String,
    /// The holder has registered for self-service (questions and email on record).
    pub registered: bool,
    /// The holder is locked out of self-service until the Registration Authority clears it.
    pub self_service_locked: bool,
}

pub fn cards(config: &PortalConfig) -> Result<Vec<CardSummary>> {
    let (connection, _) = open(config)?;
    let mut statement = connection.prepare(
        "SELECT cards.guid, users.holder_name,
                EXISTS (SELECT 1 FROM registrations r WHERE r.user_uuid = users.uuid),
                EXISTS (SELECT 1 FROM lockouts l WHERE l.user_uuid = users.uuid AND l.locked_at IS NOT NULL)
         FROM cards JOIN users ON users.uuid = cards.user_uuid ORDER BY users.holder_name, cards.guid",
    )?;
    let rows = statement.query_map([], |row| {
        Ok(CardSummary {
            guid: row.get(0)?,
            holder: row.get(1)?,
            registered: row.get(2)?,
            self_service_locked: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
