//! `status`: the PC/SC service, every reader, and what can be read of each card without
//! spending a passcode try.

use base64::Engine;
use selfservice_rules::certificate::CertificateFacts;
use selfservice_rules::protocol::{
    CardStatus, ExpirySource, ReaderStatus, ServiceState, StatusParams, StatusResult,
};

use super::Host;
use crate::piv::apdu::Slot;
use crate::piv::{CardError, Piv, Transmit};
use crate::readers::lock;
use crate::unblock::KnowledgeStore;

pub fn run(host: &Host, params: &StatusParams) -> StatusResult {
    let readers = match host.pcsc.snapshot() {
        Ok(readers) => readers,
        Err(CardError::ServiceUnavailable) => {
            return StatusResult {
                service: ServiceState::Unavailable,
                readers: Vec::new(),
            }
        }
        Err(error) => {
            tracing::warn!(%error, "listing readers failed");
            Vec::new()
        }
    };
    let readers = readers
        .into_iter()
        // One reader when asked (a page refreshing what an event named); cards elsewhere
        // are not read.
        .filter(|reader| {
            params
                .reader
                .as_ref()
                .is_none_or(|name| *name == reader.display_name())
        })
        .map(|reader| {
            let card = if reader.present {
                card_now(host, &reader)
                    .inspect_err(|error| {
                        tracing::info!(reader = %reader.display_name(), %error, "card not readable");
                    })
                    .ok()
            } else {
                None
            };
            ReaderStatus {
                name: reader.display_name(),
                card,
            }
        })
        .collect();
    StatusResult {
        service: ServiceState::Running,
        readers,
    }
}

/// What can be read of the card in `reader` without a passcode. While an operation holds the
/// card, what was last read (`busy` if nothing was), rather than wait for it.
pub fn card_now(
    host: &Host,
    reader: &crate::readers::ReaderSnapshot,
) -> Result<CardStatus, CardError> {
    if host.pcsc.is_claimed(&reader.name) {
        return lock(&host.last_status)
            .get(&reader.name)
            .cloned()
            .ok_or(CardError::Busy);
    }
    let status = read_card(host, reader)?;
    lock(&host.last_status).insert(reader.name.clone(), status.clone());
    Ok(status)
}

fn read_card(
    host: &Host,
    reader: &crate::readers::ReaderSnapshot,
) -> Result<CardStatus, CardError> {
    let profile = host.identify(&reader.atr);
    let mut connection = host.pcsc.connect(&reader.name)?;
    let (identity, certificate, retries) = connection.transaction(|card| read_identity(card))?;
    let holder = certificate
        .as_deref()
        .and_then(|der| CertificateFacts::from_der(der).ok());
    let (expiry, expiry_source) = match (identity.expiry, holder.as_ref()) {
        (Some(date), _) => (Some(date), Some(ExpirySource::Chuid)),
        (None, Some(certificate)) => (
            Some(date_of(certificate.not_after)),
            Some(ExpirySource::Certificate),
        ),
        (None, None) => (None, None),
    };
    // A record that cannot be read says nothing here; `doctor` and the unlock report it. A
    // blocked card is never unfinished, so most reads of a locked card skip the file.
    let unlock_unfinished = retries != crate::piv::PinRetries::Blocked
        && host
            .journal
            .card(&identity.guid_hex())
            .load()
            .inspect_err(|error| tracing::warn!(%error, "the record of unlock attempts"))
            .is_ok_and(|knowledge| crate::unblock::unlock_unfinished(&knowledge, retries));
    let today = time::OffsetDateTime::now_utc().date();
    Ok(CardStatus {
        profile: profile.name,
        card_name: Some(profile.label.clone()),
        guid: identity.guid_hex(),
        holder_name: holder.as_ref().and_then(|h| h.common_name.clone()),
        certificate_subject: holder.as_ref().map(|h| h.subject.clone()),
        expiry: expiry
            .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())),
        expiry_source,
        days_left: expiry.map(|d| (d - today).whole_days()),
        passcode: super::passcode_state(retries),
        pin_constraint: profile.pin_constraint,
        pin_rule_source: Some(profile.pin_rule_source),
        passcode_rule: host.passcode_rule(&profile),
        unlock_unfinished,
    })
}

type IdentityRead = (
    crate::piv::CardIdentity,
    Option<Vec<u8>>,
    crate::piv::PinRetries,
);

fn read_identity(card: &mut dyn Transmit) -> Result<IdentityRead, CardError> {
    Piv::select(card)?;
    let identity = Piv::read_identity(card)?;
    // The 9E certificate needs no PIN, so it names the holder even on a locked card.
    let certificate = match Piv::read_certificate(card, Slot::CardAuthentication) {
        Ok(der) => Some(der),
        Err(CardError::NotFound) => None,
        Err(error) => return Err(error),
    };
    let retries = Piv::pin_state(card)?;
    Ok((identity, certificate, retries))
}

/// The UTC date of a Unix time (a certificate's notAfter).
fn date_of(unix: i64) -> time::Date {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN)
}

/// The certificate in the base64 form the portal API carries.
pub fn certificate_base64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}
