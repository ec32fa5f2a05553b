//! The HTTP JSON API under `/api/v1` (paths in `selfservice_rules::api::paths`): typed errors,
//! bodies capped and read with field-naming errors, throttling by client, and an audit row for
//! every transaction.

pub mod challenges;
pub mod codes;
pub mod registration;
pub mod unlock;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use selfservice_rules::api::{paths, ApiError, ApiErrorBody, ApiErrorDetail};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cardproof::TrustedCa;
use crate::clock::Clock;
use crate::config::PortalConfig;
use crate::mail::Mailer;
use crate::secrets::Keys;
use crate::throttle;

/// Requests are small; anything bigger is refused before it is read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub struct Portal {
    pub config: PortalConfig,
    pub db: Mutex<rusqlite::Connection>,
    pub keys: Keys,
    pub clock: Clock,
    pub mailer: Mailer,
    /// One question round at a time per user, across the slow Argon2 check and across flows.
    pub rounds: RoundLocks,
    pub trusted_ca: Option<TrustedCa>,
}

pub type AppState = Arc<Portal>;

impl Portal {
    pub fn db(&self) -> MutexGuard<'_, rusqlite::Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn router(state: AppState) -> Router {
    let mut api = Router::new()
        .route(paths::CHALLENGES, post(challenges::create))
        .route(paths::REGISTRATION_START, post(registration::start))
        .route(paths::REGISTRATION_QUESTIONS, post(registration::questions))
        .route(paths::REGISTRATION_EMAIL, post(registration::email))
        .route(paths::REGISTRATION_CONFIRM, post(registration::confirm))
        .route(paths::UNLOCK_START, post(unlock::start))
        .route(paths::UNLOCK_ANSWERS, post(unlock::answers))
        .route(paths::UNLOCK_CODE, post(unlock::code))
        .route(paths::UNLOCK_CODE_RESEND, post(unlock::resend))
        .route(paths::UNLOCK_AUTHORIZATION, post(unlock::authorization))
        .route(paths::UNLOCK_RESULT, post(unlock::result));
    if state.config.test_mode {
        // Only a portal started in test mode lets a test move its clock.
        api = api.route("/api/v1/test/clock", post(advance_clock));
    }
    if let Some(path) = state.config.test_transcript.clone() {
        api = api.layer(axum::middleware::from_fn(move |request, next| {
            record_answer(path.clone(), request, next)
        }));
    }
    api.layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Test mode's transcript: each API answer's body, appended as one line.
async fn record_answer(
    path: std::path::PathBuf,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES * 4)
        .await
        .unwrap_or_default();
    let line = [bytes.as_ref(), b"\n"].concat();
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &line));
    if let Err(error) = written {
        tracing::warn!(%error, "the test transcript could not be written");
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClockMove {
    #[serde(default)]
    advance_seconds: i64,
    /// Sets the time (Unix seconds) before any advance.
    #[serde(default)]
    set: Option<i64>,
}

async fn advance_clock(
    State(state): State<AppState>,
    Body(body): Body<ClockMove>,
) -> Json<serde_json::Value> {
    if let Some(unix_seconds) = body.set {
        state.clock.set(unix_seconds);
    }
    state.clock.advance(body.advance_seconds);
    Json(serde_json::json!({"now": state.clock.now()}))
}

/// A failed request: its status, typed error and sentence.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub error: ApiError,
    pub message: String,
}

impl Failure {
    pub fn new(status: StatusCode, error: ApiError, message: impl Into<String>) -> Failure {
        // The published contract gives each error its statuses; every test run checks them.
        debug_assert!(
            error.statuses().contains(&status.as_u16()),
            "{error:?} is never sent with {status}"
        );
        Failure {
            status,
            error,
            message: message.into(),
        }
    }

    pub fn internal(what: impl std::fmt::Display) -> Failure {
        tracing::error!(%what, "internal error");
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Internal,
            "Something went wrong on our side. Try again in a few minutes.",
        )
    }

    pub fn flow_expired() -> Failure {
        Failure::new(
            StatusCode::GONE,
            ApiError::FlowExpired,
            "This session has ended. Start again from the beginning.",
        )
    }

    pub fn out_of_order() -> Failure {
        Failure::new(
            StatusCode::CONFLICT,
            ApiError::OutOfOrder,
            "That step cannot be done yet. Start again from the beginning.",
        )
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Self {
        Failure::internal(error)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::internal(error)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            error: ApiErrorDetail {
                error: self.error,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

pub type Reply<T> = Result<Json<T>, Failure>;

/// A JSON body read with the shared rules' field-naming errors (and the throttle per client).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A declared length over the cap is refused from the headers alone, so a client that
        // waits for `100 Continue` hears the refusal instead of a connection reset mid-upload.
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
            return Err(Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiError::BadRequest { field: "$".into() },
                format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                Failure::new(
                    StatusCode::PAYLOAD_TOO_LARGE.min(rejection.status()),
                    ApiError::BadRequest { field: "$".into() },
                    format!("The request body could not be read: {rejection}."),
                )
            })?;
        selfservice_rules::json_reader::read_json(&bytes)
            .map(Body)
            .map_err(|bad| {
                Failure::new(
                    StatusCode::BAD_REQUEST,
                    ApiError::BadRequest { field: bad.field },
                    bad.message,
                )
            })
    }
}

/// The client's address, for throttling and the audit log.
pub fn client(ConnectInfo(address): &ConnectInfo<SocketAddr>) -> String {
    address.ip().to_string()
}

/// Per-user locks, so that parallel submissions are judged one after another.
#[derive(Default)]
pub struct RoundLocks {
    locks: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl RoundLocks {
    pub async fn hold(&self, user: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(user.to_string()).or_default())
        };
        lock.lock_owned().await
    }
}

pub fn throttle_client(state: &Portal, client: &str) -> Result<(), Failure> {
    throttle_key(
        &state.db(),
        state.clock.now(),
        &format!("client:{client}"),
        throttle::PER_CLIENT,
    )
}

pub fn throttle_key(
    db: &rusqlite::Connection,
    now: i64,
    key: &str,
    limit: throttle::Limit,
) -> Result<(), Failure> {
    throttle::check(db, key, limit, now)?.map_err(|retry_after_seconds| {
        Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            ApiError::Throttled {
                retry_after_seconds,
            },
            format!("Too many attempts. Try again in {retry_after_seconds} seconds."),
        )
    })
}
