//! Tests of `passcode`.

use super::*;

fn piv() -> PasscodeRule {
    PasscodeRule::effective(CardPinConstraint::PivStrict, &OrganisationPolicy::default())
        .expect("valid rule")
}
fn legacy() -> PasscodeRule {
    PasscodeRule::effective(
        CardPinConstraint::LegacyPrintable,
        &OrganisationPolicy::default(),
    )
    .expect("valid rule")
}

#[test]
fn legacy_rule_is_four_to_eight_keyboard_characters() {
    let rule = legacy();
    assert_eq!((rule.min_length, rule.max_length), (4, 8));
    assert_eq!(rule.charset, Charset::Keyboard);
    assert_eq!(rule.check("Ab3$"), Ok(()));
    assert_eq!(rule.check("P@ss w0!"), Ok(()));
    assert_eq!(
        rule.check("abc"),
        Err(PasscodeRejection::TooShort { min: 4 })
    );
    assert_eq!(
        rule.check("abcdefghi"),
        Err(PasscodeRejection::TooLong { max: 8 })
    );
    assert_eq!(rule.check(""), Err(PasscodeRejection::Empty));
}

#[test]
fn piv_card_narrows_to_six_to_eight_digits() {
    let rule = piv();
    assert_eq!((rule.min_length, rule.max_length), (6, 8));
    assert_eq!(rule.check("583920"), Ok(()));
    assert_eq!(
        rule.check("58392"),
        Err(PasscodeRejection::TooShort { min: 6 })
    );
    assert_eq!(rule.check("58392a"), Err(PasscodeRejection::DigitsOnly));
    assert!(rule.description.contains("between 6 and 8 numbers"));
}

#[test]
fn characters_outside_the_keyboard_are_refused() {
    let rule = legacy();
    for bad in [
        "caf\u{e9}12",
        "ab\u{1F600}12",
        "ab\u{7}12",
        "ab\t12",
        "\u{430}bcd1",
    ] {
        assert_eq!(
            rule.check(bad),
            Err(PasscodeRejection::CharacterNotAllowed),
            "{bad:?}"
        );
    }
}

#[test]
fn non_ascii_length_counts_characters_not_bytes() {
    // Four characters, nine bytes: refused for the character, not for its length.
    assert_eq!(
        legacy().check("\u{e9}\u{e9}\u{e9}\u{e9}"),
        Err(PasscodeRejection::CharacterNotAllowed)
    );
}

#[test]
fn leading_or_trailing_space_is_refused_inner_space_allowed() {
    let rule = legacy();
    assert_eq!(rule.check(" ab12"), Err(PasscodeRejection::EdgeSpace));
    assert_eq!(rule.check("ab12 "), Err(PasscodeRejection::EdgeSpace));
    assert_eq!(rule.check("ab 12"), Ok(()));
}

#[test]
fn trivial_values_are_refused() {
    let rule = legacy();
    for bad in [
        "1234", "0000", "PASSWORD", "abcd", "4321", "zzzzzz", "123456",
    ] {
        assert_eq!(
            rule.check(bad),
            Err(PasscodeRejection::TooEasyToGuess),
            "{bad}"
        );
    }
    assert_eq!(
        piv().check("11111111"),
        Err(PasscodeRejection::TooEasyToGuess)
    );
    assert_eq!(piv().check("13579135"), Ok(()));
}

#[test]
fn organisation_override_narrows_and_replaces_the_blocklist() {
    let org = OrganisationPolicy {
        min_length: Some(6),
        digits_only: true,
        blocklist: Some(vec!["Winter".into()]),
        ..Default::default()
    };
    let rule = PasscodeRule::effective(CardPinConstraint::LegacyPrintable, &org).expect("rule");
    assert_eq!(
        (rule.min_length, rule.max_length, rule.charset),
        (6, 8, Charset::Digits)
    );
    assert_eq!(rule.check("a83920"), Err(PasscodeRejection::DigitsOnly));
    let org = OrganisationPolicy {
        blocklist: Some(vec!["Winter".into()]),
        ..Default::default()
    };
    let rule = PasscodeRule::effective(CardPinConstraint::LegacyPrintable, &org).expect("rule");
    assert_eq!(rule.check("winter"), Err(PasscodeRejection::TooEasyToGuess));
    // The replaced default list no longer applies; the straight-run check still does.
    assert_eq!(rule.check("password"), Ok(()));
    assert_eq!(rule.check("1234"), Err(PasscodeRejection::TooEasyToGuess));
}

#[test]
fn override_cannot_widen_the_card_rule() {
    let org = OrganisationPolicy {
        min_length: Some(2),
        max_length: Some(12),
        ..Default::default()
    };
    let rule = PasscodeRule::effective(CardPinConstraint::PivStrict, &org).expect("rule");
    assert_eq!((rule.min_length, rule.max_length), (6, 8));
}

#[test]
fn conflicting_override_is_reported() {
    let org = OrganisationPolicy {
        min_length: Some(9),
        ..Default::default()
    };
    assert_eq!(
        PasscodeRule::effective(CardPinConstraint::PivStrict, &org),
        Err(PolicyConflict::EmptyRange { min: 9, max: 8 })
    );
}

#[test]
fn confirmation_must_match() {
    let rule = piv();
    assert_eq!(rule.check_pair("583920", "583920"), Ok(()));
    assert_eq!(
        rule.check_pair("583920", "583921"),
        Err(PasscodeRejection::Mismatch)
    );
    assert_eq!(
        rule.check_pair("583920", ""),
        Err(PasscodeRejection::Mismatch)
    );
    // The passcode's own problem is reported first.
    assert_eq!(
        rule.check_pair("1234", "1234"),
        Err(PasscodeRejection::TooShort { min: 6 })
    );
}

#[test]
fn rejection_serialises_with_a_kebab_code() {
    let json = serde_json::to_string(&PasscodeRejection::TooShort { min: 6 }).expect("json");
    assert_eq!(json, r#"{"code":"too-short","min":6}"#);
}

#[test]
fn the_legacy_rule_is_read_by_its_first_name_too() {
    // Machines configured with `CardPinRule = seed-legacy` keep their rule.
    for name in ["\"legacy-printable\"", "\"seed-legacy\""] {
        assert_eq!(
            serde_json::from_str::<CardPinConstraint>(name).expect(name),
            CardPinConstraint::LegacyPrintable
        );
    }
    assert_eq!(
        serde_json::to_string(&CardPinConstraint::LegacyPrintable).expect("json"),
        "\"legacy-printable\""
    );
}
