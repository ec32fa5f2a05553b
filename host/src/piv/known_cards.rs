//! Naming a card by its ATR from pcsc-tools' `smartcard_list.txt` (Debian's `pcsc-tools`,
//! and the same path on other Linux distributions): real ATRs with the names their makers and
//! users gave them. Used as data, read when present; nothing depends on it.

use std::sync::OnceLock;

pub const SMARTCARD_LIST: &str = "/usr/share/pcsc/smartcard_list.txt";

/// One entry: an ATR pattern (a hex digit or `.` per nibble) and its first description line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pattern: Vec<[Option<u8>; 2]>,
    name: String,
}

impl Entry {
    fn matches(&self, atr: &[u8]) -> bool {
        self.pattern.len() == atr.len()
            && self.pattern.iter().zip(atr).all(|([high, low], byte)| {
                high.is_none_or(|h| h == byte >> 4) && low.is_none_or(|l| l == byte & 0x0F)
            })
    }
}

/// Reads the list's format: an ATR line (space-separated bytes; `..` or `.` for any nibble),
/// then tab-indented description lines. Lines using other regular-expression syntax are
/// skipped: they are few, and a card they would name is still named from its own data.
fn parse(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with('#') || line.starts_with('\t') || line.trim().is_empty() {
            continue;
        }
        let Some(pattern) = parse_pattern(line.trim()) else {
            continue;
        };
        if let Some(description) = lines.peek().and_then(|next| next.strip_prefix('\t')) {
            entries.push(Entry {
                pattern,
                name: description.trim().to_string(),
            });
        }
    }
    entries
}

fn parse_pattern(line: &str) -> Option<Vec<[Option<u8>; 2]>> {
    line.split(' ')
        .map(|byte| {
            let mut nibbles = byte.chars().map(|c| match c {
                '.' => Some(None),
                c => c.to_digit(16).map(|d| Some(d as u8)),
            });
            let pattern = [nibbles.next()??, nibbles.next()??];
            nibbles.next().is_none().then_some(pattern)
        })
        .collect()
}

/// The name the list gives this ATR, if the list is installed and knows it. The list is read
/// and parsed once per process.
pub fn name_for(atr: &[u8]) -> Option<String> {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES
        .get_or_init(|| {
            std::fs::read_to_string(SMARTCARD_LIST)
                .map(|text| parse(&text))
                .unwrap_or_default()
        })
        .iter()
        .find(|entry| entry.matches(atr))
        .map(|entry| entry.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# comment\n\n3B FD 13 00 00 81 31 FE 15 80 73 C0 21 C0 57 59 75 62 69 4B 65 79 40\n\tYubico YubiKey 5 NFC (PKI)\n\thttps://www.yubico.com\n\n3B 88 80 01 .. .. .. .. .. .. .. .. 0.\n\tSome card family\n\n3B (8|9) 00\n\tregular expression, skipped\n";

    #[test]
    fn exact_and_wildcard_atrs_are_named_and_other_syntax_is_skipped() {
        let entries = parse(SAMPLE);
        assert_eq!(entries.len(), 2);
        let yubikey = [
            0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0,
            0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
        ];
        assert!(entries[0].matches(&yubikey));
        assert_eq!(entries[0].name, "Yubico YubiKey 5 NFC (PKI)");
        let family = [0x3B, 0x88, 0x80, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x0D];
        assert!(entries[1].matches(&family));
        let mut other = family;
        other[12] = 0x1D;
        assert!(!entries[1].matches(&other), "the high nibble is fixed");
        assert!(!entries[1].matches(&family[..12]), "lengths must agree");
    }
}
