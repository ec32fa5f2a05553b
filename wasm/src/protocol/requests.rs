//! Requests, extension to host: each command's parameters and the parser the host applies to
//! every frame.

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use crate::authorization::SignedAuthorization;
use crate::json_reader::{read_params, BadRequest, WipedValue};
use crate::proof::ProofPurpose;
use crate::secret::Secret;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusParams {
    /// Only this reader (for example the one an event named); absent: every reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub reader: Option<String>,
}

/// The card a journey works with: the one in `reader`, or the only card present. The host's
/// choice, the same one every card command makes; `multiple-cards`, `no-card` or `no-reader`
/// when there is no single card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FindCardParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub reader: Option<String>,
    /// When no card is inserted, wait this long (at most 120000 ms) for one before failing
    /// with `timeout`; `cancel` ends the wait early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub wait_for_card_ms: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvePossessionParams {
    /// The reader holding the card; may be left out when exactly one card is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub reader: Option<String>,
    /// When no card is inserted, wait this long (at most 120000 ms) for one before failing
    /// with `no-card`; `cancel` ends the wait early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub wait_for_card_ms: Option<u32>,
    pub purpose: ProofPurpose,
    /// The portal origin the proof is bound to; the host accepts only configured origins.
    pub origin: String,
    /// The portal's single-use challenge, base64url.
    pub nonce: String,
    /// Required for `register`, refused for `unlock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub passcode: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub reader: Option<String>,
    /// When no card is inserted, wait this long (at most 120000 ms) for one before failing
    /// with `no-card`; `cancel` ends the wait early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub wait_for_card_ms: Option<u32>,
    /// The portal origin that issued the authorization.
    pub origin: String,
    pub authorization: SignedAuthorization,
    pub new_passcode: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasscodeParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub reader: Option<String>,
    /// When no card is inserted, wait this long (at most 120000 ms) for one before failing
    /// with `no-card`; `cancel` ends the wait early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(target_arch = "wasm32", tsify(optional))]
    pub wait_for_card_ms: Option<u32>,
    pub old_passcode: Secret,
    pub new_passcode: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelParams {
    /// The `id` of the pending request to cancel.
    pub request: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuitParams {}

/// A command and its parameters; the `type` of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Command {
    Status(StatusParams),
    FindCard(FindCardParams),
    ProvePossession(ProvePossessionParams),
    Unlock(UnlockParams),
    ChangePasscode(ChangePasscodeParams),
    Cancel(CancelParams),
    Quit(QuitParams),
}

impl Command {
    pub const STATUS: &'static str = "status";
    pub const FIND_CARD: &'static str = "find-card";
    pub const PROVE_POSSESSION: &'static str = "prove-possession";
    pub const UNLOCK: &'static str = "unlock";
    pub const CHANGE_PASSCODE: &'static str = "change-passcode";
    pub const CANCEL: &'static str = "cancel";
    pub const QUIT: &'static str = "quit";

    /// Every command's `type`, as the hello lists them. The parser and [`Command::name`] use
    /// the same constants; a test ties them to serde's names for the enum.
    pub const NAMES: [&'static str; 7] = [
        Self::STATUS,
        Self::FIND_CARD,
        Self::PROVE_POSSESSION,
        Self::UNLOCK,
        Self::CHANGE_PASSCODE,
        Self::CANCEL,
        Self::QUIT,
    ];

    /// This command's `type` on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status(_) => Self::STATUS,
            Command::FindCard(_) => Self::FIND_CARD,
            Command::ProvePossession(_) => Self::PROVE_POSSESSION,
            Command::Unlock(_) => Self::UNLOCK,
            Command::ChangePasscode(_) => Self::CHANGE_PASSCODE,
            Command::Cancel(_) => Self::CANCEL,
            Command::Quit(_) => Self::QUIT,
        }
    }
}

/// One request as the host receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub id: u32,
    #[serde(flatten)]
    pub command: Command,
}

/// Parses one request frame's body. Unknown fields, wrong types, a missing or unknown `type`
/// and bodies that are not JSON objects each come back as a [`BadRequest`] naming the field.
///
/// The parsed tree is wiped before it is dropped, so passcodes copied into [`Secret`]s leave
/// no plain copy behind (the caller wipes the frame buffer itself).
pub fn parse_request(body: &[u8]) -> Result<Request, BadRequest> {
    let text = std::str::from_utf8(body)
        .map_err(|_| BadRequest::new(None, "$", "The message is not valid UTF-8."))?;
    let tree = WipedValue(
        serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
            BadRequest::new(None, "$", format!("The message is not valid JSON: {e}."))
        })?,
    );
    let serde_json::Value::Object(fields) = &tree.0 else {
        return Err(BadRequest::new(
            None,
            "$",
            "The message must be a JSON object.",
        ));
    };
    let id = match fields.get("id") {
        None => return Err(BadRequest::new(None, "id", "The request has no id.")),
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                BadRequest::new(
                    None,
                    "id",
                    "The id must be a whole number from 0 to 4294967295.",
                )
            })?,
    };
    let kind = match fields.get("type") {
        None => {
            return Err(BadRequest::new(
                Some(id),
                "type",
                "The request has no type.",
            ))
        }
        Some(serde_json::Value::String(kind)) => kind.as_str(),
        Some(_) => {
            return Err(BadRequest::new(
                Some(id),
                "type",
                "The type must be a string.",
            ))
        }
    };
    let mut params = serde_json::Map::new();
    for (name, value) in fields {
        if name != "id" && name != "type" {
            params.insert(name.clone(), value.clone());
        }
    }
    let params = WipedValue(serde_json::Value::Object(params));
    // Each command's parameters are read on their own, not through the tagged enum: serde
    // buffers a tagged enum's content and would lose the path to a mistyped field.
    let command = match kind {
        Command::STATUS => Command::Status(read_params(id, &params.0)?),
        Command::FIND_CARD => Command::FindCard(read_params(id, &params.0)?),
        Command::PROVE_POSSESSION => Command::ProvePossession(read_params(id, &params.0)?),
        Command::UNLOCK => Command::Unlock(read_params(id, &params.0)?),
        Command::CHANGE_PASSCODE => Command::ChangePasscode(read_params(id, &params.0)?),
        Command::CANCEL => Command::Cancel(read_params(id, &params.0)?),
        Command::QUIT => Command::Quit(read_params(id, &params.0)?),
        other => {
            return Err(BadRequest::new(
                Some(id),
                "type",
                format!(
                    "Unknown command '{other}'. Known commands: {}.",
                    Command::NAMES.join(", ")
                ),
            ))
        }
    };
    Ok(Request { id, command })
}
