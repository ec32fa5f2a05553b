//! Emailed codes for both journeys: random, single use, stored as a MAC, compared in constant
//! time, valid 15 minutes, a limited number of tries.

use axum::http::StatusCode;
use rusqlite::{params, Connection};
use selfservice_rules::api::ApiError;
use selfservice_rules::codes::{parse_code, CodeStatus, CodeValidity, CODE_DIGITS, CODE_MAX_TRIES};
use zeroize::Zeroizing;

use super::Failure;
use crate::config::TestDefect;
use crate::db::Flow;
use crate::secrets::{self, Keys};

/// How long a journey may take from its card proof.
pub const FLOW_LIFETIME_SECONDS: i64 = 60 * 60;

/// Loads a flow of this kind that has not expired.
pub fn load_flow(db: &Connection, id: &str, kind: &str, now: i64) -> Result<Flow, Failure> {
    match crate::db::flow(db, id)? {
        Some(flow) if flow.kind == kind && now < flow.expires_at && flow.step != "done" => Ok(flow),
        _ => Err(Failure::flow_expired()),
    }
}

/// A new code for the flow (replacing any earlier one); returns it for the email.
pub fn issue(
    db: &Connection,
    keys: &Keys,
    flow: &str,
    now: i64,
) -> rusqlite::Result<Zeroizing<String>> {
    let code = secrets::digits(CODE_DIGITS);
    db.execute(
        "UPDATE flows SET code_mac = ?2, code_issued_at = ?3, code_tries = 0, codes_sent = codes_sent + 1 WHERE id = ?1",
        params![flow, keys.code_mac(flow, &code), now],
    )?;
    Ok(code)
}

/// Checks a typed code against the flow's; a match spends the code.
pub fn check(
    db: &Connection,
    keys: &Keys,
    flow: &Flow,
    typed: &str,
    lifetime: i64,
    now: i64,
    defect: Option<TestDefect>,
) -> Result<(), Failure> {
    let code = parse_code(typed).map_err(|reason| {
        let message = reason.to_string();
        Failure::new(
            StatusCode::BAD_REQUEST,
            ApiError::CodeFormat { reason },
            message,
        )
    })?;
    let (Some(mac), Some(issued_at)) = (&flow.code_mac, flow.code_issued_at) else {
        return Err(Failure::out_of_order());
    };
    let validity = CodeValidity {
        issued_at,
        expires_at: issued_at + lifetime,
    };
    if validity.status(now) == CodeStatus::Expired {
        return Err(Failure::new(
            StatusCode::GONE,
            ApiError::CodeExpired,
            "This code has expired. Ask for a new code.",
        ));
    }
    if flow.code_tries >= CODE_MAX_TRIES {
        return Err(spent());
    }
    if keys.code_matches(&flow.id, &code, mac) {
        if defect == Some(TestDefect::CodeReuse) {
            // Deliberately wrong (test mode only): the code stays valid.
            return Ok(());
        }
        db.execute(
            "UPDATE flows SET code_mac = NULL WHERE id = ?1",
            params![flow.id],
        )?;
        return Ok(());
    }
    let tries = flow.code_tries + 1;
    db.execute(
        "UPDATE flows SET code_tries = ?2 WHERE id = ?1",
        params![flow.id, tries],
    )?;
    let tries_left = CODE_MAX_TRIES - tries;
    if tries_left == 0 {
        return Err(spent());
    }
    Err(Failure::new(
        StatusCode::BAD_REQUEST,
        ApiError::CodeInvalid { tries_left },
        format!(
            "The code is not right. Check the email and try again ({tries_left} {} left).",
            if tries_left == 1 { "try" } else { "tries" }
        ),
    ))
}

fn spent() -> Failure {
    Failure::new(
        StatusCode::GONE,
        ApiError::CodeSpent,
        "The code was entered wrongly too many times. Ask for a new code.",
    )
}

/// `j***@nhs.net`: enough for the user to recognise, little for anyone else.
pub fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}
