//! The shape every check hands to JavaScript and writes in the shared vector file:
//! `{"ok":true,"value":...}` or `{"ok":false,"reason":{"code":...},"message":"..."}`.

use serde::Serialize;

///
/// Made only from a `Result` (its fields are the crate's own), so the pages' type, a
/// union on `ok`, holds: `value` exactly when ok, `reason` and `message` exactly when not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict<T, E> {
    pub(crate) ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<E>,
    /// The sentence to show; absent on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
}

impl<T, E: std::fmt::Display> From<Result<T, E>> for Verdict<T, E> {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(value) => Verdict {
                ok: true,
                value: Some(value),
                reason: None,
                message: None,
            },
            Err(reason) => Verdict {
                ok: false,
                value: None,
                message: Some(reason.to_string()),
                reason: Some(reason),
            },
        }
    }
}

/// What the vector file records of an accepted host request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestSummary {
    pub id: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// What the vector file records of a refused host request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct RequestProblem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    pub field: String,
    #[serde(skip)]
    pub message: String,
}

/// [`crate::protocol::parse_request`] as a verdict.
pub fn request_verdict(body: &[u8]) -> Verdict<RequestSummary, RequestProblem> {
    crate::protocol::parse_request(body)
        .map(|request| RequestSummary {
            id: request.id,
            kind: request.command.name(),
        })
        .map_err(|bad| RequestProblem {
            id: bad.id,
            field: bad.field,
            message: bad.message,
        })
        .into()
}
