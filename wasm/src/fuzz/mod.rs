//! Fuzz targets for what the rules crate reads from outside: native-messaging requests, the
//! portal's request bodies, and what a person types into the pages. `cargo xtask fuzz
//! --seconds N` runs each for N seconds; `cargo test` runs each for bolero's default second,
//! after replaying the committed seeds in `__fuzz__/<target>/corpus` (and any `crashes`).
//! The property everywhere: no panic, and every refusal is a typed error that names a field.

use crate::fuzzing::{corpus_dir, mutate, seeds, Edit};

fn target_seeds(target: &str) -> Vec<Vec<u8>> {
    seeds(&corpus_dir(env!("CARGO_MANIFEST_DIR"), target))
}

fn parse_request_checked(body: &[u8]) {
    match crate::protocol::parse_request(body) {
        Ok(request) => assert!(!request.command.name().is_empty()),
        Err(bad) => {
            assert!(!bad.field.is_empty(), "a refusal names its field");
            assert!(!bad.message.is_empty());
        }
    }
    // What the pages run on the same bytes agrees with the host's parser.
    let verdict = crate::verdict::request_verdict(body);
    assert_eq!(
        verdict.ok,
        crate::protocol::parse_request(body).is_ok(),
        "the pages and the host disagree on {:?}",
        String::from_utf8_lossy(body)
    );
}

#[test]
fn message_parser() {
    crate::fuzz_bytes!(parse_request_checked);
}

#[test]
fn message_parser_from_seeds() {
    let seeds = target_seeds("message_parser");
    crate::fuzz!((u16, Vec<Edit>), |(pick, edits): &(u16, Vec<Edit>)| {
        parse_request_checked(&mutate(&seeds, *pick, edits))
    });
}

fn read_portal_bodies(body: &[u8]) {
    use crate::api::*;
    use crate::json_reader::read_json;
    fn named<T>(result: Result<T, crate::json_reader::BadRequest>) {
        if let Err(bad) = result {
            assert!(!bad.field.is_empty() && !bad.message.is_empty());
        }
    }
    named(read_json::<ChallengeRequest>(body));
    named(read_json::<StartFlow>(body));
    named(read_json::<FlowStep>(body));
    named(read_json::<Answers>(body));
    named(read_json::<EmailStep>(body));
    named(read_json::<CodeStep>(body));
    named(read_json::<AuthorizationRequest>(body));
    named(read_json::<UnlockReport>(body));
}

#[test]
fn portal_request_bodies() {
    crate::fuzz_bytes!(read_portal_bodies);
}

#[test]
fn portal_request_bodies_from_seeds() {
    let seeds = target_seeds("portal_request_bodies");
    crate::fuzz!((u16, Vec<Edit>), |(pick, edits): &(u16, Vec<Edit>)| {
        read_portal_bodies(&mutate(&seeds, *pick, edits))
    });
}

/// What a person types: passcodes, email addresses, codes, answers, and an origin.
#[test]
fn page_inputs() {
    use crate::passcode::{CardPinConstraint, OrganisationPolicy, PasscodeRule};
    let rules: Vec<PasscodeRule> = [
        CardPinConstraint::PivStrict,
        CardPinConstraint::LegacyPrintable,
    ]
    .into_iter()
    .filter_map(|card| PasscodeRule::effective(card, &OrganisationPolicy::default()).ok())
    .collect();
    assert_eq!(rules.len(), 2);
    let email = crate::email::EmailPolicy::default();
    crate::fuzz!((String, String), |(text, other): &(String, String)| {
        for rule in &rules {
            let accepted = rule.check(text).is_ok();
            // An accepted passcode always fits a card's 8-byte PIN block.
            assert!(!accepted || text.len() <= 8, "{text:?}");
            let _ = rule.check_pair(text, other);
        }
        if let Ok(address) = email.check(text) {
            assert_eq!(
                email.check(&address),
                Ok(address.clone()),
                "stable once accepted"
            );
        }
        if let Ok(code) = crate::codes::parse_code(text) {
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code:?}");
        }
        for kind in [
            crate::questions::AnswerKind::Text,
            crate::questions::AnswerKind::PhoneNumber,
        ] {
            let normal = crate::questions::normalise_answer(kind, text);
            assert_eq!(
                crate::questions::normalise_answer(kind, &normal),
                normal,
                "normalising twice changes nothing"
            );
            let _ = crate::questions::check_answer(kind, text);
        }
        if let Ok(origin) = crate::origin::check_origin(text) {
            assert_eq!(crate::origin::check_origin(&origin), Ok(origin.clone()));
        }
    });
}
