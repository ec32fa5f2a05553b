//! Unlock (staff guide: "Smartcard Unlock"): card proof with 9E, 2 to 4 of the user's questions (the
//! same until a round passes), one generic failure for wrong answers and a lock after 3 failed
//! rounds, the emailed unlock code, then the signed unblock authorization (the card's secrets
//! sealed to the host, docs/DESIGN.md §4.3) and the card-signed receipt. The PUK record moves to the
//! fresh PUK only on a receipt that verifies with the card's pinned 9E key.

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::seq::SliceRandom;
use rand::Rng;
use rusqlite::params;
use rusqlite::OptionalExtension;
use selfservice_rules::api::{
    Acknowledged, Answers, ApiError, AuthorizationIssued, AuthorizationRequest, CodeAccepted,
    CodeSent, CodeStep, FlowStep, StartFlow, UnlockReport, UnlockStarted,
};
use selfservice_rules::authorization::{
    receipt_digest, seal_aad, PukCandidate, ReceiptOutcome, UnblockAuthorization, UnlockReceipt,
    UnlockSecrets, AUTHORIZATION_LIFETIME_SECONDS, AUTHORIZATION_VERSION,
};
use selfservice_rules::codes::MAX_FAILED_QUESTION_ROUNDS;
use selfservice_rules::proof::ProofPurpose;
use selfservice_rules::questions::{normalise_answer, question};
use selfservice_rules::seal::seal;
use selfservice_rules::secret::Secret;
use std::net::SocketAddr;

use super::challenges::{unavailable, verify_start};
use super::codes::{self, load_flow, mask, FLOW_LIFETIME_SECONDS};
use super::{client, throttle_client, throttle_key, AppState, Body, Failure, Portal, Reply};
use crate::audit::{self, Entry};
use crate::config::TestDefect;
use crate::throttle;
use crate::{cardproof, db, mail, secrets};

const KIND: &str = "unlock";
/// New codes one flow may ask for.
const MAX_CODES_PER_FLOW: u8 = 5;

fn locked(state: &Portal) -> Failure {
    Failure::new(
        StatusCode::FORBIDDEN,
        ApiError::SelfServiceLocked {
            ra_contact: state.config.ra_contact.clone(),
        },
        format!(
            "You have answered your security questions wrongly 3 times, so self-service is locked for your smartcard. {}",
            state.config.ra_contact
        ),
    )
}

pub async fn start(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<StartFlow>,
) -> Reply<UnlockStarted> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let proven = verify_start(&state, &request, ProofPurpose::Unlock, &client)?;
    let card = proven.card;
    let now = state.clock.now();
    let db = state.db();
    // Keyed on the card the proof verified, not on what the request claims.
    throttle_key(
        &db,
        now,
        &format!("card:{}", card.guid),
        throttle::FLOW_STARTS_PER_CARD,
    )?;
    fn entry<'a>(
        card: &'a db::CardRecord,
        client: &'a str,
        flow: Option<&'a str>,
        outcome: &'a str,
    ) -> Entry<'a> {
        Entry {
            actor: Some(&card.user_uuid),
            card: Some(&card.guid),
            flow,
            event: "unlock-start",
            outcome,
            client: Some(client),
        }
    }
    if db::registration_email(&db, &card.user_uuid)?.is_none() {
        audit::append(
            &db,
            &state.keys,
            now,
            &entry(&card, &client, None, "not-registered"),
        )?;
        return Err(unavailable(
            "You have not registered for Smartcard Self-Service, so your smartcard cannot be unlocked here. Visit your local IT walk-in centre or contact your Registration Authority.",
        ));
    }
    let failed = db::failed_rounds(&db, &card.user_uuid)?;
    if failed >= MAX_FAILED_QUESTION_ROUNDS {
        audit::append(
            &db,
            &state.keys,
            now,
            &entry(&card, &client, None, "self-service-locked"),
        )?;
        return Err(locked(&state));
    }
    // The same questions until a round passes: starting again does not reroll them.
    let question_ids = match db::question_round(&db, &card.user_uuid)? {
        Some(ids) => ids,
        None => {
            let mut ids: Vec<String> = db::answers(&db, &card.user_uuid)?
                .into_iter()
                .map(|(q, _, _)| q)
                .collect();
            let mut rng = rand::thread_rng();
            let count = rng
                .gen_range(state.config.unlock_questions_min..=state.config.unlock_questions_max)
                .min(ids.len());
            ids.shuffle(&mut rng);
            ids.truncate(count);
            db::set_question_round(&db, &card.user_uuid, Some(&ids))?;
            ids
        }
    };
    let flow_id = secrets::random_id();
    let expires_at = now + FLOW_LIFETIME_SECONDS;
    db.execute(
        "INSERT INTO flows (id, kind, user_uuid, card_guid, step, question_ids, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, 'answers', ?5, ?6, ?7)",
        params![
            flow_id,
            KIND,
            card.user_uuid,
            card.guid,
            serde_json::to_string(&question_ids).map_err(Failure::internal)?,
            now,
            expires_at
        ],
    )?;
    audit::append(
        &db,
        &state.keys,
        now,
        &entry(&card, &client, Some(&flow_id), "ok"),
    )?;
    Ok(Json(UnlockStarted {
        flow_id,
        holder_name: card.holder_name.clone(),
        question_ids,
        rounds_left: MAX_FAILED_QUESTION_ROUNDS - failed,
        expires_at,
    }))
}

pub async fn answers(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<Answers>,
) -> Reply<CodeSent> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let user = load_flow(&state.db(), &request.flow_id, KIND, now)?.user_uuid;
    // One round at a time for this user, across flows, until it is judged and counted:
    // parallel submissions cannot all be judged against the same count.
    let _round = state.rounds.hold(&user).await;
    let (flow, stored) = {
        let db = state.db();
        let flow = load_flow(&db, &request.flow_id, KIND, now)?;
        if db::failed_rounds(&db, &flow.user_uuid)? >= MAX_FAILED_QUESTION_ROUNDS {
            return Err(locked(&state));
        }
        if flow.step != "answers" {
            return Err(Failure::out_of_order());
        }
        let mut asked = flow.question_ids.clone();
        let mut given: Vec<String> = request
            .answers
            .iter()
            .map(|a| a.question_id.clone())
            .collect();
        asked.sort();
        given.sort();
        if asked != given {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                ApiError::BadRequest {
                    field: "answers".into(),
                },
                "Answer each of the questions asked, once.",
            ));
        }
        (flow.clone(), db::answers(&db, &flow.user_uuid)?)
    };
    // Every answer is checked, right or wrong, so the time taken says nothing about which.
    let pairs: Vec<(String, Secret)> = request
        .answers
        .iter()
        .map(|a| (a.question_id.clone(), Secret::new(a.answer.clone())))
        .collect();
    let all_right = tokio::task::spawn_blocking(move || {
        pairs.iter().fold(true, |all, (id, answer)| {
            let Some(q) = question(id) else { return false };
            let normalised = zeroize::Zeroizing::new(normalise_answer(q.kind, answer.expose()));
            let right = stored
                .iter()
                .find(|(stored_id, _, _)| stored_id == id)
                .is_some_and(|(_, _, hash)| secrets::answer_matches(&normalised, hash));
            all & right
        })
    })
    .await
    .map_err(Failure::internal)?;
    let (address, code) = {
        let db = state.db();
        let entry =
            |outcome: &'static str| Entry::for_flow(&flow, "unlock-answers", outcome, &client);
        if !all_right {
            let failed = db::failed_rounds(&db, &flow.user_uuid)?.saturating_add(1);
            db::set_failed_rounds(&db, &flow.user_uuid, failed, now)?;
            if failed >= MAX_FAILED_QUESTION_ROUNDS {
                db::set_step(&db, &flow.id, "locked")?;
                audit::append(&db, &state.keys, now, &entry("wrong-locked"))?;
                return Err(locked(&state));
            }
            audit::append(&db, &state.keys, now, &entry("wrong"))?;
            let rounds_left = MAX_FAILED_QUESTION_ROUNDS - failed;
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                ApiError::WrongAnswers { rounds_left },
                format!(
                    "One or more answers are not right. You have {rounds_left} more {} before self-service is locked.",
                    if rounds_left == 1 { "attempt" } else { "attempts" }
                ),
            ));
        }
        db::set_failed_rounds(&db, &flow.user_uuid, 0, now)?;
        db::set_question_round(&db, &flow.user_uuid, None)?;
        let issued = issue_code(&state, &db, &flow, now)?;
        db::set_step(&db, &flow.id, "code")?;
        audit::append(&db, &state.keys, now, &entry("right-code-sent"))?;
        issued
    };
    send_code(&state, &address, &code, now).await
}

/// A new unlock code for the flow, to the user's registered address.
fn issue_code(
    state: &Portal,
    db: &rusqlite::Connection,
    flow: &db::Flow,
    now: i64,
) -> Result<(String, zeroize::Zeroizing<String>), Failure> {
    throttle_key(
        db,
        now,
        &format!("codes:{}", flow.user_uuid),
        throttle::CODES_PER_USER,
    )?;
    let address = db::registration_email(db, &flow.user_uuid)?.ok_or_else(Failure::out_of_order)?;
    let code = codes::issue(db, &state.keys, &flow.id, now)?;
    Ok((address, code))
}

async fn send_code(state: &Portal, address: &str, code: &str, now: i64) -> Reply<CodeSent> {
    state.mailer.send(mail::unlock_code(address, code)).await?;
    Ok(Json(CodeSent {
        sent_to: mask(address),
        issued_at: now,
        expires_at: now + state.config.code_lifetime_seconds,
    }))
}

pub async fn resend(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<FlowStep>,
) -> Reply<CodeSent> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let (address, code) = {
        let db = state.db();
        let flow = load_flow(&db, &request.flow_id, KIND, now)?;
        if flow.step != "code" {
            return Err(Failure::out_of_order());
        }
        if flow.codes_sent >= MAX_CODES_PER_FLOW {
            return Err(Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                ApiError::Throttled { retry_after_seconds: 3600 },
                "Too many codes were sent. Start again later, or contact your Registration Authority.",
            ));
        }
        let issued = issue_code(&state, &db, &flow, now)?;
        audit::append(
            &db,
            &state.keys,
            now,
            &Entry::for_flow(&flow, "unlock-code-resent", "ok", &client),
        )?;
        issued
    };
    send_code(&state, &address, &code, now).await
}

pub async fn code(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<CodeStep>,
) -> Reply<CodeAccepted> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let db = state.db();
    let flow = load_flow(&db, &request.flow_id, KIND, now)?;
    // The deliberate defect (test mode only) takes the code again once past this step.
    let reused = state.config.test_defect == Some(TestDefect::CodeReuse) && flow.step == "passcode";
    if flow.step != "code" && !reused {
        return Err(Failure::out_of_order());
    }
    let outcome = codes::check(
        &db,
        &state.keys,
        &flow,
        &request.code,
        state.config.code_lifetime_seconds,
        now,
        state.config.test_defect,
    );
    audit::append(
        &db,
        &state.keys,
        now,
        &Entry::for_flow(
            &flow,
            "unlock-code",
            if outcome.is_ok() {
                "ok"
            } else {
                "wrong-or-expired"
            },
            &client,
        ),
    )?;
    outcome?;
    if !reused {
        db::set_step(&db, &flow.id, "passcode")?;
    }
    Ok(Json(CodeAccepted {}))
}

/// The signed authorization, for a fresh unlock proof (a new challenge) from the host that will
/// use it: the card's secrets are sealed to that proof's host key. Issued once the code is
/// accepted, and again for each retry after an interrupted unlock.
pub async fn authorization(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<AuthorizationRequest>,
) -> Reply<AuthorizationIssued> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let flow = load_flow(&state.db(), &request.flow_id, KIND, now)?;
    if flow.step != "passcode" && flow.step != "authorized" {
        return Err(Failure::out_of_order());
    }
    let start = StartFlow {
        challenge_id: request.challenge_id.clone(),
        proof: request.proof.clone(),
    };
    let proven = verify_start(&state, &start, ProofPurpose::Unlock, &client)?;
    if proven.card.guid != flow.card_guid {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            ApiError::ProofRejected,
            "This is not the smartcard this unlock was started with. Put that card in the reader.",
        ));
    }
    let host_key = proven
        .host_key
        .map(|k| URL_SAFE_NO_PAD.encode(k))
        .ok_or_else(Failure::out_of_order)?;
    // The person is told an unlock was authorized before any authorization leaves the portal,
    // so the email cannot be suppressed by never reporting the result.
    if !flow.authorized_notice_sent {
        let (address, holder) = {
            let db = state.db();
            let address =
                db::registration_email(&db, &flow.user_uuid)?.ok_or_else(Failure::out_of_order)?;
            (address, proven.card.holder_name.clone())
        };
        state
            .mailer
            .send(mail::unlock_authorized(&address, &holder, &rfc3339(now)))
            .await
            .map_err(|error| {
                tracing::warn!(%error, "the unlock notification could not be sent");
                Failure::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ApiError::Internal,
                    "We could not send the email that tells you about this unlock, so your smartcard has not been changed. Try again in a few minutes.",
                )
            })?;
    }
    let mut db = state.db();
    let transaction = db.transaction()?;
    let card = db::card(&transaction, &flow.card_guid)?.ok_or_else(Failure::out_of_order)?;
    let current = PukCandidate {
        id: card
            .puk_id
            .clone()
            .unwrap_or_else(|| LEGACY_PUK_ID.to_string()),
        puk: Secret::new(state.keys.decrypt_puk(&card.puk_enc)?.to_string()),
    };
    // One fresh PUK per card until a receipt shows it in place: every retry carries the same
    // pair, and the host can tell which one the card took.
    let fresh = match (&card.pending_puk_enc, &card.pending_puk_id) {
        (Some(blob), Some(id)) => PukCandidate {
            id: id.clone(),
            puk: Secret::new(state.keys.decrypt_puk(blob)?.to_string()),
        },
        _ => {
            let fresh = PukCandidate {
                id: secrets::random_id(),
                puk: Secret::new(secrets::digits(8).to_string()),
            };
            transaction.execute(
                "UPDATE cards SET pending_puk_enc = ?2, pending_puk_id = ?3, puk_id = ?4 WHERE guid = ?1",
                params![
                    card.guid,
                    state.keys.encrypt_puk(fresh.puk.expose()),
                    fresh.id,
                    current.id
                ],
            )?;
            fresh
        }
    };
    let puks = if card.pending_puk_enc.is_some() {
        vec![current, fresh.clone()]
    } else {
        vec![current]
    };
    let unlock_secrets = UnlockSecrets {
        puks,
        fresh_puk: fresh,
        temporary_pin: Secret::new(secrets::digits(8).to_string()),
    };
    let authorization_id = secrets::random_id();
    let expires_at = (now + AUTHORIZATION_LIFETIME_SECONDS).min(flow.expires_at);
    let sealed = seal(
        &host_key,
        &unlock_secrets,
        &seal_aad(&authorization_id, &card.guid),
    )
    .map_err(Failure::internal)?;
    let authorization = UnblockAuthorization {
        version: AUTHORIZATION_VERSION,
        authorization_id: authorization_id.clone(),
        card_guid: card.guid.clone(),
        origin: state.config.origin.clone(),
        flow_id: flow.id.clone(),
        issued_at: now,
        expires_at,
        host_key,
        sealed,
    };
    let (signed, payload_hash) = state.keys.sign_authorization(&authorization)?;
    transaction.execute(
        "INSERT INTO authorizations (id, flow_id, card_guid, payload_hash, issued_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![authorization_id, flow.id, card.guid, payload_hash.to_vec(), now],
    )?;
    transaction.execute(
        "UPDATE flows SET authorization_id = ?2, step = 'authorized', authorized_notice_sent = 1 WHERE id = ?1",
        params![flow.id, authorization_id],
    )?;
    audit::append(
        &transaction,
        &state.keys,
        now,
        &Entry::for_flow(&flow, "unlock-authorization", "issued", &client),
    )?;
    transaction.commit()?;
    Ok(Json(AuthorizationIssued {
        authorization_id,
        authorization: signed,
        expires_at,
    }))
}

/// The id given to a PUK enrolled before PUKs had ids.
const LEGACY_PUK_ID: &str = "enrolled";

fn rfc3339(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn receipt_rejected() -> Failure {
    Failure::new(
        StatusCode::FORBIDDEN,
        ApiError::ProofRejected,
        "The confirmation from your smartcard could not be checked. Your smartcard may still be unlocked: try logging in with your new passcode.",
    )
}

/// How an unlock ended. Only a receipt the card signed (9E, pinned key) over this
/// authorization moves the PUK record and finishes the flow; anything else is recorded and
/// changes nothing.
pub async fn result(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(report): Body<UnlockReport>,
) -> Reply<Acknowledged> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let (flow, card) = {
        let db = state.db();
        let flow = load_flow(&db, &report.flow_id, KIND, now)?;
        if flow.step != "authorized" {
            return Err(Failure::out_of_order());
        }
        let card = db::card(&db, &flow.card_guid)?.ok_or_else(Failure::out_of_order)?;
        (flow, card)
    };
    let stored: Option<(Vec<u8>, Option<i64>)> = state
        .db()
        .query_row(
            "SELECT payload_hash, receipt_at FROM authorizations WHERE id = ?1 AND flow_id = ?2",
            params![report.authorization_id, flow.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((payload_hash, _)) = stored else {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            ApiError::BadRequest {
                field: "authorizationId".into(),
            },
            "That is not one of this unlock's authorizations.",
        ));
    };
    let Some(receipt) = &report.receipt else {
        // Interrupted: recorded for the RA's view; the PUK record stays as it is.
        let db = state.db();
        let outcome = format!(
            "no-receipt error={}",
            report.error.as_deref().unwrap_or("none")
        );
        audit::append(
            &db,
            &state.keys,
            now,
            &Entry::for_flow(&flow, "unlock-result", &outcome, &client),
        )?;
        return Ok(Json(Acknowledged {}));
    };
    let checked = state.config.test_defect != Some(TestDefect::ReceiptUnchecked);
    let outcome = match check_receipt(
        receipt,
        &payload_hash,
        &card,
        &report.authorization_id,
        checked,
    ) {
        Ok(outcome) => outcome,
        Err(why) => {
            audit::append(
                &state.db(),
                &state.keys,
                now,
                &Entry::for_flow(
                    &flow,
                    "unlock-receipt",
                    &format!("rejected: {why}"),
                    &client,
                ),
            )?;
            return Err(receipt_rejected());
        }
    };
    let (address, promoted) = {
        let mut db = state.db();
        let transaction = db.transaction()?;
        // The card took the fresh PUK: it becomes the one on record; the old one is dropped.
        let promoted = card.pending_puk_id.as_deref() == Some(outcome.puk_id.as_str());
        if promoted {
            transaction.execute(
                "UPDATE cards SET puk_enc = pending_puk_enc, puk_id = pending_puk_id,
                        pending_puk_enc = NULL, pending_puk_id = NULL
                 WHERE guid = ?1 AND pending_puk_id = ?2",
                params![card.guid, outcome.puk_id],
            )?;
        }
        transaction.execute(
            "UPDATE authorizations SET receipt_at = ?2 WHERE id = ?1",
            params![report.authorization_id, now],
        )?;
        transaction.execute(
            "UPDATE flows SET step = 'done' WHERE id = ?1",
            params![flow.id],
        )?;
        audit::append(
            &transaction,
            &state.keys,
            now,
            &Entry::for_flow(
                &flow,
                "unlock-receipt",
                if promoted {
                    "verified puk-rotated"
                } else {
                    "verified"
                },
                &client,
            ),
        )?;
        transaction.commit()?;
        (db::registration_email(&db, &flow.user_uuid)?, promoted)
    };
    tracing::info!(card = %card.guid, promoted, "unlock receipt verified");
    if let Some(address) = address {
        // The card is unlocked whatever happens to this email: a failure is recorded for the
        // RA, never shown to the person as a problem with the unlock.
        let sent = state
            .mailer
            .send(mail::unlock_notification(
                &address,
                &card.holder_name,
                &rfc3339(now),
            ))
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "the unlocked notification could not be sent");
            audit::append(
                &state.db(),
                &state.keys,
                now,
                &Entry::for_flow(&flow, "unlock-notification", "not-sent", &client),
            )?;
        }
    }
    Ok(Json(Acknowledged {}))
}

/// A receipt's outcome, once its signature verifies with the card's pinned 9E key over this
/// authorization and it names this authorization and card.
fn check_receipt(
    receipt: &UnlockReceipt,
    payload_hash: &[u8],
    card: &db::CardRecord,
    authorization_id: &str,
    signature_checked: bool,
) -> Result<ReceiptOutcome, &'static str> {
    let payload_hash: [u8; 32] = payload_hash.try_into().map_err(|_| "stored hash")?;
    let outcome_bytes = URL_SAFE_NO_PAD
        .decode(&receipt.outcome)
        .map_err(|_| "outcome not base64url")?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&receipt.signature)
        .map_err(|_| "signature not base64")?;
    let key = card
        .card_authentication_key
        .as_deref()
        .ok_or("no pinned 9E key")?;
    if signature_checked {
        cardproof::verify_signature(
            key,
            receipt.algorithm,
            &receipt_digest(&payload_hash, &outcome_bytes),
            &signature,
        )
        .map_err(|_| "signature")?;
    }
    let outcome: ReceiptOutcome =
        serde_json::from_slice(&outcome_bytes).map_err(|_| "outcome not JSON")?;
    if outcome.authorization_id != authorization_id || outcome.card_guid != card.guid {
        return Err("for another authorization or card");
    }
    if !outcome.passcode_set {
        return Err("the passcode was not set");
    }
    Ok(outcome)
}
