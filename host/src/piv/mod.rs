//! The card layer: a thin PIV profile over PC/SC, written here because the `yubikey` crate
//! talks only to YubiKeys.
//!
//! - [`apdu`]: the PIV commands and the status-word table
//! - [`tlv`]: BER-TLV reading
//! - [`transport`]: sending APDUs through PC/SC, with GET RESPONSE chaining and removal detection
//! - [`profile`]: which card it is and its passcode rule (configuration, known ATRs, PIV)
//! - [`known_cards`]: card names from pcsc-tools' list of real ATRs

pub mod apdu;
pub mod known_cards;
pub mod profile;
pub mod tlv;
pub mod transport;

use time::Date;

use apdu::{Checked, Slot};
pub use transport::Transmit;

/// What can go wrong talking to a card. Mapped to the protocol's errors in `errors.rs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("the PC/SC service is not available")]
    ServiceUnavailable,
    #[error("no card reader is connected")]
    NoReader,
    #[error("no card is in the reader")]
    NoCard,
    #[error("the card was removed")]
    CardRemoved,
    #[error("more than one card is inserted")]
    MultipleCards,
    #[error("another program is using the card")]
    Busy,
    #[error("timed out")]
    Timeout,
    #[error("cancelled")]
    Cancelled,
    #[error("not a supported card: {0}")]
    Unsupported(String),
    /// A try was spent. `None`: the card did not say how many are left (`6300`).
    #[error("wrong PIN ({retries_left:?} tries left)")]
    WrongPin { retries_left: Option<u8> },
    #[error("the PIN is blocked")]
    PinBlocked,
    /// A try was spent. `None`: the card did not say how many are left (`6300`).
    #[error("wrong PUK ({retries_left:?} tries left)")]
    WrongPuk { retries_left: Option<u8> },
    #[error("the PUK is blocked")]
    PukBlocked,
    #[error("the card needs the PIN first")]
    SecurityStatusNotSatisfied,
    #[error("the card refused the new value")]
    RejectedByCard,
    #[error("the card does not hold that object")]
    NotFound,
    #[error("a PIN or PUK that cannot be encoded for the card")]
    BadSecretFormat,
    /// The card refused the command's form (length, parameters) without running it.
    #[error("the card refused the command's form ({0:04X})")]
    CommandRefused(u16),
    #[error("the card answered {0:04X}")]
    UnexpectedStatus(u16),
    #[error("the card's data could not be read: {0}")]
    Malformed(String),
    #[error("PC/SC error: {0}")]
    Pcsc(String),
}

/// The PIN's retry counter as the card tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinRetries {
    /// Tries left before the PIN blocks.
    Left(u8),
    /// Verified in this card session (by another program sharing the card): usable, and the
    /// card does not say how many tries are left.
    Verified,
    Blocked,
}

impl CardError {
    /// Whether the command's fate is unknown: the answer never came (card pulled, reader or
    /// service gone). Every other error is the card's own answer, so the command did not run
    /// (or, for a wrong PIN or PUK, ran and said so).
    pub fn is_cut_off(&self) -> bool {
        matches!(
            self,
            CardError::CardRemoved
                | CardError::NoCard
                | CardError::NoReader
                | CardError::ServiceUnavailable
                | CardError::Timeout
                | CardError::Cancelled
                | CardError::Busy
                | CardError::Pcsc(_)
        )
    }
}

/// The identity objects any reader may read without a PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardIdentity {
    pub guid: [u8; 16],
    pub expiry: Option<Date>,
}

impl CardIdentity {
    pub fn guid_hex(&self) -> String {
        self.guid.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// PIV operations over any transport. Each takes the transport explicitly so that a caller
/// holding a PC/SC transaction runs several of them atomically.
pub struct Piv;

impl Piv {
    pub fn select(card: &mut dyn Transmit) -> Result<(), CardError> {
        let response = card.transmit(&apdu::select_piv())?;
        match apdu::check(response.sw, Checked::Nothing) {
            Err(CardError::NotFound) => Err(CardError::Unsupported("no PIV application".into())),
            other => other,
        }
    }

    /// The PIN retry counter, read without spending a try. A card with the PIN verified in
    /// this card session answers `9000`, which hides the counter (SP 800-73-4 §3.2.1): that
    /// is [`PinRetries::Verified`], never a guessed count.
    pub fn pin_state(card: &mut dyn Transmit) -> Result<PinRetries, CardError> {
        let response = card.transmit(&apdu::verify_status())?;
        match apdu::check(response.sw, Checked::Pin) {
            Ok(()) => Ok(PinRetries::Verified),
            Err(CardError::WrongPin {
                retries_left: Some(retries_left),
            }) => Ok(PinRetries::Left(retries_left)),
            Err(CardError::PinBlocked) => Ok(PinRetries::Blocked),
            // A counter query that answers "failed, no counter" tells nothing.
            Err(CardError::WrongPin { retries_left: None }) => {
                Err(CardError::UnexpectedStatus(response.sw))
            }
            Err(other) => Err(other),
        }
    }

    /// Ends the PIN's verified state. A card that does not know VERIFY `P1=FF` (older than
    /// SP 800-73-4) is reset when the transaction ends instead, which also clears it.
    pub fn logout(card: &mut dyn Transmit) -> Result<(), CardError> {
        let response = card.transmit(&apdu::logout())?;
        if response.sw != 0x9000 {
            tracing::debug!(
                sw = format!("{:04X}", response.sw),
                "VERIFY P1=FF refused; resetting the card instead"
            );
            card.reset_when_done();
        }
        Ok(())
    }

    /// Runs `operation`, which may verify the PIN, and logs out afterwards whatever it
    /// returned, so the card is never left verified for another program.
    pub fn then_logout<T, E: From<CardError>>(
        card: &mut dyn Transmit,
        operation: impl FnOnce(&mut dyn Transmit) -> Result<T, E>,
    ) -> Result<T, E> {
        let outcome = operation(card);
        match Self::logout(card) {
            Ok(()) => outcome,
            // The card went away: it is powered off, which clears the PIN anyway.
            Err(CardError::CardRemoved) => outcome,
            Err(error) => {
                card.reset_when_done();
                outcome.and(Err(error.into()))
            }
        }
    }

    /// A wrong-PIN answer without a counter (`6300`) made truthful: the counter is read
    /// (that spends nothing), so the person hears how many tries are left, or that it locked.
    fn pin_failure(card: &mut dyn Transmit, error: CardError) -> CardError {
        if error != (CardError::WrongPin { retries_left: None }) {
            return error;
        }
        match Self::pin_state(card) {
            Ok(PinRetries::Left(retries_left)) => CardError::WrongPin {
                retries_left: Some(retries_left),
            },
            Ok(PinRetries::Blocked) => CardError::PinBlocked,
            Ok(PinRetries::Verified) | Err(_) => error,
        }
    }

    pub fn read_identity(card: &mut dyn Transmit) -> Result<CardIdentity, CardError> {
        let chuid = Self::read_object(card, &apdu::OBJECT_CHUID)?;
        let guid: [u8; 16] = tlv::find(&chuid, &[0x34])
            .and_then(|g| g.try_into().ok())
            .ok_or_else(|| CardError::Malformed("CHUID has no 16-byte GUID".into()))?;
        let expiry = tlv::find(&chuid, &[0x35]).and_then(parse_chuid_date);
        Ok(CardIdentity { guid, expiry })
    }

    /// A certificate's DER bytes.
    pub fn read_certificate(card: &mut dyn Transmit, slot: Slot) -> Result<Vec<u8>, CardError> {
        let object = Self::read_object(card, &slot.certificate_object())?;
        tlv::find(&object, &[0x70])
            .map(<[u8]>::to_vec)
            .ok_or_else(|| CardError::Malformed("certificate object has no certificate".into()))
    }

    /// A data object's value (the contents of its 53 wrapper).
    fn read_object(card: &mut dyn Transmit, object: &[u8; 3]) -> Result<Vec<u8>, CardError> {
        let response = card.transmit(&apdu::get_data(object))?;
        apdu::check(response.sw, Checked::Nothing)?;
        tlv::find(&response.data, &[0x53])
            .map(<[u8]>::to_vec)
            .ok_or_else(|| CardError::Malformed("data object without its 53 wrapper".into()))
    }

    pub fn verify(card: &mut dyn Transmit, pin: &str) -> Result<(), CardError> {
        let block = apdu::pin_block(pin)?;
        let response = card.transmit(&apdu::verify(&block))?;
        apdu::check(response.sw, Checked::Pin).map_err(|e| Self::pin_failure(card, e))
    }

    pub fn change_pin(card: &mut dyn Transmit, old: &str, new: &str) -> Result<(), CardError> {
        let (old, new) = (apdu::pin_block(old)?, apdu::pin_block(new)?);
        let response = card.transmit(&apdu::change_reference_data(apdu::KEY_PIN, &old, &new))?;
        apdu::check(response.sw, Checked::Pin).map_err(|e| Self::pin_failure(card, e))
    }

    pub fn change_puk(card: &mut dyn Transmit, old: &str, new: &str) -> Result<(), CardError> {
        let (old, new) = (apdu::pin_block(old)?, apdu::pin_block(new)?);
        let response = card.transmit(&apdu::change_reference_data(apdu::KEY_PUK, &old, &new))?;
        apdu::check(response.sw, Checked::Puk)
    }

    pub fn reset_retry_counter(
        card: &mut dyn Transmit,
        puk: &str,
        new_pin: &str,
    ) -> Result<(), CardError> {
        let (puk, new_pin) = (apdu::pin_block(puk)?, apdu::pin_block(new_pin)?);
        let response = card.transmit(&apdu::reset_retry_counter(&puk, &new_pin))?;
        apdu::check(response.sw, Checked::Puk)
    }

    /// Signs a 32-byte digest; returns the DER-encoded ECDSA signature.
    pub fn sign(
        card: &mut dyn Transmit,
        slot: Slot,
        key: KeyKind,
        digest: &[u8; 32],
    ) -> Result<Vec<u8>, CardError> {
        let response = match key {
            KeyKind::P256 => card.transmit(&apdu::sign_p256(slot, digest))?,
            KeyKind::Rsa2048 => {
                let chain = apdu::sign_rsa2048(slot, digest);
                let (last, head) = chain.split_last().ok_or(CardError::BadSecretFormat)?;
                for link in head {
                    apdu::check(card.transmit(link)?.sw, Checked::Nothing)?;
                }
                card.transmit(last)?
            }
        };
        apdu::check(response.sw, Checked::Nothing)?;
        tlv::find(&response.data, &[0x7C])
            .and_then(|template| tlv::find(template, &[0x82]))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| CardError::Malformed("signature response without 7C/82".into()))
    }
}

/// The kind of key a slot holds, from its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    P256,
    Rsa2048,
}

impl KeyKind {
    /// From the certificate's subject public key: EC (P-256) or RSA (2048 bits, the size
    /// PIV cards use; a card with another size refuses the block).
    pub fn of_certificate(der: &[u8]) -> Result<KeyKind, CardError> {
        use x509_cert::der::Decode;
        const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
        const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
        let certificate = x509_cert::Certificate::from_der(der)
            .map_err(|e| CardError::Malformed(format!("certificate: {e}")))?;
        let algorithm = certificate
            .tbs_certificate
            .subject_public_key_info
            .algorithm
            .oid
            .to_string();
        match algorithm.as_str() {
            EC_PUBLIC_KEY => Ok(KeyKind::P256),
            RSA_ENCRYPTION => Ok(KeyKind::Rsa2048),
            other => Err(CardError::Unsupported(format!("a key of type {other}"))),
        }
    }
}

/// CHUID expiry: eight ASCII digits, YYYYMMDD. The placeholder some issuers write instead
/// of a date (`99991231`, any year 9999) is no date: the certificates say when the card
/// expires.
fn parse_chuid_date(bytes: &[u8]) -> Option<Date> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = text[..4].parse().ok()?;
    let month: u8 = text[4..6].parse().ok()?;
    let day: u8 = text[6..].parse().ok()?;
    if year >= 9999 {
        return None;
    }
    Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chuid_dates_parse() {
        assert_eq!(
            parse_chuid_date(b"20270607"),
            Date::from_calendar_date(2027, time::Month::June, 7).ok()
        );
        assert_eq!(parse_chuid_date(b"2027067"), None);
        assert_eq!(parse_chuid_date(b"20271399"), None);
        assert_eq!(parse_chuid_date(b"99991231"), None, "a placeholder");
    }
}
