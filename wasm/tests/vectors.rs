//! The shared vector file, checked natively. `tests/node/vectors.test.mjs` checks the same file
//! against the wasm build, so the host, the portal and the extension give the same verdicts.

use selfservice_rules::codes::{parse_code, CodeValidity, QuestionAttempts};
use selfservice_rules::email::EmailPolicy;
use selfservice_rules::passcode::{CardPinConstraint, OrganisationPolicy, PasscodeRule};
use selfservice_rules::questions::{
    check_answer, check_registration_choice, question, QuestionAnswer,
};
use selfservice_rules::verdict::{request_verdict, Verdict};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn field<T: DeserializeOwned>(input: &Value, name: &str) -> T {
    serde_json::from_value(input[name].clone()).unwrap_or_else(|e| panic!("input.{name}: {e}"))
}

fn optional<T: DeserializeOwned + Default>(input: &Value, name: &str) -> T {
    match input.get(name) {
        None | Some(Value::Null) => T::default(),
        Some(_) => field(input, name),
    }
}

fn verdict<T: Serialize, E: Serialize + std::fmt::Display>(result: Result<T, E>) -> Value {
    serde_json::to_value(Verdict::from(result)).expect("verdict serialises")
}

fn rule(input: &Value) -> Result<PasscodeRule, selfservice_rules::passcode::PolicyConflict> {
    let card: CardPinConstraint = field(input, "card");
    let organisation: OrganisationPolicy = optional(input, "organisation");
    PasscodeRule::effective(card, &organisation)
}

fn evaluate(kind: &str, input: &Value) -> Value {
    match kind {
        "rule" => verdict(rule(input)),
        "passcode" => {
            let rule = rule(input).expect("case has a valid rule");
            verdict(rule.check(&field::<String>(input, "candidate")))
        }
        "passcode-pair" => {
            let rule = rule(input).expect("case has a valid rule");
            let passcode: String = field(input, "passcode");
            let confirmation: String = field(input, "confirmation");
            verdict(rule.check_pair(&passcode, &confirmation))
        }
        "email" => {
            let policy = match input.get("approvedDomains") {
                Some(_) => EmailPolicy {
                    approved_domains: field(input, "approvedDomains"),
                },
                None => EmailPolicy::default(),
            };
            verdict(policy.check(&field::<String>(input, "email")))
        }
        "answer" => {
            let q = question(&field::<String>(input, "questionId")).expect("known question");
            verdict(check_answer(q.kind, &field::<String>(input, "answer")))
        }
        "choice" => {
            let answers: Vec<QuestionAnswer> = field(input, "answers");
            verdict(check_registration_choice(&answers))
        }
        "code" => verdict(parse_code(&field::<String>(input, "input"))),
        "code-status" => {
            let status = CodeValidity::issued(field(input, "issuedAt")).status(field(input, "now"));
            serde_json::to_value(status).expect("json")
        }
        "attempts" => {
            let mut attempts = QuestionAttempts {
                failed_rounds: field(input, "failedRounds"),
            };
            serde_json::to_value(attempts.record_failure()).expect("json")
        }
        "request" => {
            let body: String = field(input, "body");
            serde_json::to_value(request_verdict(body.as_bytes())).expect("json")
        }
        other => panic!("unknown vector kind {other}"),
    }
}

/// Every key of `expected` has the same value in `actual`.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        _ => actual == expected,
    }
}

#[test]
fn every_vector_gives_its_expected_verdict() {
    let text = include_str!("../vectors/rules.json");
    let file: Value = serde_json::from_str(text).expect("vector file is JSON");
    let cases = file["cases"].as_array().expect("cases");
    assert!(cases.len() > 100, "the vector file lost its cases");
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let mut actual = evaluate(case["kind"].as_str().expect("kind"), &case["input"]);
        // A refusal always comes with a sentence for people; the sentence itself is not compared.
        if actual.get("ok") == Some(&json!(false)) {
            let message = actual["message"].as_str().unwrap_or_default();
            if message.is_empty() {
                failures.push(format!("{name}: refusal without a message"));
            }
        }
        if let Some(map) = actual.as_object_mut() {
            map.remove("message");
        }
        let expected = &case["expect"];
        let matches = if case["match"] == json!("subset") {
            contains(&actual, expected)
        } else {
            &actual == expected
        };
        if !matches {
            failures.push(format!("{name}: expected {expected}, got {actual}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
