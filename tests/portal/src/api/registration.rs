//! Registration (staff guide: "Self Service Registration"): card proof after the passcode (9A),
//! four questions and answers, an approved email, the emailed code, confirm.

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use rusqlite::params;
use selfservice_rules::api::{
    Acknowledged, Answers, ApiError, CodeSent, CodeStep, EmailStep, RegistrationComplete,
    RegistrationStarted, StartFlow,
};
use selfservice_rules::email::EmailPolicy;
use selfservice_rules::proof::ProofPurpose;
use selfservice_rules::questions::check_registration_choice;
use std::net::SocketAddr;

use super::challenges::verify_start;
use super::codes::{self, load_flow, FLOW_LIFETIME_SECONDS};
use super::{client, throttle_client, throttle_key, AppState, Body, Failure, Reply};
use crate::audit::{self, Entry};
use crate::throttle;
use crate::{db, mail, secrets};

pub const COMPLETE: &str = "Self Service Registration is complete.";
const KIND: &str = "registration";

pub async fn start(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<StartFlow>,
) -> Reply<RegistrationStarted> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let proven = verify_start(&state, &request, ProofPurpose::Register, &client)?;
    let now = state.clock.now();
    let flow_id = secrets::random_id();
    let expires_at = now + FLOW_LIFETIME_SECONDS;
    let db = state.db();
    // Keyed on the card the proof verified (its enrolled, normalised GUID), not on what the
    // request claims.
    throttle_key(
        &db,
        now,
        &format!("card:{}", proven.card.guid),
        throttle::FLOW_STARTS_PER_CARD,
    )?;
    db.execute(
        "INSERT INTO flows (id, kind, user_uuid, card_guid, step, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, 'questions', ?5, ?6)",
        params![
            flow_id,
            KIND,
            proven.card.user_uuid,
            proven.card.guid,
            now,
            expires_at
        ],
    )?;
    audit::append(
        &db,
        &state.keys,
        now,
        &Entry {
            actor: Some(&proven.card.user_uuid),
            card: Some(&proven.card.guid),
            flow: Some(&flow_id),
            event: "registration-start",
            outcome: "ok",
            client: Some(&client),
        },
    )?;
    Ok(Json(RegistrationStarted {
        flow_id,
        holder_name: proven.card.holder_name.clone(),
        email_on_file: db::email_on_file(&db, &proven.card.user_uuid)?,
        expires_at,
    }))
}

pub async fn questions(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<Answers>,
) -> Reply<Acknowledged> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let flow = load_flow(&state.db(), &request.flow_id, KIND, now)?;
    if flow.step != "questions" && flow.step != "email" {
        return Err(Failure::out_of_order());
    }
    let normalised = check_registration_choice(&request.answers).map_err(|reason| {
        let message = reason.to_string();
        Failure::new(
            StatusCode::BAD_REQUEST,
            ApiError::AnswersRejected { reason },
            message,
        )
    })?;
    // Argon2id is deliberately slow: hash outside the database lock.
    let hashed = tokio::task::spawn_blocking(move || {
        normalised
            .iter()
            .map(|a| secrets::hash_answer(&a.value).map(|h| (a.question_id.clone(), a.version, h)))
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await
    .map_err(Failure::internal)??;
    let db = state.db();
    db.execute(
        "UPDATE flows SET pending_answers = ?2, step = 'email' WHERE id = ?1",
        params![
            flow.id,
            serde_json::to_string(&hashed).map_err(Failure::internal)?
        ],
    )?;
    audit::append(
        &db,
        &state.keys,
        now,
        &Entry::for_flow(&flow, "registration-questions", "ok", &client),
    )?;
    Ok(Json(Acknowledged {}))
}

pub async fn email(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<EmailStep>,
) -> Reply<CodeSent> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let policy = EmailPolicy {
        approved_domains: state.config.approved_domains.clone(),
    };
    let (address, code) = {
        let db = state.db();
        let flow = load_flow(&db, &request.flow_id, KIND, now)?;
        if flow.step != "email" && flow.step != "code" {
            return Err(Failure::out_of_order());
        }
        let address = policy.check(&request.email).map_err(|reason| {
            let message = reason.to_string();
            Failure::new(
                StatusCode::BAD_REQUEST,
                ApiError::EmailRejected { reason },
                message,
            )
        })?;
        throttle_key(
            &db,
            now,
            &format!("codes:{}", flow.user_uuid),
            throttle::CODES_PER_USER,
        )?;
        db.execute(
            "UPDATE flows SET email = ?2, step = 'code' WHERE id = ?1",
            params![flow.id, address],
        )?;
        let code = codes::issue(&db, &state.keys, &flow.id, now)?;
        audit::append(
            &db,
            &state.keys,
            now,
            &Entry::for_flow(&flow, "registration-code-sent", "ok", &client),
        )?;
        (address, code)
    };
    state
        .mailer
        .send(mail::registration_code(&address, &code))
        .await?;
    Ok(Json(CodeSent {
        sent_to: address,
        issued_at: now,
        expires_at: now + state.config.code_lifetime_seconds,
    }))
}

pub async fn confirm(
    State(state): State<AppState>,
    info: ConnectInfo<SocketAddr>,
    Body(request): Body<CodeStep>,
) -> Reply<RegistrationComplete> {
    let client = client(&info);
    throttle_client(&state, &client)?;
    let now = state.clock.now();
    let mut db = state.db();
    let flow = load_flow(&db, &request.flow_id, KIND, now)?;
    if flow.step != "code" {
        return Err(Failure::out_of_order());
    }
    let entry =
        |outcome: &'static str| Entry::for_flow(&flow, "registration-confirm", outcome, &client);
    if let Err(failure) = codes::check(
        &db,
        &state.keys,
        &flow,
        &request.code,
        state.config.code_lifetime_seconds,
        now,
        state.config.test_defect,
    ) {
        audit::append(&db, &state.keys, now, &entry("wrong-or-expired-code"))?;
        return Err(failure);
    }
    let answers: Vec<(String, u32, String)> =
        serde_json::from_str(flow.pending_answers.as_deref().unwrap_or("[]"))
            .map_err(Failure::internal)?;
    let (Some(address), 4) = (&flow.email, answers.len()) else {
        return Err(Failure::out_of_order());
    };
    let transaction = db.transaction()?;
    transaction.execute(
        "INSERT INTO registrations (user_uuid, email, registered_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(user_uuid) DO UPDATE SET email = ?2, registered_at = ?3",
        params![flow.user_uuid, address, now],
    )?;
    transaction.execute(
        "DELETE FROM answers WHERE user_uuid = ?1",
        params![flow.user_uuid],
    )?;
    // New answers, new questions to choose from.
    db::set_question_round(&transaction, &flow.user_uuid, None)?;
    for (question, version, hash) in &answers {
        transaction.execute(
            "INSERT INTO answers (user_uuid, question_id, version, hash) VALUES (?1, ?2, ?3, ?4)",
            params![flow.user_uuid, question, version, hash],
        )?;
    }
    transaction.execute(
        "UPDATE flows SET step = 'done', pending_answers = NULL WHERE id = ?1",
        params![flow.id],
    )?;
    audit::append(&transaction, &state.keys, now, &entry("registered"))?;
    transaction.commit()?;
    Ok(Json(RegistrationComplete {
        message: COMPLETE.into(),
    }))
}
