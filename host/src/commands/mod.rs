//! One module per host command. Each runs on a blocking thread (PC/SC calls block) and
//! returns its typed result or a [`CommandError`].

pub mod change_passcode;
pub mod find_card;
pub mod prove_possession;
pub mod status;
pub mod unlock;

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use selfservice_rules::passcode::{OrganisationPolicy, PasscodeRule};
use selfservice_rules::protocol::{CardStatus, PasscodeState, MAX_WAIT_FOR_CARD_MS};

use selfservice_rules::seal::HostKeyPair;

use crate::config::LoadedConfig;
use crate::errors::CommandError;
use crate::piv::profile::{self, CardProfile};
use crate::piv::{CardError, PinRetries};
use crate::puk_journal::PukJournal;
use crate::readers::{Cancel, Claim, Connection, Pcsc, ReaderSnapshot};

/// What every command works with.
pub struct Host {
    pub pcsc: Arc<Pcsc>,
    pub config: LoadedConfig,
    /// This computer's record of unlock attempts (see `unblock`).
    pub journal: PukJournal,
    /// The ephemeral key of this session's latest unlock proof: the portal seals the card's
    /// secrets to it. Taken (and so wiped) by the unlock that uses it.
    pub unlock_key: Mutex<Option<HostKeyPair>>,
    /// The last status read of each reader, shown while an operation holds the card.
    pub last_status: Mutex<HashMap<CString, CardStatus>>,
}

impl Host {
    pub fn new(config: LoadedConfig) -> Host {
        Host {
            pcsc: Arc::new(Pcsc::default()),
            journal: PukJournal::in_dir(crate::config::state_dir(config.overrides)),
            unlock_key: Mutex::new(None),
            config,
            last_status: Mutex::new(HashMap::new()),
        }
    }

    /// The effective passcode rule for a card profile in this organisation. A broken
    /// organisation override (minimum above maximum) falls back to the card's own rule;
    /// `doctor` reports it.
    pub fn passcode_rule(&self, profile: &CardProfile) -> PasscodeRule {
        PasscodeRule::effective(profile.pin_constraint, &self.config.config.passcode_policy)
            .or_else(|_| {
                PasscodeRule::effective(profile.pin_constraint, &OrganisationPolicy::default())
            })
            .unwrap_or_else(|_| PasscodeRule {
                min_length: 6,
                max_length: 8,
                charset: selfservice_rules::passcode::Charset::Digits,
                blocklist: Vec::new(),
                description: String::new(),
            })
    }
}

impl Host {
    /// Which card this is and its passcode rule, with this machine's configuration.
    pub fn identify(&self, atr: &[u8]) -> CardProfile {
        profile::identify(atr, self.config.config.card_pin_rule)
    }

    /// The effective rule for a new passcode on this card, checked before any APDU is sent
    /// (the rule is known from the card's profile, that is its ATR).
    pub fn check_new_passcode(
        &self,
        profile: &CardProfile,
        passcode: &str,
    ) -> Result<PasscodeRule, CommandError> {
        let rule = self.passcode_rule(profile);
        match rule.check(passcode) {
            Ok(()) => Ok(rule),
            Err(_) => Err(CommandError::PolicyViolation { rule }),
        }
    }
}

/// The PIN retry counter as the protocol reports it (`None`: blocked).
pub fn passcode_state(retries: PinRetries) -> PasscodeState {
    match retries {
        PinRetries::Left(retries_left) => PasscodeState::Usable {
            retries_left: Some(retries_left),
        },
        PinRetries::Verified => PasscodeState::Usable { retries_left: None },
        PinRetries::Blocked => PasscodeState::Blocked,
    }
}

/// A card chosen, claimed and connected for one operation.
pub struct OpenCard {
    pub reader: ReaderSnapshot,
    pub profile: CardProfile,
    pub connection: Connection,
    _claim: Claim,
}

pub fn open_card(
    host: &Host,
    reader: Option<&str>,
    wait_for_card_ms: Option<u32>,
    cancel: &Cancel,
) -> Result<OpenCard, CommandError> {
    let wait = wait_limit(wait_for_card_ms);
    if host.pcsc.busy_for(reader) {
        return Err(CardError::Busy.into());
    }
    let chosen = host.pcsc.choose(reader, wait, cancel)?;
    let claim = host.pcsc.claim(&chosen.name)?;
    let connection = host.pcsc.connect(&chosen.name)?;
    Ok(OpenCard {
        profile: host.identify(&chosen.atr),
        reader: chosen,
        connection,
        _claim: claim,
    })
}

/// A request's `waitForCardMs`, capped at the protocol's limit.
pub fn wait_limit(wait_for_card_ms: Option<u32>) -> Option<Duration> {
    wait_for_card_ms.map(|ms| Duration::from_millis(u64::from(ms.min(MAX_WAIT_FOR_CARD_MS))))
}

/// Unix seconds now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
