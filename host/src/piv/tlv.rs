//! BER-TLV as PIV uses it: tags of one to three bytes, lengths of one to three bytes.

/// The value of the first top-level TLV with this tag, if the data is well formed up to it.
pub fn find<'a>(mut data: &'a [u8], wanted: &[u8]) -> Option<&'a [u8]> {
    while !data.is_empty() {
        let (tag, rest) = split_tag(data)?;
        let (length, rest) = split_length(rest)?;
        let value = rest.get(..length)?;
        if tag == wanted {
            return Some(value);
        }
        data = &rest[length..];
    }
    None
}

fn split_tag(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = *data.first()?;
    let mut end = 1;
    if first & 0x1F == 0x1F {
        // Subsequent tag bytes have bit 8 set while more follow.
        while data.get(end)? & 0x80 != 0 {
            end += 1;
        }
        end += 1;
    }
    Some((data.get(..end)?, &data[end..]))
}

fn split_length(data: &[u8]) -> Option<(usize, &[u8])> {
    match *data.first()? {
        n @ 0..=0x7F => Some((usize::from(n), &data[1..])),
        0x81 => Some((usize::from(*data.get(1)?), &data[2..])),
        0x82 => Some((
            usize::from(u16::from_be_bytes([*data.get(1)?, *data.get(2)?])),
            &data[3..],
        )),
        _ => None,
    }
}

/// One BER-TLV: the tag, the length (one byte up to 127, then 81 nn or 82 nn nn), the value.
pub fn write(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut tlv = Vec::with_capacity(tag.len() + 3 + value.len());
    tlv.extend_from_slice(tag);
    match value.len() {
        n @ 0..=0x7F => tlv.push(n as u8),
        n @ 0x80..=0xFF => tlv.extend_from_slice(&[0x81, n as u8]),
        n => tlv.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    tlv.extend_from_slice(value);
    tlv
}

#[cfg(test)]
mod tests {
    use super::{find, write};

    #[test]
    fn written_values_are_found_again_with_each_length_form() {
        for length in [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x106] {
            let value = vec![0x5A; length];
            let written = write(&[0x5F, 0xC1, 0x02], &value);
            assert_eq!(
                find(&written, &[0x5F, 0xC1, 0x02]),
                Some(&value[..]),
                "{length}"
            );
        }
    }

    #[test]
    fn finds_values_with_short_and_long_lengths() {
        let mut data = vec![0x30, 0x01, 0xAA, 0x5F, 0xC1, 0x02, 0x81, 0x80];
        data.extend(vec![0x55; 0x80]);
        assert_eq!(find(&data, &[0x30]), Some(&[0xAA][..]));
        assert_eq!(
            find(&data, &[0x5F, 0xC1, 0x02]).map(<[u8]>::len),
            Some(0x80)
        );
        assert_eq!(find(&data, &[0x34]), None);
    }

    #[test]
    fn truncated_data_finds_nothing() {
        assert_eq!(find(&[0x34, 0x10, 1, 2], &[0x34]), None);
        assert_eq!(find(&[0x34, 0x83, 0, 0, 1], &[0x34]), None);
        assert_eq!(find(&[0x5F], &[0x5F]), None);
    }
}
