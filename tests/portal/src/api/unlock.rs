//! Unlock (seeds: "Smartcard Unlock"): card proof with 9E, 2 to 4 of the user's questions (the
//! same for every round of the flow), one generic failure for wrong answers and a lock after 3
//! failed rounds, the emailed unlock code, then the signed unblock authorization and the
//! host's report. The PUK record moves to the fresh PUK only when the host reports it rotated.

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use rand::seq::SliceRandom;
use rand::Rng;
use rusqlite::params;
use selfservice_rules::api::{
    Acknowledged, Answers, ApiError, AuthorizationIssued, CodeAccepted, CodeSent, CodeStep,
    FlowStep, StartFlow, UnlockReport, UnlockStarted,
};
use selfservice_rules::authorization::{
    UnblockAuthorization, AUTHORIZATION_LIFETIME_SECONDS, AUTHORIZATION_VERSION,
};
use selfservice_rules::codes::MAX_FAILED_QUESTION_ROUNDS;
use selfservice_rules::protocol::{ProofPurpose, Secret};
use selfservice_rules::questions::{normalise_answer, question};
use std::net::SocketAddr;

use super::challenges::{unavailable, verify_start};
use super::codes::{self, load_flow, mask, FLOW_LIFETIME_SECONDS};
use super::{client, throttle_client, throttle_key, AppState, Body, Failure, Portal, Reply};
use crate::audit::{self, Entry};
use crate::throttle;
use crate::{db, mail, secrets};

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
    if flow.step != "code" {
        return Err(Failure::out_of_order());
    }
    let outcome = codes::check(
        &db,
        &state.keys,
        &flow,
        &request.code,
        state.config.code_lifetime_seconds,
        now,
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
    db::set_step(&db, &flow.id, "passcode")?;
    Ok(Json(CodeAccepted {}))
}

pub async fn authorization(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<FlowStep>,
) -> Reply<AuthorizationIssued> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let db = state.db();
    let flow = load_flow(&db, &request.flow_id, KIND, now)?;
    // Issued only once the code is accepted; again for a retry after an interrupted unlock.
    if flow.step != "passcode" && flow.step != "authorized" {
        return Err(Failure::out_of_order());
    }
    let card = db::card(&db, &flow.card_guid)?.ok_or_else(Failure::out_of_order)?;
    let puk = state.keys.decrypt_puk(&card.puk_enc)?;
    // One fresh PUK per card until the host reports it in place, so a retry after an
    // interrupted run carries the same pair and the PUK is never lost.
    let new_puk = match &card.pending_puk_enc {
        Some(blob) => state.keys.decrypt_puk(blob)?,
        None => {
            let fresh = secrets::digits(8);
            db.execute(
                "UPDATE cards SET pending_puk_enc = ?2 WHERE guid = ?1",
                params![card.guid, state.keys.encrypt_puk(&fresh)],
            )?;
            fresh
        }
    };
    let authorization_id = secrets::random_id();
    let expires_at = (now + AUTHORIZATION_LIFETIME_SECONDS).min(flow.expires_at);
    let authorization = UnblockAuthorization {
        version: AUTHORIZATION_VERSION,
        authorization_id: authorization_id.clone(),
        card_guid: card.guid.clone(),
        origin: state.config.origin.clone(),
        flow_id: flow.id.clone(),
        issued_at: now,
        expires_at,
        puk: Secret::new(puk.to_string()),
        new_puk: Secret::new(new_puk.to_string()),
        temporary_pin: Secret::new(secrets::digits(8).to_string()),
    };
    let signed = state.keys.sign_authorization(&authorization)?;
    db.execute(
        "UPDATE flows SET authorization_id = ?2, step = 'authorized' WHERE id = ?1",
        params![flow.id, authorization_id],
    )?;
    audit::append(
        &db,
        &state.keys,
        now,
        &Entry::for_flow(&flow, "unlock-authorization", "issued", &client),
    )?;
    Ok(Json(AuthorizationIssued {
        authorization_id,
        authorization: signed,
        expires_at,
    }))
}

pub async fn result(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(report): Body<UnlockReport>,
) -> Reply<Acknowledged> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let (notify, holder) = {
        let mut db = state.db();
        let flow = load_flow(&db, &report.flow_id, KIND, now)?;
        if flow.step != "authorized" {
            return Err(Failure::out_of_order());
        }
        if flow.authorization_id.as_deref() != Some(report.authorization_id.as_str()) {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                ApiError::BadRequest {
                    field: "authorizationId".into(),
                },
                "That is not this flow's current authorization.",
            ));
        }
        let state_reported = report.state;
        let complete =
            state_reported.unblocked && state_reported.passcode_set && state_reported.puk_rotated;
        let transaction = db.transaction()?;
        if state_reported.puk_rotated {
            transaction.execute(
                "UPDATE cards SET puk_enc = pending_puk_enc, pending_puk_enc = NULL
                 WHERE guid = ?1 AND pending_puk_enc IS NOT NULL",
                params![flow.card_guid],
            )?;
        }
        if complete {
            transaction.execute(
                "UPDATE flows SET step = 'done' WHERE id = ?1",
                params![flow.id],
            )?;
        }
        let outcome = format!(
            "unblocked={} passcode-set={} puk-rotated={}{}",
            state_reported.unblocked,
            state_reported.passcode_set,
            state_reported.puk_rotated,
            report
                .error
                .as_deref()
                .map(|e| format!(" error={e}"))
                .unwrap_or_default()
        );
        audit::append(
            &transaction,
            &state.keys,
            now,
            &Entry::for_flow(&flow, "unlock-result", &outcome, &client),
        )?;
        transaction.commit()?;
        let address = db::registration_email(&db, &flow.user_uuid)?;
        let holder = db::card(&db, &flow.card_guid)?
            .map(|c| c.holder_name)
            .unwrap_or_default();
        (complete.then_some(address).flatten(), holder)
    };
    if let Some(address) = notify {
        let at = time::OffsetDateTime::from_unix_timestamp(now)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        state
            .mailer
            .send(mail::unlock_notification(&address, &holder, &at))
            .await?;
    }
    Ok(Json(Acknowledged {}))
}
