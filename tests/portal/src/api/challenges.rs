//! Challenges (docs/DESIGN.md §4.2): a single-use 256-bit nonce with a short life, answered by the card.
//! Also the shared first step of both journeys: consume the challenge, check the card's proof,
//! find the enrolled card.

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use rusqlite::params;
use selfservice_rules::api::{ApiError, Challenge, ChallengeRequest, StartFlow};
use selfservice_rules::proof::ProofPurpose;
use selfservice_rules::proof::CHALLENGE_LIFETIME_SECONDS;
use std::net::SocketAddr;

use super::{client, throttle_client, AppState, Body, Failure, Portal, Reply};
use crate::audit::{self, Entry};
use crate::cardproof::{self, ProofError};
use crate::db::{self, CardRecord};
use crate::secrets;

pub fn purpose_name(purpose: ProofPurpose) -> &'static str {
    purpose.label()
}

pub async fn create(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<ChallengeRequest>,
) -> Reply<Challenge> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let challenge = Challenge {
        challenge_id: secrets::random_id(),
        nonce: secrets::nonce(),
        expires_at: now + CHALLENGE_LIFETIME_SECONDS,
    };
    let db = state.db();
    db.execute(
        "INSERT INTO challenges (id, nonce, purpose, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            challenge.challenge_id,
            challenge.nonce,
            purpose_name(request.purpose),
            challenge.expires_at
        ],
    )?;
    // Forget challenges long gone, so the table stays small.
    db.execute(
        "DELETE FROM challenges WHERE expires_at < ?1",
        params![now - 3600],
    )?;
    audit::append(
        &db,
        &state.keys,
        now,
        &Entry {
            event: "challenge",
            outcome: purpose_name(request.purpose),
            client: Some(&client),
            ..Default::default()
        },
    )?;
    Ok(Json(challenge))
}

/// The card that answered a challenge, checked.
pub struct ProvenStart {
    pub card: CardRecord,
    /// An unlock proof's host key: the portal seals the card's secrets to it.
    pub host_key: Option<[u8; 32]>,
}

fn challenge_invalid() -> Failure {
    Failure::new(
        StatusCode::BAD_REQUEST,
        ApiError::ChallengeInvalid,
        "This request has expired. Start again.",
    )
}

fn proof_rejected() -> Failure {
    Failure::new(
        StatusCode::FORBIDDEN,
        ApiError::ProofRejected,
        "Your smartcard could not be confirmed. Check that it is your card and try again.",
    )
}

fn out_of_date() -> Failure {
    unavailable(
        "Your smartcard's certificates have expired, so it cannot be unlocked here. Contact your Registration Authority for a new card.",
    )
}

pub fn unavailable(message: &str) -> Failure {
    Failure::new(
        StatusCode::FORBIDDEN,
        ApiError::SelfServiceUnavailable,
        message,
    )
}

/// Consumes the challenge (whatever the outcome: single use) and checks the proof.
pub fn verify_start(
    state: &Portal,
    request: &StartFlow,
    purpose: ProofPurpose,
    client: &str,
) -> Result<ProvenStart, Failure> {
    let now = state.clock.now();
    let db = state.db();
    let found: Option<(String, String, i64, bool)> = db
        .query_row(
            "SELECT nonce, purpose, expires_at, used FROM challenges WHERE id = ?1",
            params![request.challenge_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .ok();
    db.execute(
        "UPDATE challenges SET used = 1 WHERE id = ?1",
        params![request.challenge_id],
    )?;
    let event = format!("{}-proof", purpose_name(purpose));
    let record = |outcome: &str| {
        audit::append(
            &db,
            &state.keys,
            now,
            &Entry {
                card: Some(&request.proof.card_guid),
                event: &event,
                outcome,
                client: Some(client),
                ..Default::default()
            },
        )
    };
    let Some((nonce, stored_purpose, expires_at, used)) = found else {
        record("unknown-challenge")?;
        return Err(challenge_invalid());
    };
    if used || now >= expires_at || stored_purpose != purpose_name(purpose) {
        record("challenge-used-expired-or-wrong-purpose")?;
        return Err(challenge_invalid());
    }
    // The certificate first: a card from another CA is refused as such, enrolled or not.
    let presented = base64::engine::general_purpose::STANDARD
        .decode(&request.proof.certificate)
        .map_err(|_| ProofError::BadCertificate)
        .and_then(|der| cardproof::certificate_key(&der, state.trusted_ca.as_ref(), Some(now)));
    // Why a proof is refused, recorded, and what the person is told.
    let refuse = |error: ProofError| -> Failure {
        let outcome = match &error {
            ProofError::OutOfDate => "certificate-out-of-date".to_string(),
            other => format!("rejected: {other}"),
        };
        if let Err(failure) = record(&outcome) {
            return failure.into();
        }
        match error {
            ProofError::OutOfDate => out_of_date(),
            _ => proof_rejected(),
        }
    };
    if let Err(error) = presented {
        return Err(refuse(error));
    }
    let guid = request.proof.card_guid.to_ascii_lowercase();
    let Some(card) = db::card(&db, &guid)? else {
        record("card-not-enrolled")?;
        return Err(unavailable(
            "This smartcard is not set up for self-service. Contact your Registration Authority.",
        ));
    };
    // The key pinned at enrolment for this purpose: 9A for register (behind the PIN), 9E for
    // unlock (no PIN). A card enrolled without pinned keys cannot use self-service.
    let pinned = match purpose {
        ProofPurpose::Register => card.authentication_key.as_deref(),
        ProofPurpose::Unlock => card.card_authentication_key.as_deref(),
    };
    let Some(pinned) = pinned else {
        record("no-pinned-key")?;
        return Err(unavailable(
            "This smartcard is not set up for self-service. Contact your Registration Authority.",
        ));
    };
    let host_key = cardproof::verify(
        &request.proof,
        state.trusted_ca.as_ref(),
        pinned,
        &state.config.origin,
        &nonce,
        purpose,
        now,
    )
    .map_err(refuse)?;
    record("ok")?;
    Ok(ProvenStart { card, host_key })
}
