//! Every failure of a command, and its one mapping to the protocol's typed errors with a
//! sentence that tells the person what to do.

use selfservice_rules::passcode::PasscodeRule;
use selfservice_rules::protocol::{ErrorBody, HostError, UnlockState};

use crate::piv::CardError;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Card(#[from] CardError),
    /// The card went away part-way through an unlock; `state` is what it holds now.
    #[error("the card was removed during the unlock")]
    RemovedDuringUnlock { state: UnlockState },
    #[error("the new passcode breaks the rule")]
    PolicyViolation { rule: PasscodeRule },
    #[error("unlock authorization rejected: {0}")]
    AuthorizationRejected(String),
    #[error("unlock authorization in the old version {0} format")]
    AuthorizationOutdated(u32),
    #[error(transparent)]
    UnlockRecord(#[from] crate::unblock::StoreError),
    /// No PUK was sent: none is safe (docs/DESIGN.md §4.3.2).
    #[error("no PUK is safe to send: {0}")]
    NoSafePuk(crate::unblock::NoSafePuk),
    #[error("origin {0} is not a configured portal origin")]
    OriginNotAllowed(String),
    #[error("bad request field {field}: {message}")]
    BadRequest { field: String, message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl CommandError {
    pub fn bad_request(field: &str, message: impl Into<String>) -> CommandError {
        CommandError::BadRequest {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The reply body the extension receives.
    pub fn to_body(&self) -> ErrorBody {
        let (error, message) = match self {
            CommandError::Card(card) => card_error(card),
            CommandError::RemovedDuringUnlock { state } => (
                HostError::CardRemoved { state: Some(*state) },
                "Your smartcard was removed before the unlock finished. Put it back in the reader to finish unlocking it.".to_string(),
            ),
            CommandError::PolicyViolation { rule } => (
                HostError::PolicyViolation { rule: rule.clone() },
                format!("The new passcode does not meet the rule. {}", rule.description),
            ),
            CommandError::AuthorizationRejected(reason) => (
                HostError::AuthorizationRejected { reason: reason.clone() },
                format!("The unlock could not be authorised ({reason}). Start the unlock again from the beginning."),
            ),
            CommandError::AuthorizationOutdated(version) => (
                HostError::AuthorizationOutdated { version: *version },
                "The portal sent an unlock in an old format that this computer no longer accepts, so your smartcard was not changed. Contact your IT service desk: the portal needs updating.".to_string(),
            ),
            CommandError::UnlockRecord(error) => (
                HostError::UnlockRecordUnreadable,
                format!("Your smartcard was not changed: this computer's record of earlier unlock attempts cannot be read ({}). Contact your IT service desk.", error.place),
            ),
            CommandError::NoSafePuk(_) => (
                HostError::UnlockKeyUncertain,
                "Your smartcard was not changed. It cannot be unlocked here safely: one more try could stop it being unlocked at all. Contact your Registration Authority.".to_string(),
            ),
            CommandError::OriginNotAllowed(origin) => (
                HostError::OriginNotAllowed { origin: origin.clone() },
                format!("{origin} is not a portal this computer is set up for. Contact your IT service desk."),
            ),
            CommandError::BadRequest { field, message } => (
                HostError::BadRequest { field: field.clone() },
                message.clone(),
            ),
            CommandError::Internal(_) => (
                HostError::Internal,
                "Something went wrong in the smartcard service. Try again; if it keeps happening, contact your IT service desk.".to_string(),
            ),
        };
        ErrorBody { error, message }
    }
}

/// Windows stops its Smart Card service while no reader is plugged in, so there the likelier
/// cause comes first.
const SERVICE_UNAVAILABLE: &str = if cfg!(windows) {
    "No smartcard reader was found. Plug in your reader (Windows starts its smart card service when one is plugged in); if it is plugged in and this goes on, restart the computer or contact your IT service desk."
} else {
    "The smartcard service on this computer is not running. Restart the computer; if that does not help, contact your IT service desk."
};

fn card_error(error: &CardError) -> (HostError, String) {
    let text = |s: &str| s.to_string();
    match error {
        CardError::ServiceUnavailable => (HostError::ServiceUnavailable, text(SERVICE_UNAVAILABLE)),
        CardError::NoReader => (
            HostError::NoReader,
            text("No smartcard reader was found. Check that your reader is plugged in."),
        ),
        CardError::NoCard => (
            HostError::NoCard,
            text("No smartcard was found. Put your smartcard in the reader."),
        ),
        CardError::CardRemoved => (
            HostError::CardRemoved { state: None },
            text("Your smartcard was removed. Put it back in the reader and try again."),
        ),
        CardError::MultipleCards => (
            HostError::MultipleCards,
            text("More than one smartcard is inserted. Remove the cards you are not using."),
        ),
        CardError::Busy => (
            HostError::Busy,
            text("Your smartcard is busy with another task. Wait a moment and try again."),
        ),
        CardError::Timeout => (
            HostError::Timeout,
            text("No smartcard was inserted in time. Put your smartcard in the reader and try again."),
        ),
        CardError::Cancelled => (HostError::Cancelled, text("Cancelled.")),
        CardError::WrongPin { retries_left } => (
            HostError::WrongPasscode { retries_left: *retries_left },
            match retries_left {
                Some(1) => text("The passcode is wrong. You have 1 more try before your smartcard locks."),
                Some(n) => format!("The passcode is wrong. You have {n} more tries before your smartcard locks."),
                None => text("The passcode is wrong, and a try was used. Your smartcard locks after too many wrong tries."),
            },
        ),
        CardError::PinBlocked => (
            HostError::PasscodeBlocked,
            text("Your smartcard is locked because the passcode was entered wrongly too many times. You can unlock it with Smartcard Self-Service if you have registered."),
        ),
        CardError::PukBlocked | CardError::WrongPuk { .. } => (
            HostError::UnlockKeyBlocked,
            text("This smartcard can no longer be unlocked here. Contact your Registration Authority."),
        ),
        CardError::Unsupported(_) | CardError::NotFound | CardError::SecurityStatusNotSatisfied => (
            HostError::UnsupportedCard,
            text("This smartcard cannot be used with Smartcard Self-Service. Contact your Registration Authority."),
        ),
        CardError::RejectedByCard | CardError::BadSecretFormat => (
            HostError::BadRequest { field: "passcode".into() },
            text("The card refused this passcode format."),
        ),
        CardError::CommandRefused(_) => (
            HostError::Internal,
            text("The smartcard did not accept a command from the smartcard software. No passcode try was used. Try again; if it keeps happening, contact your IT service desk."),
        ),
        CardError::UnexpectedStatus(_) | CardError::Malformed(_) | CardError::Pcsc(_) => (
            HostError::Internal,
            text("The smartcard gave an answer that could not be understood. Remove it, put it back and try again."),
        ),
    }
}
