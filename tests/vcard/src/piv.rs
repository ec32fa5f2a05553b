//! The PIV card application (NIST SP 800-73): what the card does with each command APDU.

use anyhow::{Context, Result};
use p256::ecdsa::{signature::hazmat::PrehashSigner, DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use selfservice_rules::passcode::CardPinConstraint;

use crate::apdu::{self, sw, tlv, Command};
use crate::card_file::{format_date, CardFile, CardKeys, KeyAlgorithm, Quirk};

/// The PIV application identifier (NIST RID A000000308, PIX 00001000 0100).
pub const PIV_AID: [u8; 11] = [
    0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
];
/// SELECT may give a truncated AID (OpenSC sends 9 bytes); at least the RID must be given.
const MIN_SELECT_AID: usize = 5;

const INS_VERIFY: u8 = 0x20;
const INS_CHANGE_REFERENCE_DATA: u8 = 0x24;
const INS_RESET_RETRY_COUNTER: u8 = 0x2C;
const INS_GENERAL_AUTHENTICATE: u8 = 0x87;
const INS_SELECT: u8 = 0xA4;
const INS_GET_RESPONSE: u8 = 0xC0;
const INS_GET_DATA: u8 = 0xCB;

const KEY_PIN: u8 = 0x80;
const KEY_PUK: u8 = 0x81;
const SLOT_AUTHENTICATION: u8 = 0x9A;
const SLOT_CARD_AUTHENTICATION: u8 = 0x9E;
const ALG_ECC_P256: u8 = 0x11;
const ALG_RSA_2048: u8 = 0x07;
/// CLA of every command of a chain but the last (ISO 7816-4 command chaining).
const CLA_CHAINING: u8 = 0x10;
/// The SHA-256 DigestInfo prefix inside a PKCS#1 v1.5 signature block.
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Data object tags (SP 800-73-4 Part 1, Table 3).
const TAG_CHUID: &[u8] = &[0x5F, 0xC1, 0x02];
const TAG_CERT_9A: &[u8] = &[0x5F, 0xC1, 0x05];
const TAG_CERT_9E: &[u8] = &[0x5F, 0xC1, 0x01];
const TAG_PRINTED_INFO: &[u8] = &[0x5F, 0xC1, 0x09];
const TAG_DISCOVERY: &[u8] = &[0x7E];

/// FASC-N of a non-federal issuer (agency code 9999), as test PIV cards carry.
const FASC_N: [u8; 25] = [
    0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE, 0x73, 0x9D, 0x83, 0x68, 0x58, 0x21, 0x08,
    0x42, 0x10, 0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB,
];

/// A response APDU before status-word chunking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Reply {
    fn status(sw: u16) -> Reply {
        Reply {
            data: Vec::new(),
            sw,
        }
    }
    fn ok(data: Vec<u8>) -> Reply {
        Reply { data, sw: sw::OK }
    }
}

/// A PIV card: its file (persistent state) and its session state (cleared on reset).
#[derive(Clone)]
pub struct PivCard {
    pub file: CardFile,
    /// The keys never change once issued; kept apart so every path can borrow them.
    keys: CardKeys,
    selected: bool,
    pin_verified: bool,
    /// Response bytes still to be fetched with GET RESPONSE.
    pending: Vec<u8>,
    /// The head of a chained command (CLA 10) and its data so far.
    chained: Option<([u8; 4], Vec<u8>)>,
}

impl PivCard {
    /// A card with keys; call [`crate::ca::TestCa::issue_card_keys`] first for a new card.
    pub fn new(file: CardFile) -> Result<PivCard> {
        let keys = file.keys.clone().context("the card has no keys yet")?;
        Ok(PivCard {
            file,
            keys,
            selected: false,
            pin_verified: false,
            pending: Vec::new(),
            chained: None,
        })
    }

    /// The first PUK goes into the history before the first change.
    fn note_puk(&mut self) {
        if self.file.history.puks.is_empty() {
            self.file.history.puks.push(self.file.puk.clone());
        }
    }

    /// Whether the PIN is verified now (security status), for tests of who logs out.
    pub fn pin_verified(&self) -> bool {
        self.pin_verified
    }

    /// Power off or reset: the security state is lost, the application deselected.
    pub fn reset(&mut self) {
        self.selected = false;
        self.pin_verified = false;
        self.pending.clear();
        self.chained = None;
    }

    /// Runs one command APDU. Returns the response (data and SW1 SW2) and whether the
    /// persistent state changed, so the caller saves the file.
    pub fn process(&mut self, raw: &[u8]) -> (Vec<u8>, bool) {
        let before = self.file.clone();
        let Some(command) = apdu::parse(raw) else {
            return (sw::WRONG_LENGTH.to_be_bytes().to_vec(), false);
        };
        // Command chaining: keep the data of CLA 10 commands; the last (CLA 00) carries the
        // same INS P1 P2 and completes it, and is run as one extended command.
        if command.cla == CLA_CHAINING {
            let head = [0x00, command.ins, command.p1, command.p2];
            let mut data = match self.chained.take() {
                Some((started, data)) if started == head => data,
                _ => Vec::new(),
            };
            data.extend_from_slice(command.data);
            self.chained = Some((head, data));
            return (sw::OK.to_be_bytes().to_vec(), false);
        }
        if let Some((head, mut data)) = self.chained.take() {
            if command.cla != 0x00 || head != [0x00, command.ins, command.p1, command.p2] {
                return (sw::CONDITIONS_NOT_SATISFIED.to_be_bytes().to_vec(), false);
            }
            data.extend_from_slice(command.data);
            let mut whole = head.to_vec();
            whole.push(0x00);
            whole.extend_from_slice(&(data.len() as u16).to_be_bytes());
            whole.extend_from_slice(&data);
            whole.extend_from_slice(&[0x00, 0x00]);
            return self.process(&whole);
        }
        let reply = if command.ins == INS_GET_RESPONSE && command.cla == 0 {
            self.get_response(&command)
        } else {
            self.pending.clear();
            let reply = self.dispatch(&command);
            self.chunk(reply, &command)
        };
        let mut out = reply.data;
        out.extend_from_slice(&reply.sw.to_be_bytes());
        (out, self.file != before)
    }

    /// Splits long responses for short-length commands: first 256 bytes, then 61xx.
    fn chunk(&mut self, mut reply: Reply, command: &Command) -> Reply {
        let limit = match command.le {
            Some(le) if command.extended => le,
            Some(le) => le.min(256),
            None => 256,
        };
        if reply.sw == sw::OK && reply.data.len() > limit {
            self.pending = reply.data.split_off(limit);
            reply.sw = sw::more_data(self.pending.len());
        }
        reply
    }

    fn get_response(&mut self, command: &Command) -> Reply {
        if self.pending.is_empty() {
            return Reply::status(sw::CONDITIONS_NOT_SATISFIED);
        }
        let take = command.le.unwrap_or(256).min(self.pending.len());
        let rest = self.pending.split_off(take);
        let data = std::mem::replace(&mut self.pending, rest);
        let sw = if self.pending.is_empty() {
            sw::OK
        } else {
            sw::more_data(self.pending.len())
        };
        Reply { data, sw }
    }

    fn dispatch(&mut self, c: &Command) -> Reply {
        if c.cla != 0x00 {
            return Reply::status(sw::CLA_NOT_SUPPORTED);
        }
        if c.ins == INS_SELECT {
            return self.select(c);
        }
        if !self.selected {
            return Reply::status(sw::CONDITIONS_NOT_SATISFIED);
        }
        if matches!(
            c.ins,
            INS_VERIFY | INS_CHANGE_REFERENCE_DATA | INS_RESET_RETRY_COUNTER
        ) && !c.data.is_empty()
        {
            self.file.history.passcode_commands += 1;
        }
        match c.ins {
            INS_GET_DATA => self.get_data(c),
            INS_VERIFY => self.verify(c),
            INS_CHANGE_REFERENCE_DATA => self.change_reference_data(c),
            INS_RESET_RETRY_COUNTER => self.reset_retry_counter(c),
            INS_GENERAL_AUTHENTICATE => self.general_authenticate(c),
            _ => Reply::status(sw::INS_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, c: &Command) -> Reply {
        if c.p1 != 0x04 {
            return Reply::status(sw::INCORRECT_P1P2);
        }
        if c.data.len() < MIN_SELECT_AID || !PIV_AID.starts_with(c.data) {
            self.selected = false;
            return Reply::status(sw::FILE_NOT_FOUND);
        }
        self.selected = true;
        if !self.file.has(Quirk::KeepsVerificationAcrossSelect) {
            self.pin_verified = false;
        }
        // Application property template: AID (PIX), authority (RID), label, algorithms.
        let template = [
            tlv(&[0x4F], &PIV_AID[5..]),
            tlv(&[0x79], &tlv(&[0x4F], &PIV_AID[..5])),
            tlv(&[0x50], b"Smartcard Self-Service test PIV"),
            tlv(
                &[0xAC],
                &[
                    tlv(&[0x80], &[ALG_ECC_P256]),
                    tlv(&[0x80], &[ALG_RSA_2048]),
                    tlv(&[0x06], &[]),
                ]
                .concat(),
            ),
        ]
        .concat();
        Reply::ok(tlv(&[0x61], &template))
    }

    fn get_data(&mut self, c: &Command) -> Reply {
        if (c.p1, c.p2) != (0x3F, 0xFF) {
            return Reply::status(sw::INCORRECT_P1P2);
        }
        let Some(tag) = apdu::find_tlv(c.data, &[0x5C]) else {
            return Reply::status(sw::INCORRECT_DATA);
        };
        let keys = &self.keys;
        let object = match tag {
            t if t == TAG_CHUID => self.chuid(),
            t if t == TAG_CERT_9A => certificate_object(&keys.authentication_certificate),
            t if t == TAG_CERT_9E => certificate_object(&keys.card_authentication_certificate),
            t if t == TAG_PRINTED_INFO && self.file.has(Quirk::NoPrintedInformation) => None,
            t if t == TAG_DISCOVERY && self.file.has(Quirk::NoDiscoveryObject) => None,
            t if t == TAG_PRINTED_INFO => {
                if !self.pin_verified {
                    return Reply::status(sw::SECURITY_STATUS_NOT_SATISFIED);
                }
                self.printed_information()
            }
            t if t == TAG_DISCOVERY => {
                // Discovery object: the AID and the PIN usage policy (PIV PIN only).
                return Reply::ok(tlv(
                    &[0x7E],
                    &[tlv(&[0x4F], &PIV_AID), tlv(&[0x5F, 0x2F], &[0x40, 0x00])].concat(),
                ));
            }
            _ => return Reply::status(sw::FILE_NOT_FOUND),
        };
        match object {
            Some(value) => Reply::ok(tlv(&[0x53], &value)),
            None => Reply::status(sw::FILE_NOT_FOUND),
        }
    }

    fn chuid(&self) -> Option<Vec<u8>> {
        let guid = self.file.guid_bytes().ok()?;
        let expiry = if self.file.has(Quirk::PlaceholderChuidExpiry) {
            "99991231".to_string()
        } else {
            format_date(self.file.expiry_date().ok()?).replace('-', "")
        };
        Some(
            [
                tlv(&[0x30], &FASC_N),
                tlv(&[0x34], &guid),
                tlv(&[0x35], expiry.as_bytes()),
                tlv(&[0x3E], &[]),
                tlv(&[0xFE], &[]),
            ]
            .concat(),
        )
    }

    fn printed_information(&self) -> Option<Vec<u8>> {
        let expiry = self.file.expiry_date().ok()?;
        // Printed Information writes the expiry as YYYYMMMDD, e.g. 2027JUN07.
        let month = expiry.month().to_string().to_uppercase();
        let printed_expiry = format!("{:04}{}{:02}", expiry.year(), &month[..3], expiry.day());
        Some(
            [
                tlv(&[0x01], self.file.holder_name.as_bytes()),
                tlv(&[0x02], b"NHS"),
                tlv(&[0x04], printed_expiry.as_bytes()),
                tlv(&[0x05], self.file.uuid.as_bytes()),
                tlv(&[0x06], b"SSS-TEST"),
                tlv(&[0xFE], &[]),
            ]
            .concat(),
        )
    }

    fn verify(&mut self, c: &Command) -> Reply {
        if c.p2 != KEY_PIN {
            return Reply::status(sw::REFERENCE_NOT_FOUND);
        }
        match (c.p1, c.data.len()) {
            // Logout: forget the verification.
            (0xFF, 0) => {
                self.pin_verified = false;
                Reply::status(sw::OK)
            }
            // Status only: no try is spent.
            (0x00, 0) => {
                if self.file.pin_retries_left == 0 {
                    Reply::status(self.blocked_sw())
                } else if self.pin_verified {
                    Reply::status(sw::OK)
                } else {
                    Reply::status(sw::tries_left(self.file.pin_retries_left))
                }
            }
            (0x00, 8) => {
                if self.file.pin_retries_left == 0 {
                    return Reply::status(self.blocked_sw());
                }
                if c.data == padded(&self.file.pin) {
                    self.file.pin_retries_left = self.file.pin_retry_limit;
                    self.pin_verified = true;
                    Reply::status(sw::OK)
                } else {
                    self.pin_verified = false;
                    self.file.pin_retries_left -= 1;
                    Reply::status(self.pin_failure_sw())
                }
            }
            (0x00 | 0xFF, _) => Reply::status(sw::WRONG_LENGTH),
            _ => Reply::status(sw::INCORRECT_P1P2),
        }
    }

    /// A PIN or PUK that can no longer be tried.
    fn blocked_sw(&self) -> u16 {
        if self.file.has(Quirk::BlockedAs63c0) {
            sw::tries_left(0)
        } else {
            sw::AUTH_METHOD_BLOCKED
        }
    }

    /// A wrong PIN or PUK, the try already counted.
    fn failure_sw(&self, retries_left: u8) -> u16 {
        if self.file.has(Quirk::FailureWithoutCounter) {
            sw::VERIFICATION_FAILED
        } else if retries_left == 0 {
            self.blocked_sw()
        } else {
            sw::tries_left(retries_left)
        }
    }

    fn pin_failure_sw(&self) -> u16 {
        self.failure_sw(self.file.pin_retries_left)
    }

    fn puk_failure_sw(&self) -> u16 {
        self.failure_sw(self.file.puk_retries_left)
    }

    fn change_reference_data(&mut self, c: &Command) -> Reply {
        if c.p1 != 0x00 {
            return Reply::status(sw::INCORRECT_P1P2);
        }
        if c.data.len() != 16 {
            return Reply::status(sw::WRONG_LENGTH);
        }
        let (old, new) = c.data.split_at(8);
        match c.p2 {
            KEY_PIN => {
                if self.file.pin_retries_left == 0 {
                    return Reply::status(self.blocked_sw());
                }
                if old != padded(&self.file.pin) {
                    self.pin_verified = false;
                    self.file.pin_retries_left -= 1;
                    return Reply::status(self.pin_failure_sw());
                }
                let Some(new_pin) = self.accept_pin(new) else {
                    return Reply::status(sw::INCORRECT_DATA);
                };
                self.file.pin = new_pin;
                self.file.pin_retries_left = self.file.pin_retry_limit;
                Reply::status(sw::OK)
            }
            KEY_PUK => {
                if self.file.puk_retries_left == 0 {
                    return Reply::status(self.blocked_sw());
                }
                if old != padded(&self.file.puk) {
                    self.file.puk_retries_left -= 1;
                    self.file.history.wrong_puk_tries += 1;
                    return Reply::status(self.puk_failure_sw());
                }
                let Some(new_puk) = accept_puk(new) else {
                    return Reply::status(sw::INCORRECT_DATA);
                };
                self.note_puk();
                self.file.history.puks.push(new_puk.clone());
                self.file.puk = new_puk;
                self.file.puk_retries_left = self.file.puk_retry_limit;
                Reply::status(sw::OK)
            }
            _ => Reply::status(sw::REFERENCE_NOT_FOUND),
        }
    }

    fn reset_retry_counter(&mut self, c: &Command) -> Reply {
        if (c.p1, c.p2) != (0x00, KEY_PIN) {
            return Reply::status(sw::INCORRECT_P1P2);
        }
        if c.data.len() != 16 {
            return Reply::status(sw::WRONG_LENGTH);
        }
        // A blocked PUK cannot be unblocked: the card goes back to the RA.
        if self.file.puk_retries_left == 0 {
            return Reply::status(self.blocked_sw());
        }
        let (puk, new) = c.data.split_at(8);
        if puk != padded(&self.file.puk) {
            // SP 800-73: the PIN counter is not reset and the PUK counter is decremented.
            self.file.puk_retries_left -= 1;
            self.file.history.wrong_puk_tries += 1;
            return Reply::status(self.puk_failure_sw());
        }
        let Some(new_pin) = self.accept_pin(new) else {
            return Reply::status(sw::INCORRECT_DATA);
        };
        self.file.history.reset_pins.push(new_pin.clone());
        self.file.pin = new_pin;
        self.file.pin_retries_left = self.file.pin_retry_limit;
        self.file.puk_retries_left = self.file.puk_retry_limit;
        self.pin_verified = false;
        Reply::status(sw::OK)
    }

    /// A new PIN in its padded 8-byte form, if this card's PIN rule accepts it.
    fn accept_pin(&self, block: &[u8]) -> Option<String> {
        let value = unpad(block)?;
        let length_ok = |min: usize| (min..=8).contains(&value.len());
        let accepted = match self.file.pin_rule {
            CardPinConstraint::PivStrict => {
                length_ok(6) && value.bytes().all(|b| b.is_ascii_digit())
            }
            CardPinConstraint::LegacyPrintable => {
                length_ok(4) && value.bytes().all(|b| (0x20..=0x7E).contains(&b))
            }
        };
        accepted.then_some(value)
    }

    fn general_authenticate(&mut self, c: &Command) -> Reply {
        let expected = match self.file.key_algorithm {
            KeyAlgorithm::P256 => ALG_ECC_P256,
            KeyAlgorithm::Rsa2048 => ALG_RSA_2048,
        };
        if c.p1 != expected {
            return Reply::status(sw::INCORRECT_P1P2);
        }
        let key_pem = match c.p2 {
            SLOT_AUTHENTICATION => {
                if !self.pin_verified {
                    return Reply::status(sw::SECURITY_STATUS_NOT_SATISFIED);
                }
                &self.keys.authentication_key
            }
            SLOT_CARD_AUTHENTICATION => &self.keys.card_authentication_key,
            _ => return Reply::status(sw::REFERENCE_NOT_FOUND),
        };
        // Dynamic authentication template: 7C { 82 00 (response wanted), 81 <challenge> }.
        let Some(template) = apdu::find_tlv(c.data, &[0x7C]) else {
            return Reply::status(sw::INCORRECT_DATA);
        };
        let (Some(_), Some(challenge)) = (
            apdu::find_tlv(template, &[0x82]),
            apdu::find_tlv(template, &[0x81]),
        ) else {
            return Reply::status(sw::INCORRECT_DATA);
        };
        let signature = match self.file.key_algorithm {
            KeyAlgorithm::P256 => sign_p256(key_pem, challenge),
            KeyAlgorithm::Rsa2048 => sign_rsa(key_pem, challenge),
        };
        match signature {
            Ok(signature) => Reply::ok(tlv(&[0x7C], &tlv(&[0x82], &signature))),
            Err(sw) => Reply::status(sw),
        }
    }
}

/// ECDSA P-256 over a 32-byte digest; the DER signature.
fn sign_p256(key_pem: &str, digest: &[u8]) -> Result<Vec<u8>, u16> {
    if digest.len() != 32 {
        return Err(sw::INCORRECT_DATA);
    }
    let key = SigningKey::from_pkcs8_pem(key_pem).map_err(|_| 0x6F00u16)?;
    let signature: DerSignature = key.sign_prehash(digest).map_err(|_| 0x6F00u16)?;
    Ok(signature.as_bytes().to_vec())
}

/// RSA-2048: the host sends the whole PKCS#1 v1.5 block (00 01 FF.. 00 DigestInfo) and a
/// card applies its private key to it. This card accepts only SHA-256 blocks, takes the
/// digest out and signs it, which gives the same 256 bytes.
fn sign_rsa(key_pem: &str, block: &[u8]) -> Result<Vec<u8>, u16> {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::hazmat::PrehashSigner;
    if block.len() != 256 {
        return Err(sw::INCORRECT_DATA);
    }
    let digest_at = 256 - 32;
    let info_at = digest_at - SHA256_DIGEST_INFO.len();
    let well_formed = block[..2] == [0x00, 0x01]
        && block[2..info_at - 1].iter().all(|b| *b == 0xFF)
        && block[info_at - 1] == 0x00
        && block[info_at..digest_at] == SHA256_DIGEST_INFO;
    if !well_formed {
        return Err(sw::INCORRECT_DATA);
    }
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(key_pem).map_err(|_| 0x6F00u16)?;
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
    let signature: rsa::pkcs1v15::Signature = signer
        .sign_prehash(&block[digest_at..])
        .map_err(|_| 0x6F00u16)?;
    Ok(rsa::signature::SignatureEncoding::to_vec(&signature))
}

fn certificate_object(pem: &str) -> Option<Vec<u8>> {
    let der = pem_to_der(pem)?;
    Some([tlv(&[0x70], &der), tlv(&[0x71], &[0x00]), tlv(&[0xFE], &[])].concat())
}

/// The certificate's DER bytes from its PEM text.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    p256::pkcs8::der::pem::decode_vec(pem.as_bytes())
        .ok()
        .map(|(_, der)| der)
}

/// PIN and PUK blocks are 8 bytes, padded with 0xFF.
pub fn padded(value: &str) -> [u8; 8] {
    let mut block = [0xFF; 8];
    for (slot, byte) in block.iter_mut().zip(value.bytes()) {
        *slot = byte;
    }
    block
}

/// The value of a padded block: bytes up to the first 0xFF, none after it.
fn unpad(block: &[u8]) -> Option<String> {
    let end = block.iter().position(|b| *b == 0xFF).unwrap_or(block.len());
    if block[end..].iter().any(|b| *b != 0xFF) {
        return None;
    }
    String::from_utf8(block[..end].to_vec()).ok()
}

/// PUKs are 8 bytes; this card keeps them printable so they fit the TOML file.
fn accept_puk(block: &[u8]) -> Option<String> {
    let value = unpad(block)?;
    (value.len() == 8 && value.bytes().all(|b| (0x21..=0x7E).contains(&b))).then_some(value)
}
