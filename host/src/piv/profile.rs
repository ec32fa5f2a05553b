//! Which card this is and which passcode rule it enforces, from real data: the machine
//! configuration (IT's policy) first, then the known cards below by ATR, then the PIV
//! specification's own rule. The card's name comes from the same table or pcsc-tools' list.
//! Profiles carry data, not code: the PIV behaviour lives once in `Piv`.

use selfservice_rules::passcode::CardPinConstraint;
use selfservice_rules::protocol::{CardProfile as ProfileName, PinRuleSource};

use super::known_cards;

/// A card generation whose passcode rule is known from its ATR. New generations are new rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownCard {
    pub label: &'static str,
    pub atr: &'static [u8],
    pub pin_constraint: CardPinConstraint,
}

pub const KNOWN_CARDS: &[KnownCard] = &[KnownCard {
    // The virtual card's legacy personalisation (tests and the demo). Real NHS generations
    // personalised for the legacy rule go here by their ATRs, or IT sets `cardPinRule`.
    label: "Smartcard Self-Service test card, legacy NHS passcode rule",
    atr: &[
        0x3B, 0x88, 0x80, 0x01, 0x53, 0x53, 0x53, 0x2D, 0x4C, 0x45, 0x47, 0x00, 0x0D,
    ],
    pin_constraint: CardPinConstraint::LegacyPrintable,
}];

/// A card as identified: its profile, its name, its passcode rule and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardProfile {
    pub name: ProfileName,
    pub label: String,
    pub pin_constraint: CardPinConstraint,
    pub pin_rule_source: PinRuleSource,
}

/// Identifies a card by its ATR; `configured` is the machine configuration's `cardPinRule`.
pub fn identify(atr: &[u8], configured: Option<CardPinConstraint>) -> CardProfile {
    let known = KNOWN_CARDS.iter().find(|card| card.atr == atr);
    let label = known
        .map(|card| card.label.to_string())
        .or_else(|| known_cards::name_for(atr))
        .unwrap_or_else(|| "PIV card".to_string());
    let (pin_constraint, pin_rule_source) = match (configured, known) {
        (Some(rule), _) => (rule, PinRuleSource::Configuration),
        (None, Some(card)) => (card.pin_constraint, PinRuleSource::KnownCard),
        (None, None) => (CardPinConstraint::PivStrict, PinRuleSource::PivDefault),
    };
    CardProfile {
        name: ProfileName::Piv,
        label,
        pin_constraint,
        pin_rule_source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: [u8; 13] = [
        0x3B, 0x88, 0x80, 0x01, b'S', b'S', b'S', b'-', b'L', b'E', b'G', 0x00, 0x0D,
    ];

    #[test]
    fn configuration_then_known_cards_then_the_piv_rule() {
        let known = identify(&LEGACY, None);
        assert_eq!(
            (known.pin_constraint, known.pin_rule_source),
            (CardPinConstraint::LegacyPrintable, PinRuleSource::KnownCard)
        );
        let configured = identify(&LEGACY, Some(CardPinConstraint::PivStrict));
        assert_eq!(
            (configured.pin_constraint, configured.pin_rule_source),
            (CardPinConstraint::PivStrict, PinRuleSource::Configuration)
        );
        let unknown = identify(&[0x3B, 0x00], None);
        assert_eq!(
            (unknown.pin_constraint, unknown.pin_rule_source),
            (CardPinConstraint::PivStrict, PinRuleSource::PivDefault)
        );
    }
}
