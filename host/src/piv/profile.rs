//! Card profiles carry data, not code: the PIV behaviour lives once in `Piv`; a profile names
//! a card generation and the passcode rule it enforces. New profiles are new table rows.

use selfservice_rules::passcode::CardPinConstraint;
use selfservice_rules::protocol::CardProfile as ProfileName;

/// SP 800-73 cards allow 3 PIN tries unless personalised otherwise.
pub const PIV_PIN_RETRY_LIMIT: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardProfile {
    pub name: ProfileName,
    pub label: &'static str,
    /// Historical bytes that identify this generation in the ATR; empty matches any PIV card.
    pub atr_marker: &'static [u8],
    pub pin_constraint: CardPinConstraint,
}

/// Checked in order; the last row is the standard PIV card.
pub const PROFILES: &[CardProfile] = &[
    CardProfile {
        name: ProfileName::Piv,
        label: "PIV, legacy NHS passcode rule",
        atr_marker: b"SSS-LEG",
        pin_constraint: CardPinConstraint::SeedLegacy,
    },
    CardProfile {
        name: ProfileName::Piv,
        label: "PIV",
        atr_marker: b"",
        pin_constraint: CardPinConstraint::PivStrict,
    },
];

/// The profile for a card, by its ATR.
pub fn for_atr(atr: &[u8]) -> &'static CardProfile {
    PROFILES
        .iter()
        .find(|p| {
            p.atr_marker.is_empty() || atr.windows(p.atr_marker.len()).any(|w| w == p.atr_marker)
        })
        .unwrap_or(&PROFILES[PROFILES.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_atr_picks_the_passcode_rule() {
        let legacy = [
            0x3B, 0x88, 0x80, 0x01, b'S', b'S', b'S', b'-', b'L', b'E', b'G', 0x00, 0x0D,
        ];
        assert_eq!(
            for_atr(&legacy).pin_constraint,
            CardPinConstraint::SeedLegacy
        );
        assert_eq!(
            for_atr(&[0x3B, 0x00]).pin_constraint,
            CardPinConstraint::PivStrict
        );
    }
}
