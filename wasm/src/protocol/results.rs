//! Each command's result.

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use super::Command;
use crate::authorization::UnlockReceipt;
use crate::passcode::{CardPinConstraint, PasscodeRule};
use crate::proof::CardProof;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    Running,
    Unavailable,
}

/// Read without spending a try (VERIFY with no data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(
    tag = "state",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum PasscodeState {
    /// `retriesLeft` is absent when the card hides its counter: the PIN is verified already
    /// by another program sharing the card (SP 800-73-4 answers `9000` then).
    Usable {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(target_arch = "wasm32", tsify(optional))]
        retries_left: Option<u8>,
    },
    Blocked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum CardProfile {
    Piv,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CardStatus {
    pub profile: CardProfile,
    /// What the card is, from the host's known cards or pcsc-tools' list of ATRs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub card_name: Option<String>,
    /// The CHUID GUID, 32 lower-case hex digits.
    pub guid: String,
    /// Readable only after the passcode on PIV; otherwise from the certificate subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub holder_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub certificate_subject: Option<String>,
    /// The card's expiry date, YYYY-MM-DD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub expiry: Option<String>,
    /// Where `expiry` came from: the CHUID, or (when the CHUID has none or a placeholder
    /// such as 99991231) the card authentication certificate's notAfter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub expiry_source: Option<ExpirySource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub days_left: Option<i64>,
    pub passcode: PasscodeState,
    pub pin_constraint: CardPinConstraint,
    /// Where `pinConstraint` came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub pin_rule_source: Option<PinRuleSource>,
    /// The effective passcode rule for this card in this organisation.
    pub passcode_rule: PasscodeRule,
    /// This computer's record says an unlock of this card reset its PIN and did not set the
    /// new passcode: the card is unblocked with a temporary PIN nobody knows, so the unlock
    /// must be finished (docs/DESIGN.md §4.3.3). Never set for a blocked card.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub unlock_unfinished: bool,
}

/// Where a card's passcode rule came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum PinRuleSource {
    /// The machine configuration's `cardPinRule`, set by IT.
    Configuration,
    /// A card generation the host knows by its ATR.
    KnownCard,
    /// Not known: the PIV specification's rule (6 to 8 digits).
    PivDefault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum ExpirySource {
    Chuid,
    Certificate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct ReaderStatus {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub card: Option<CardStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct StatusResult {
    pub service: ServiceState,
    pub readers: Vec<ReaderStatus>,
}

/// `find-card`'s answer: the card to work with and its reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CardInReader {
    pub reader: String,
    pub card: CardStatus,
}

/// Where an unblock transaction left the card, for the person (what to do next). The portal
/// does not act on it: only a card-signed [`UnlockReceipt`] moves its PUK record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct UnlockState {
    /// The PIN is no longer blocked.
    pub unblocked: bool,
    /// The PIN is the user's new passcode.
    pub passcode_set: bool,
    /// The card holds the fresh PUK from the authorization.
    pub puk_rotated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct UnlockResult {
    pub state: UnlockState,
    pub passcode: PasscodeState,
    /// For the portal: signed by the card, so the page can carry it but not make one up.
    pub receipt: UnlockReceipt,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct ChangePasscodeResult {
    pub passcode: PasscodeState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase")]
pub struct CancelResult {
    /// False when the request had already finished.
    pub cancelled: bool,
}

/// The answer to `quit`, sent just before the host exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct QuitResult {}

/// A command's result as the host sends it: on the wire the result alone (untagged), since
/// the request's `type` already says which it is.
///
/// Reading one back tries the variants in order, so a variant whose fields are a subset of a
/// later one's must come after it (`UnlockResult` has `passcode`, as `ChangePasscodeResult`
/// does; `QuitResult` has none, so it is last).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(untagged)]
pub enum CommandResult {
    Status(StatusResult),
    FindCard(CardInReader),
    ProvePossession(CardProof),
    Unlock(UnlockResult),
    ChangePasscode(ChangePasscodeResult),
    Cancel(CancelResult),
    Quit(QuitResult),
}

impl CommandResult {
    /// The `type` of the command this answers.
    pub fn command(&self) -> &'static str {
        match self {
            CommandResult::Status(_) => Command::STATUS,
            CommandResult::FindCard(_) => Command::FIND_CARD,
            CommandResult::ProvePossession(_) => Command::PROVE_POSSESSION,
            CommandResult::Unlock(_) => Command::UNLOCK,
            CommandResult::ChangePasscode(_) => Command::CHANGE_PASSCODE,
            CommandResult::Cancel(_) => Command::CANCEL,
            CommandResult::Quit(_) => Command::QUIT,
        }
    }
}

macro_rules! result_from {
    ($($variant:ident($type:ty)),*) => {
        $(impl From<$type> for CommandResult {
            fn from(result: $type) -> Self {
                CommandResult::$variant(result)
            }
        })*
    };
}
result_from!(
    Status(StatusResult),
    FindCard(CardInReader),
    ProvePossession(CardProof),
    Unlock(UnlockResult),
    ChangePasscode(ChangePasscodeResult),
    Cancel(CancelResult),
    Quit(QuitResult)
);
