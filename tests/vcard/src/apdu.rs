//! ISO 7816-4 command APDUs as the card receives them, and the status words it answers with.

/// A parsed command APDU (cases 1 to 4, short or extended length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: &'a [u8],
    /// Expected response length; `None` for cases 1 and 3.
    pub le: Option<usize>,
    /// Whether the command used extended-length encoding (its response is not chunked).
    pub extended: bool,
}

/// Status words this card uses.
pub mod sw {
    pub const OK: u16 = 0x9000;
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// Verification failed, no counter given (ISO 7816-4).
    pub const VERIFICATION_FAILED: u16 = 0x6300;
    pub const SECURITY_STATUS_NOT_SATISFIED: u16 = 0x6982;
    pub const AUTH_METHOD_BLOCKED: u16 = 0x6983;
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    pub const INCORRECT_DATA: u16 = 0x6A80;
    pub const FILE_NOT_FOUND: u16 = 0x6A82;
    pub const INCORRECT_P1P2: u16 = 0x6A86;
    pub const REFERENCE_NOT_FOUND: u16 = 0x6A88;
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    /// 63Cx: verification failed, x tries left.
    pub fn tries_left(x: u8) -> u16 {
        0x63C0 | u16::from(x.min(15))
    }
    /// 61xx: xx more bytes available with GET RESPONSE (00 meaning 256 or more).
    pub fn more_data(remaining: usize) -> u16 {
        0x6100 | (remaining.min(256) & 0xFF) as u16
    }
}

/// Parses a command APDU; `None` when its length bytes do not match its size.
pub fn parse(apdu: &[u8]) -> Option<Command<'_>> {
    let (header, body) = (apdu.get(..4)?, &apdu[4..]);
    let command = |data, le, extended| Command {
        cla: header[0],
        ins: header[1],
        p1: header[2],
        p2: header[3],
        data,
        le,
        extended,
    };
    let short_le = |b: u8| if b == 0 { 256 } else { usize::from(b) };
    let extended_le = |hi: u8, lo: u8| match usize::from(u16::from_be_bytes([hi, lo])) {
        0 => 65536,
        n => n,
    };
    match body {
        [] => Some(command(&[], None, false)),
        [le] => Some(command(&[], Some(short_le(*le)), false)),
        [0, hi, lo] => Some(command(&[], Some(extended_le(*hi, *lo)), true)),
        [0, hi, lo, rest @ ..] => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            match rest.len().checked_sub(lc)? {
                0 => Some(command(&rest[..lc], None, true)),
                2 => Some(command(
                    &rest[..lc],
                    Some(extended_le(rest[lc], rest[lc + 1])),
                    true,
                )),
                _ => None,
            }
        }
        [lc, rest @ ..] => {
            let lc = usize::from(*lc);
            match rest.len().checked_sub(lc)? {
                0 => Some(command(&rest[..lc], None, false)),
                1 => Some(command(&rest[..lc], Some(short_le(rest[lc])), false)),
                _ => None,
            }
        }
    }
}

/// BER-TLV length bytes.
pub fn tlv_length(len: usize) -> Vec<u8> {
    match len {
        0..=0x7F => vec![len as u8],
        0x80..=0xFF => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}

/// One BER-TLV with a one- or multi-byte tag.
pub fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    out.extend(tlv_length(value.len()));
    out.extend_from_slice(value);
    out
}

/// Finds a top-level TLV's value by its tag (tags up to two bytes, as PIV uses).
pub fn find_tlv<'a>(mut data: &'a [u8], wanted: &[u8]) -> Option<&'a [u8]> {
    while !data.is_empty() {
        let tag_len = if data[0] & 0x1F == 0x1F { 2 } else { 1 };
        let tag = data.get(..tag_len)?;
        let (len, len_len) = match *data.get(tag_len)? {
            n @ 0..=0x7F => (usize::from(n), 1),
            0x81 => (usize::from(*data.get(tag_len + 1)?), 2),
            0x82 => (
                usize::from(u16::from_be_bytes([
                    *data.get(tag_len + 1)?,
                    *data.get(tag_len + 2)?,
                ])),
                3,
            ),
            _ => return None,
        };
        let start = tag_len + len_len;
        let value = data.get(start..start + len)?;
        if tag == wanted {
            return Some(value);
        }
        data = &data[start + len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_cases_short_and_extended() {
        let c = parse(&[0, 0x20, 0, 0x80]).expect("case 1");
        assert_eq!((c.data.len(), c.le), (0, None));
        let c = parse(&[0, 0xC0, 0, 0, 0]).expect("case 2");
        assert_eq!(c.le, Some(256));
        let c = parse(&[0, 0x20, 0, 0x80, 2, 1, 2]).expect("case 3");
        assert_eq!((c.data, c.le), (&[1u8, 2][..], None));
        let c = parse(&[0, 0xCB, 0x3F, 0xFF, 1, 9, 0]).expect("case 4");
        assert_eq!((c.data, c.le), (&[9u8][..], Some(256)));
        let c = parse(&[0, 0xCB, 0x3F, 0xFF, 0, 0, 1, 9, 0, 0]).expect("extended case 4");
        assert_eq!((c.data, c.le, c.extended), (&[9u8][..], Some(65536), true));
        assert!(parse(&[0, 0x20, 0]).is_none());
        assert!(parse(&[0, 0x20, 0, 0x80, 5, 1]).is_none());
    }

    #[test]
    fn tlv_round_trip() {
        let value = vec![7u8; 300];
        let encoded = tlv(&[0x53], &value);
        assert_eq!(&encoded[..4], &[0x53, 0x82, 0x01, 0x2C]);
        assert_eq!(find_tlv(&encoded, &[0x53]), Some(&value[..]));
        let two = [tlv(&[0x5F, 0x2F], &[1]), tlv(&[0x4F], &[2, 3])].concat();
        assert_eq!(find_tlv(&two, &[0x4F]), Some(&[2u8, 3][..]));
        assert_eq!(find_tlv(&two, &[0x99]), None);
    }
}
