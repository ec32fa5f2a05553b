//! PIV command APDUs (NIST SP 800-73-4 Part 2), built by named constructors, and the one
//! table that turns status words into errors.
//!
//! Every APDU that carries a PIN or PUK lives in a zeroizing buffer.

use zeroize::Zeroizing;

use super::{tlv, CardError};

/// The PIV application identifier, as OpenSC selects it (the 9-byte truncated form).
pub const PIV_AID: [u8; 9] = [0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00];

/// Instruction bytes (SP 800-73-4 Part 2, 3; GET RESPONSE from ISO 7816-4).
pub mod ins {
    pub const VERIFY: u8 = 0x20;
    pub const CHANGE_REFERENCE_DATA: u8 = 0x24;
    pub const RESET_RETRY_COUNTER: u8 = 0x2C;
    pub const GENERAL_AUTHENTICATE: u8 = 0x87;
    pub const SELECT: u8 = 0xA4;
    pub const GET_RESPONSE: u8 = 0xC0;
    pub const GET_DATA: u8 = 0xCB;
}

/// CLA of every command (interindustry, no secure messaging).
const CLA: u8 = 0x00;
/// CLA of every command of a chain but the last (ISO 7816-4 command chaining).
const CLA_CHAINING: u8 = 0x10;
/// SELECT by application identifier (P1), first or only occurrence (P2).
const SELECT_BY_AID: (u8, u8) = (0x04, 0x00);
/// GET DATA's P1-P2: the data object is named in the command data (tag list 5C).
const GET_DATA_BY_TAG_LIST: (u8, u8) = (0x3F, 0xFF);
/// VERIFY with P1=FF resets the security status of the key reference (logout).
const VERIFY_RESET_STATUS: u8 = 0xFF;

/// Key references.
pub const KEY_PIN: u8 = 0x80;
pub const KEY_PUK: u8 = 0x81;

/// BER-TLV tags of the command data.
mod tag {
    /// Tag list: names the data object GET DATA reads.
    pub const TAG_LIST: u8 = 0x5C;
    /// Dynamic Authentication Template of GENERAL AUTHENTICATE.
    pub const DYNAMIC_AUTHENTICATION: u8 = 0x7C;
    /// In the template: the challenge (what the key is applied to).
    pub const CHALLENGE: u8 = 0x81;
    /// In the template: the response, asked for by sending it empty.
    pub const RESPONSE: u8 = 0x82;
}

/// The asymmetric key slots this host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// 9A, PIV Authentication: needs the PIN.
    Authentication,
    /// 9E, Card Authentication: usable without the PIN, so it works on a locked card.
    CardAuthentication,
}

impl Slot {
    pub fn key_reference(self) -> u8 {
        match self {
            Slot::Authentication => 0x9A,
            Slot::CardAuthentication => 0x9E,
        }
    }
    /// The tag of the slot's certificate data object.
    pub fn certificate_object(self) -> [u8; 3] {
        match self {
            Slot::Authentication => [0x5F, 0xC1, 0x05],
            Slot::CardAuthentication => [0x5F, 0xC1, 0x01],
        }
    }
}

pub const OBJECT_CHUID: [u8; 3] = [0x5F, 0xC1, 0x02];
/// Algorithm references (SP 800-78-4, table 6-2).
const ALG_ECC_P256: u8 = 0x11;
const ALG_RSA_2048: u8 = 0x07;
/// Most data bytes in one short command APDU.
const SHORT_DATA_MAX: usize = 255;
/// The SHA-256 DigestInfo prefix of a PKCS#1 v1.5 signature block (RFC 8017, 9.2 note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// A short command APDU: header, then Lc and the data when there is data, then Le when asked
/// (0 = as much as the card has). The buffer is sized once, so the parts are never copied by a
/// reallocation (some carry a PIN or PUK: see [`secret_command`]).
fn command(cla: u8, ins: u8, p1: u8, p2: u8, data: &[&[u8]], le: Option<u8>) -> Vec<u8> {
    let length: usize = data.iter().map(|part| part.len()).sum();
    let mut apdu = Vec::with_capacity(5 + length + 1);
    apdu.extend_from_slice(&[cla, ins, p1, p2]);
    if length > 0 {
        // Every caller keeps to SHORT_DATA_MAX (the RSA block goes as a chain).
        apdu.push(length as u8);
        data.iter().for_each(|part| apdu.extend_from_slice(part));
    }
    apdu.extend(le);
    apdu
}

/// A command whose data carries a PIN or PUK: wiped when dropped.
fn secret_command(ins: u8, p2: u8, data: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(command(CLA, ins, 0x00, p2, data, None))
}

pub fn select_piv() -> Vec<u8> {
    let (p1, p2) = SELECT_BY_AID;
    command(CLA, ins::SELECT, p1, p2, &[&PIV_AID], Some(0))
}

pub fn get_data(object: &[u8; 3]) -> Vec<u8> {
    let (p1, p2) = GET_DATA_BY_TAG_LIST;
    let tag_list = tlv::write(&[tag::TAG_LIST], object);
    command(CLA, ins::GET_DATA, p1, p2, &[&tag_list], Some(0))
}

/// VERIFY without data: reads the PIN retry counter without spending a try.
pub fn verify_status() -> Vec<u8> {
    command(CLA, ins::VERIFY, 0x00, KEY_PIN, &[], None)
}

/// VERIFY with P1=FF: resets the PIN's security status (SP 800-73-4 Part 2, 3.2.1), so no
/// other program can use the card's PIN-protected keys after this host is done.
pub fn logout() -> Vec<u8> {
    command(CLA, ins::VERIFY, VERIFY_RESET_STATUS, KEY_PIN, &[], None)
}

pub fn verify(pin: &[u8; 8]) -> Zeroizing<Vec<u8>> {
    secret_command(ins::VERIFY, KEY_PIN, &[pin])
}

pub fn change_reference_data(reference: u8, old: &[u8; 8], new: &[u8; 8]) -> Zeroizing<Vec<u8>> {
    secret_command(ins::CHANGE_REFERENCE_DATA, reference, &[old, new])
}

pub fn reset_retry_counter(puk: &[u8; 8], new_pin: &[u8; 8]) -> Zeroizing<Vec<u8>> {
    secret_command(ins::RESET_RETRY_COUNTER, KEY_PIN, &[puk, new_pin])
}

/// The Dynamic Authentication Template asking the card to apply its key to `challenge`:
/// 7C { 82 (empty: the response is wanted), 81 challenge }.
fn authentication_template(challenge: &[u8]) -> Vec<u8> {
    let mut inner = tlv::write(&[tag::RESPONSE], &[]);
    inner.extend(tlv::write(&[tag::CHALLENGE], challenge));
    tlv::write(&[tag::DYNAMIC_AUTHENTICATION], &inner)
}

/// GENERAL AUTHENTICATE with ECDSA P-256 over a 32-byte digest.
pub fn sign_p256(slot: Slot, digest: &[u8; 32]) -> Vec<u8> {
    let template = authentication_template(digest);
    command(
        CLA,
        ins::GENERAL_AUTHENTICATE,
        ALG_ECC_P256,
        slot.key_reference(),
        &[&template],
        Some(0),
    )
}

/// GENERAL AUTHENTICATE with RSA-2048 over a SHA-256 digest: the card applies its private
/// key to the PKCS#1 v1.5 block, which is longer than one short APDU, so it goes as a chain.
pub fn sign_rsa2048(slot: Slot, digest: &[u8; 32]) -> Vec<Vec<u8>> {
    let mut block = vec![0x00, 0x01];
    block.resize(256 - SHA256_DIGEST_INFO.len() - 32 - 1, 0xFF);
    block.push(0x00);
    block.extend_from_slice(&SHA256_DIGEST_INFO);
    block.extend_from_slice(digest);
    let template = authentication_template(&block);
    let chunks: Vec<&[u8]> = template.chunks(SHORT_DATA_MAX).collect();
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let (cla, le) = if i == last {
                (CLA, Some(0))
            } else {
                (CLA_CHAINING, None)
            };
            command(
                cla,
                ins::GENERAL_AUTHENTICATE,
                ALG_RSA_2048,
                slot.key_reference(),
                &[chunk],
                le,
            )
        })
        .collect()
}

pub fn get_response(length: u8) -> Vec<u8> {
    command(CLA, ins::GET_RESPONSE, 0x00, 0x00, &[], Some(length))
}

/// PIN and PUK blocks are 8 bytes, padded with 0xFF (SP 800-73-4 Part 2, 2.4.3).
pub fn pin_block(value: &str) -> Result<Zeroizing<[u8; 8]>, CardError> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 8 || bytes.contains(&0xFF) {
        return Err(CardError::BadSecretFormat);
    }
    let mut block = Zeroizing::new([0xFF; 8]);
    block[..bytes.len()].copy_from_slice(bytes);
    Ok(block)
}

/// Which secret a VERIFY-like command was checking, so 63Cx means the right thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Nothing,
    Pin,
    Puk,
}

/// Status words (SP 800-73-4 Part 2, 3; ISO 7816-4, 5.1.3).
pub mod sw {
    pub const SUCCESS: u16 = 0x9000;
    /// Verification failed; the card does not say how many tries are left.
    pub const VERIFICATION_FAILED: u16 = 0x6300;
    /// 63Cx: verification failed, x tries left (63C0: none, blocked).
    pub const NO_TRIES_LEFT: u16 = 0x63C0;
    pub const ONE_TRY_LEFT: u16 = 0x63C1;
    pub const FIFTEEN_TRIES_LEFT: u16 = 0x63CF;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const SECURITY_STATUS_NOT_SATISFIED: u16 = 0x6982;
    pub const AUTHENTICATION_BLOCKED: u16 = 0x6983;
    pub const REFERENCE_DATA_NOT_USABLE: u16 = 0x6984;
    pub const INCORRECT_DATA: u16 = 0x6A80;
    pub const NOT_FOUND: u16 = 0x6A82;
    pub const INCORRECT_P1_P2: u16 = 0x6A86;
    pub const LC_INCONSISTENT_WITH_P1_P2: u16 = 0x6A87;
    pub const REFERENCE_NOT_FOUND: u16 = 0x6A88;
    pub const WRONG_P1_P2: u16 = 0x6B00;
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    /// SW1 61: more response data; SW2 says how much (fetched with GET RESPONSE).
    pub const MORE_DATA_SW1: u16 = 0x61;
    /// SW1 6C: wrong Le; SW2 gives the right one.
    pub const WRONG_LE_SW1: u16 = 0x6C;
}

/// The one table from status word to outcome, for every command this host sends, covering
/// what SP 800-73-4 Part 2 allows each to answer. Whether a PIN or PUK try was spent is in the
/// error itself: `WrongPin`/`WrongPuk` (spent), `PinBlocked`/`PukBlocked` (spent if this was
/// the last one, or nothing left to spend), and every other error spent none.
/// `61XX` and `6CXX` never get here: the transport follows them.
pub fn check(sw: u16, checked: Checked) -> Result<(), CardError> {
    match (sw, checked) {
        (sw::SUCCESS, _) => Ok(()),
        // 63C0: no tries left. Cards answer it for the try that blocked the PIN or PUK, and
        // some answer it instead of 6983 when asked about a blocked one.
        (sw::NO_TRIES_LEFT, Checked::Pin) => Err(CardError::PinBlocked),
        (sw::NO_TRIES_LEFT, Checked::Puk) => Err(CardError::PukBlocked),
        (sw::ONE_TRY_LEFT..=sw::FIFTEEN_TRIES_LEFT, Checked::Pin) => Err(CardError::WrongPin {
            retries_left: Some((sw & 0x0F) as u8),
        }),
        (sw::ONE_TRY_LEFT..=sw::FIFTEEN_TRIES_LEFT, Checked::Puk) => Err(CardError::WrongPuk {
            retries_left: Some((sw & 0x0F) as u8),
        }),
        // 6300: verification failed, and the card does not say how many tries are left.
        (sw::VERIFICATION_FAILED, Checked::Pin) => Err(CardError::WrongPin { retries_left: None }),
        (sw::VERIFICATION_FAILED, Checked::Puk) => Err(CardError::WrongPuk { retries_left: None }),
        // 6983: blocked. 6984: the reference data cannot be used (it never was set, or the
        // card invalidated it): to the person, the same as blocked.
        (sw::AUTHENTICATION_BLOCKED | sw::REFERENCE_DATA_NOT_USABLE, Checked::Puk) => {
            Err(CardError::PukBlocked)
        }
        (sw::AUTHENTICATION_BLOCKED | sw::REFERENCE_DATA_NOT_USABLE, Checked::Pin) => {
            Err(CardError::PinBlocked)
        }
        (sw::SECURITY_STATUS_NOT_SATISFIED, _) => Err(CardError::SecurityStatusNotSatisfied),
        (sw::INCORRECT_DATA, _) => Err(CardError::RejectedByCard),
        (sw::NOT_FOUND, _) => Err(CardError::NotFound),
        (sw::REFERENCE_NOT_FOUND, _) => Err(CardError::Unsupported(
            "the card has no such key or PIN reference".into(),
        )),
        (sw::INS_NOT_SUPPORTED, _) => Err(CardError::Unsupported(
            "the card does not know this PIV command".into(),
        )),
        (sw::CLA_NOT_SUPPORTED, _) => Err(CardError::Unsupported(
            "the card does not accept this command class".into(),
        )),
        // The card refused the shape of the command (wrong length, P1/P2): nothing ran.
        (
            sw::WRONG_LENGTH
            | sw::WRONG_P1_P2
            | sw::INCORRECT_P1_P2
            | sw::LC_INCONSISTENT_WITH_P1_P2,
            _,
        ) => Err(CardError::CommandRefused(sw)),
        // 6F00 (no precise diagnosis), 6983/6984 outside a PIN or PUK, anything else.
        _ => Err(CardError::UnexpectedStatus(sw)),
    }
}

#[cfg(test)]
mod tests;
