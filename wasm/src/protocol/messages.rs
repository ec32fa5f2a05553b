//! Host to extension: the hello, replies (a result or a typed error), and events.

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use super::{CommandResult, UnlockState};
use crate::passcode::PasscodeRule;

/// The host's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(tag = "type", rename = "hello", rename_all = "camelCase")]
pub struct Hello {
    pub protocol: u32,
    /// The host's semantic version.
    pub version: String,
    pub capabilities: Vec<String>,
}

/// A change the host noticed without being asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "event",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum HostEvent {
    /// The PC/SC service stopped or cannot be reached.
    ServiceUnavailable,
    /// The PC/SC service is back.
    ServiceAvailable,
    ReaderAdded {
        reader: String,
    },
    ReaderRemoved {
        reader: String,
    },
    CardInserted {
        reader: String,
    },
    CardRemoved {
        reader: String,
    },
}

/// (Its TypeScript type, `HostEvent & { type: "event" }`, is declared in `wasm_api`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "event")]
pub struct EventMessage {
    #[serde(flatten)]
    pub event: HostEvent,
}

/// What the extension can do about a failure; `code` is kebab-case on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "code",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum HostError {
    /// No PC/SC service (pcscd stopped, Smart Card service disabled).
    ServiceUnavailable,
    NoReader,
    NoCard,
    /// More than one card is inserted and the request named no reader.
    MultipleCards,
    /// The card was removed during the operation. `state` says what the card holds now.
    CardRemoved {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(target_arch = "wasm32", tsify(optional))]
        state: Option<UnlockState>,
    },
    /// Not a card this host can work with (not PIV, or no certificate for the key needed).
    UnsupportedCard,
    /// A try was spent. `retriesLeft` is absent when the card did not say (`6300`) and
    /// could not be asked.
    WrongPasscode {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(target_arch = "wasm32", tsify(optional))]
        retries_left: Option<u8>,
    },
    PasscodeBlocked,
    /// The new passcode breaks the effective rule; `rule` is that rule.
    PolicyViolation {
        rule: PasscodeRule,
    },
    /// The unblock authorization was refused (bad signature, other card, expired, not for
    /// this host session).
    AuthorizationRejected {
        reason: String,
    },
    /// The authorization is in a format this host no longer accepts (version 1 carried the
    /// card's secrets in clear): the portal must be updated.
    AuthorizationOutdated {
        version: u32,
    },
    /// This computer's record of unlock attempts cannot be read, so the host will not risk a
    /// PUK try on a guess; IT can look at the file `doctor` names.
    UnlockRecordUnreadable,
    /// The card's PUK is blocked: only the Registration Authority can unlock it now.
    UnlockKeyBlocked,
    /// Nothing was sent to the card: no PUK is safe to try (the card refused every PUK the
    /// portal names, or one more wrong try could block it). The card is unchanged; only the
    /// Registration Authority can go on.
    UnlockKeyUncertain,
    /// The origin is not one of the configured portal origins.
    OriginNotAllowed {
        origin: String,
    },
    /// Another operation is using the card.
    Busy,
    Timeout,
    Cancelled,
    BadRequest {
        field: String,
    },
    Internal,
}

/// An error reply's body: the code with its data, and a sentence for people.
/// (Its TypeScript type, `HostError & { message: string }`, is declared in `wasm_api`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(flatten)]
    pub error: HostError,
    pub message: String,
}

/// `result` or `error`, never both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Result(CommandResult),
    Error(ErrorBody),
}

/// The one reply to a request. `id` is null only for a frame so broken that its id could not
/// be read (for example, over the size cap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: Option<u32>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Any frame the host writes. Used by tests and tools that read the host's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HostMessage {
    Hello(Hello),
    Event(EventMessage),
    Reply(Reply),
}
