//! Naming a card by its ATR from pcsc-tools' `smartcard_list.txt` (Debian's `pcsc-tools`,
//! and the same path on other Linux distributions): real ATRs with the names their makers and
//! users gave them. Used as data, read when present; nothing depends on it.

use std::collections::HashMap;
use std::sync::Mutex;

pub const SMARTCARD_LIST: &str = "/usr/share/pcsc/smartcard_list.txt";

/// A pattern nibble: `None` matches any.
type Pattern = Vec<[Option<u8>; 2]>;

fn matches(pattern: &Pattern, atr: &[u8]) -> bool {
    pattern.len() == atr.len()
        && pattern.iter().zip(atr).all(|([high, low], byte)| {
            high.is_none_or(|h| h == byte >> 4) && low.is_none_or(|l| l == byte & 0x0F)
        })
}

/// Finds `atr` in the list's format: an ATR line (space-separated bytes; `..` or `.` for any
/// nibble), then tab-indented description lines; the first description line is the name.
/// Only lines as long as this ATR's are parsed (the list has thousands; a host answering its
/// first `status` should not build them all). Lines using other regular-expression syntax are
/// skipped: they are few, and a card they would name is still named from its own data.
fn find(text: &[u8], atr: &[u8]) -> Option<String> {
    let width = (atr.len() * 3).checked_sub(1)?;
    // memchr finds line ends many bytes at a time: the list is half a megabyte, and this runs
    // while a person waits for their card's first status.
    let mut ends = memchr::memchr_iter(b'\n', text).chain(std::iter::once(text.len()));
    let mut start = 0;
    let mut lines = std::iter::from_fn(|| {
        let end = ends.next()?;
        let line = text.get(start..end)?;
        start = end + 1;
        Some(line)
    });
    while let Some(line) = lines.next() {
        // Cheap tests first: most lines are descriptions, comments or other ATRs' lengths.
        if line.len() < width || line.len() > width + 4 || matches!(line[0], b'#' | b'\t') {
            continue;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let line = line.trim();
        if line.len() != width || !parse_pattern(line).is_some_and(|p| matches(&p, atr)) {
            continue;
        }
        return lines
            .next()
            .and_then(|next| next.strip_prefix(b"\t"))
            .map(|name| String::from_utf8_lossy(name).trim().to_string());
    }
    None
}

fn parse_pattern(line: &str) -> Option<Pattern> {
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

/// The name the list gives this ATR, if the list is installed and knows it; looked up once
/// per ATR per process.
pub fn name_for(atr: &[u8]) -> Option<String> {
    static NAMES: Mutex<Option<HashMap<Vec<u8>, Option<String>>>> = Mutex::new(None);
    let mut names = NAMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    names
        .get_or_insert_with(HashMap::new)
        .entry(atr.to_vec())
        .or_insert_with(|| {
            std::fs::read(SMARTCARD_LIST)
                .ok()
                .and_then(|text| find(&text, atr))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# comment\n\n3B FD 13 00 00 81 31 FE 15 80 73 C0 21 C0 57 59 75 62 69 4B 65 79 40\n\tYubico YubiKey 5 NFC (PKI)\n\thttps://www.yubico.com\n\n3B 88 80 01 .. .. .. .. .. .. .. .. 0.\n\tSome card family\n\n3B (8|9) 00\n\tregular expression, skipped\n";

    #[test]
    fn exact_and_wildcard_atrs_are_named_and_other_syntax_is_skipped() {
        let yubikey = [
            0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0,
            0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
        ];
        assert_eq!(
            find(SAMPLE.as_bytes(), &yubikey).as_deref(),
            Some("Yubico YubiKey 5 NFC (PKI)")
        );
        let family = [0x3B, 0x88, 0x80, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x0D];
        assert_eq!(
            find(SAMPLE.as_bytes(), &family).as_deref(),
            Some("Some card family")
        );
        let mut other = family;
        other[12] = 0x1D;
        assert_eq!(
            find(SAMPLE.as_bytes(), &other),
            None,
            "the high nibble is fixed"
        );
        assert_eq!(
            find(SAMPLE.as_bytes(), &family[..12]),
            None,
            "lengths must agree"
        );
        assert_eq!(
            find(SAMPLE.as_bytes(), &[0x3B, 0x08, 0x00]),
            None,
            "regular expressions are skipped"
        );
        assert_eq!(find(SAMPLE.as_bytes(), &[]), None);
    }

    #[test]
    fn the_installed_list_names_a_real_card_when_present() {
        // Debian's pcsc-tools list (installed by `cargo xtask setup`) knows the YubiKey 5.
        let text = std::fs::read(SMARTCARD_LIST)
            .expect("pcsc-tools' list (cargo xtask setup installs pcsc-tools)");
        let yubikey = [
            0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0,
            0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
        ];
        assert!(find(&text, &yubikey).is_some_and(|name| name.contains("Yubi")));
    }
}
