//! PIV command APDUs (NIST SP 800-73-4 Part 2), built by named constructors, and the one
//! table that turns status words into errors.
//!
//! Every APDU that carries a PIN or PUK lives in a zeroizing buffer.

use zeroize::Zeroizing;

use super::CardError;

/// The PIV application identifier, as OpenSC selects it (the 9-byte truncated form).
pub const PIV_AID: [u8; 9] = [0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00];

/// Key references.
pub const KEY_PIN: u8 = 0x80;
pub const KEY_PUK: u8 = 0x81;

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
const ALG_ECC_P256: u8 = 0x11;
const ALG_RSA_2048: u8 = 0x07;
/// CLA of every command of a chain but the last (ISO 7816-4 command chaining).
const CLA_CHAINING: u8 = 0x10;
/// Most data bytes in one short command APDU.
const SHORT_DATA_MAX: usize = 255;
/// The SHA-256 DigestInfo prefix of a PKCS#1 v1.5 signature block (RFC 8017, 9.2 note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

pub fn select_piv() -> Vec<u8> {
    let mut apdu = vec![0x00, 0xA4, 0x04, 0x00, PIV_AID.len() as u8];
    apdu.extend_from_slice(&PIV_AID);
    apdu.push(0x00);
    apdu
}

pub fn get_data(object: &[u8; 3]) -> Vec<u8> {
    vec![
        0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x03, object[0], object[1], object[2], 0x00,
    ]
}

/// VERIFY without data: reads the PIN retry counter without spending a try.
pub fn verify_status() -> Vec<u8> {
    vec![0x00, 0x20, 0x00, KEY_PIN]
}

/// VERIFY with P1=FF: resets the PIN's security status (SP 800-73-4 Part 2, 3.2.1), so no
/// other program can use the card's PIN-protected keys after this host is done.
pub fn logout() -> Vec<u8> {
    vec![0x00, 0x20, 0xFF, KEY_PIN]
}

pub fn verify(pin: &[u8; 8]) -> Zeroizing<Vec<u8>> {
    let mut apdu = Zeroizing::new(vec![0x00, 0x20, 0x00, KEY_PIN, 0x08]);
    apdu.extend_from_slice(pin);
    apdu
}

pub fn change_reference_data(reference: u8, old: &[u8; 8], new: &[u8; 8]) -> Zeroizing<Vec<u8>> {
    let mut apdu = Zeroizing::new(vec![0x00, 0x24, 0x00, reference, 0x10]);
    apdu.extend_from_slice(old);
    apdu.extend_from_slice(new);
    apdu
}

pub fn reset_retry_counter(puk: &[u8; 8], new_pin: &[u8; 8]) -> Zeroizing<Vec<u8>> {
    let mut apdu = Zeroizing::new(vec![0x00, 0x2C, 0x00, KEY_PIN, 0x10]);
    apdu.extend_from_slice(puk);
    apdu.extend_from_slice(new_pin);
    apdu
}

/// GENERAL AUTHENTICATE with ECDSA P-256 over a 32-byte digest.
pub fn sign_p256(slot: Slot, digest: &[u8; 32]) -> Vec<u8> {
    // 7C { 82 00 (ask for the response), 81 20 <digest> }
    let mut apdu = vec![
        0x00,
        0x87,
        ALG_ECC_P256,
        slot.key_reference(),
        0x26,
        0x7C,
        0x24,
        0x82,
        0x00,
        0x81,
        0x20,
    ];
    apdu.extend_from_slice(digest);
    apdu.push(0x00);
    apdu
}

/// GENERAL AUTHENTICATE with RSA-2048 over a SHA-256 digest: the card applies its private
/// key to the PKCS#1 v1.5 block, which is longer than one short APDU, so it goes as a chain.
pub fn sign_rsa2048(slot: Slot, digest: &[u8; 32]) -> Vec<Vec<u8>> {
    let mut block = vec![0x00, 0x01];
    block.resize(256 - SHA256_DIGEST_INFO.len() - 32 - 1, 0xFF);
    block.push(0x00);
    block.extend_from_slice(&SHA256_DIGEST_INFO);
    block.extend_from_slice(digest);
    // 7C 82 01 06 { 82 00, 81 82 01 00 <block> }
    let mut data = vec![0x7C, 0x82, 0x01, 0x06, 0x82, 0x00, 0x81, 0x82, 0x01, 0x00];
    data.extend_from_slice(&block);
    let chunks: Vec<&[u8]> = data.chunks(SHORT_DATA_MAX).collect();
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let cla = if i == last { 0x00 } else { CLA_CHAINING };
            let mut apdu = vec![
                cla,
                0x87,
                ALG_RSA_2048,
                slot.key_reference(),
                chunk.len() as u8,
            ];
            apdu.extend_from_slice(chunk);
            if i == last {
                apdu.push(0x00);
            }
            apdu
        })
        .collect()
}

pub fn get_response(length: u8) -> Vec<u8> {
    vec![0x00, 0xC0, 0x00, 0x00, length]
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

/// The one table from status word to outcome, for every command this host sends, covering
/// what SP 800-73-4 Part 2 allows each to answer. Whether a PIN or PUK try was spent is in the
/// error itself: `WrongPin`/`WrongPuk` (spent), `PinBlocked`/`PukBlocked` (spent if this was
/// the last one, or nothing left to spend), and every other error spent none.
/// `61XX` and `6CXX` never get here: the transport follows them.
pub fn check(sw: u16, checked: Checked) -> Result<(), CardError> {
    match (sw, checked) {
        (0x9000, _) => Ok(()),
        // 63C0: no tries left. Cards answer it for the try that blocked the PIN or PUK, and
        // some answer it instead of 6983 when asked about a blocked one.
        (0x63C0, Checked::Pin) => Err(CardError::PinBlocked),
        (0x63C0, Checked::Puk) => Err(CardError::PukBlocked),
        (0x63C1..=0x63CF, Checked::Pin) => Err(CardError::WrongPin {
            retries_left: Some((sw & 0x0F) as u8),
        }),
        (0x63C1..=0x63CF, Checked::Puk) => Err(CardError::WrongPuk {
            retries_left: Some((sw & 0x0F) as u8),
        }),
        // 6300: verification failed, and the card does not say how many tries are left.
        (0x6300, Checked::Pin) => Err(CardError::WrongPin { retries_left: None }),
        (0x6300, Checked::Puk) => Err(CardError::WrongPuk { retries_left: None }),
        // 6983: blocked. 6984: the reference data cannot be used (it never was set, or the
        // card invalidated it): to the person, the same as blocked.
        (0x6983 | 0x6984, Checked::Puk) => Err(CardError::PukBlocked),
        (0x6983 | 0x6984, Checked::Pin) => Err(CardError::PinBlocked),
        (0x6982, _) => Err(CardError::SecurityStatusNotSatisfied),
        (0x6A80, _) => Err(CardError::RejectedByCard),
        (0x6A82, _) => Err(CardError::NotFound),
        (0x6A88, _) => Err(CardError::Unsupported(
            "the card has no such key or PIN reference".into(),
        )),
        (0x6D00, _) => Err(CardError::Unsupported(
            "the card does not know this PIV command".into(),
        )),
        (0x6E00, _) => Err(CardError::Unsupported(
            "the card does not accept this command class".into(),
        )),
        // The card refused the shape of the command (wrong length, P1/P2): nothing ran.
        (0x6700 | 0x6B00 | 0x6A86 | 0x6A87, _) => Err(CardError::CommandRefused(sw)),
        // 6F00 (no precise diagnosis), 6983/6984 outside a PIN or PUK, anything else.
        _ => Err(CardError::UnexpectedStatus(sw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_blocks_are_padded_and_refuse_what_cannot_be_a_pin() {
        assert_eq!(
            *pin_block("1234").expect("ok"),
            [b'1', b'2', b'3', b'4', 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert!(pin_block("").is_err());
        assert!(pin_block("123456789").is_err());
    }

    #[test]
    fn status_words_map_once() {
        assert_eq!(
            check(0x63C2, Checked::Pin),
            Err(CardError::WrongPin {
                retries_left: Some(2)
            })
        );
        assert_eq!(check(0x63C0, Checked::Pin), Err(CardError::PinBlocked));
        assert_eq!(check(0x63C0, Checked::Puk), Err(CardError::PukBlocked));
        assert_eq!(
            check(0x6300, Checked::Pin),
            Err(CardError::WrongPin { retries_left: None })
        );
        assert_eq!(
            check(0x6300, Checked::Puk),
            Err(CardError::WrongPuk { retries_left: None })
        );
        assert_eq!(check(0x6984, Checked::Pin), Err(CardError::PinBlocked));
        for sw in [0x6700, 0x6B00, 0x6A86] {
            assert_eq!(check(sw, Checked::Pin), Err(CardError::CommandRefused(sw)));
        }
        for sw in [0x6A88, 0x6D00, 0x6E00] {
            assert!(matches!(
                check(sw, Checked::Nothing),
                Err(CardError::Unsupported(_))
            ));
        }
        assert_eq!(check(0x6983, Checked::Pin), Err(CardError::PinBlocked));
        assert_eq!(check(0x6983, Checked::Puk), Err(CardError::PukBlocked));
        assert_eq!(
            check(0x6982, Checked::Nothing),
            Err(CardError::SecurityStatusNotSatisfied)
        );
        assert_eq!(
            check(0x6F00, Checked::Nothing),
            Err(CardError::UnexpectedStatus(0x6F00))
        );
    }

    #[test]
    fn the_rsa_sign_command_is_a_chain_carrying_a_pkcs1_block() {
        let chain = sign_rsa2048(Slot::Authentication, &[7; 32]);
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0][0], CLA_CHAINING);
        assert_eq!(chain[1][0], 0x00);
        let data: Vec<u8> = chain
            .iter()
            .flat_map(|apdu| apdu[5..5 + usize::from(apdu[4])].to_vec())
            .collect();
        assert_eq!(data.len(), 4 + 0x106);
        let block = &data[10..];
        assert_eq!(block.len(), 256);
        assert_eq!(&block[..2], &[0x00, 0x01]);
        assert_eq!(&block[256 - 32..], &[7; 32]);
        assert_eq!(&block[256 - 51..256 - 32], &SHA256_DIGEST_INFO);
    }

    #[test]
    fn the_sign_command_has_the_right_lengths() {
        let apdu = sign_p256(Slot::CardAuthentication, &[7; 32]);
        assert_eq!(apdu.len(), 5 + 0x26 + 1);
        assert_eq!(usize::from(apdu[4]), apdu.len() - 6);
    }
}
