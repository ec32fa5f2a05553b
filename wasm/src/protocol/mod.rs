//! The native-messaging protocol between the extension and the host (docs/DESIGN.md §3.1): every
//! message type, the frame limits, and the request parser both sides rely on. One file a
//! direction: [`requests`] (extension to host, and `parse_request`), [`messages`] (host to
//! extension: hello, replies, errors, events), [`results`] (each command's result).
//!
//! Envelope:
//! - host, first frame: `{"type":"hello","protocol":2,"version":"<semver>","capabilities":[...]}`
//! - request: `{"id":<u32>,"type":"<command>",...}`
//! - reply: `{"id":<same>,"result":{...}}` or `{"id":<same>,"error":{"code":"...","message":"...",...}}`
//! - event: `{"type":"event","event":"<name>",...}`

mod messages;
mod requests;
mod results;

pub use messages::*;
pub use requests::*;
pub use results::*;

/// Bumped on any incompatible change; the extension refuses a host that speaks another.
/// Version 2: unlock secrets sealed to the host, card-signed receipts, purpose-bound proofs.
pub const PROTOCOL_VERSION: u32 = 2;
/// Largest request the host reads. Our requests are small (the biggest carries a signed
/// authorization of well under 2 KiB); the length is checked before anything is allocated.
pub const MAX_REQUEST_BYTES: u32 = 16 * 1024;
/// The longest card wait a request may ask for.
pub const MAX_WAIT_FOR_CARD_MS: u32 = 120_000;
/// Browsers refuse a host frame of 1 MiB or more; the host never writes one.
pub const MAX_HOST_FRAME_BYTES: usize = 1024 * 1024 - 1;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_reader::BadRequest;
    use crate::secret::Secret;

    /// Every name the hello announces is one the parser knows, `name()` gives it back, and
    /// serde (which the extension's TypeScript types come from) spells it the same way.
    #[test]
    fn command_names_are_one_list() {
        let minimal = |name: &str| -> serde_json::Value {
            match name {
                Command::PROVE_POSSESSION => serde_json::json!({"id": 1, "type": name,
                    "purpose": "unlock", "origin": "https://portal.test", "nonce": "n".repeat(43)}),
                Command::UNLOCK => serde_json::json!({"id": 1, "type": name,
                    "origin": "https://portal.test", "authorization": {"payload": "e30", "signature": "AA"},
                    "newPasscode": "860245"}),
                Command::CHANGE_PASSCODE => serde_json::json!({"id": 1, "type": name,
                    "oldPasscode": "583920", "newPasscode": "860245"}),
                Command::CANCEL => serde_json::json!({"id": 1, "type": name, "request": 7}),
                _ => serde_json::json!({"id": 1, "type": name}),
            }
        };
        for name in Command::NAMES {
            let body = minimal(name).to_string();
            let request = parse_request(body.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: {e} (field {})", e.field));
            assert_eq!(request.command.name(), name);
            let written = serde_json::to_value(&request).expect("serialises");
            assert_eq!(written["type"], name, "serde's name for {name}");
        }
        assert_eq!(
            Command::NAMES.len(),
            Command::NAMES
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
    }

    fn bad(body: &str) -> BadRequest {
        parse_request(body.as_bytes()).expect_err("should be refused")
    }

    /// Found by the fuzz target `message_parser_from_seeds` (its committed regression seed):
    /// an empty key was refused with an empty field name.
    #[test]
    fn an_empty_key_is_refused_by_name() {
        let refused = bad(r#"{"id":3,"type":"status","":3}"#);
        assert_eq!(refused.field, "\"\"");
        assert_eq!(refused.id, Some(3));
        let body = crate::json_reader::read_json::<crate::api::FlowStep>(br#"{"flowId":"f","":1}"#)
            .expect_err("refused");
        assert_eq!(body.field, "\"\"");
    }

    #[test]
    fn a_status_request_parses() {
        let request = parse_request(br#"{"id":7,"type":"status"}"#).expect("ok");
        assert_eq!(request.id, 7);
        assert_eq!(request.command, Command::Status(StatusParams::default()));
    }

    #[test]
    fn a_register_proof_request_carries_its_passcode_as_a_secret() {
        let request = parse_request(
            br#"{"id":1,"type":"prove-possession","purpose":"register","origin":"https://portal.example","nonce":"abc","passcode":"123456"}"#,
        )
        .expect("ok");
        let Command::ProvePossession(params) = request.command else {
            panic!("wrong command");
        };
        assert_eq!(params.passcode.as_ref().map(Secret::expose), Some("123456"));
        assert!(!format!("{params:?}").contains("123456"));
    }

    #[test]
    fn frames_that_are_not_json_objects_are_refused_as_a_whole() {
        assert_eq!(bad("[1,2]").field, "$");
        assert_eq!(bad("\"status\"").field, "$");
        assert_eq!(bad("{\"id\":1,").field, "$");
        assert_eq!(
            parse_request(&[0xff, 0xfe]).expect_err("refused").field,
            "$"
        );
    }

    #[test]
    fn id_and_type_problems_name_their_field() {
        assert_eq!(bad(r#"{"type":"status"}"#).field, "id");
        assert_eq!(bad(r#"{"id":-1,"type":"status"}"#).field, "id");
        assert_eq!(bad(r#"{"id":"7","type":"status"}"#).field, "id");
        assert_eq!(bad(r#"{"id":4294967296,"type":"status"}"#).field, "id");
        let missing = bad(r#"{"id":3}"#);
        assert_eq!((missing.id, missing.field.as_str()), (Some(3), "type"));
        let unknown = bad(r#"{"id":4,"type":"transmit-apdu"}"#);
        assert_eq!((unknown.id, unknown.field.as_str()), (Some(4), "type"));
        assert!(unknown.message.contains("transmit-apdu"));
        assert_eq!(bad(r#"{"id":4,"type":5}"#).field, "type");
    }

    #[test]
    fn unknown_missing_and_mistyped_fields_are_named() {
        assert_eq!(
            bad(r#"{"id":1,"type":"status","apdu":"00a4"}"#).field,
            "apdu"
        );
        assert_eq!(bad(r#"{"id":1,"type":"cancel"}"#).field, "request");
        assert_eq!(
            bad(r#"{"id":1,"type":"cancel","request":"x"}"#).field,
            "request"
        );
        assert_eq!(
            bad(r#"{"id":1,"type":"prove-possession","purpose":"sign","origin":"o","nonce":"n"}"#)
                .field,
            "purpose"
        );
        let nested = bad(
            r#"{"id":1,"type":"unlock","origin":"o","newPasscode":"1","authorization":{"payload":"p","signature":"s","extra":1}}"#,
        );
        assert_eq!(nested.field, "authorization.extra");
        assert_eq!(nested.id, Some(1));
    }

    #[test]
    fn replies_events_and_hello_have_the_documented_shape() {
        let hello = HostMessage::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            version: "0.1.0".into(),
            capabilities: vec!["status".into()],
        });
        assert_eq!(
            serde_json::to_string(&hello).expect("json"),
            r#"{"type":"hello","protocol":2,"version":"0.1.0","capabilities":["status"]}"#
        );
        let event = HostMessage::Event(EventMessage {
            event: HostEvent::CardInserted {
                reader: "R 00".into(),
            },
        });
        assert_eq!(
            serde_json::to_string(&event).expect("json"),
            r#"{"type":"event","event":"card-inserted","reader":"R 00"}"#
        );
        let error = HostMessage::Reply(Reply {
            id: Some(9),
            outcome: Outcome::Error(ErrorBody {
                error: HostError::WrongPasscode {
                    retries_left: Some(2),
                },
                message: "Wrong passcode.".into(),
            }),
        });
        let text = serde_json::to_string(&error).expect("json");
        assert_eq!(
            text,
            r#"{"id":9,"error":{"code":"wrong-passcode","retriesLeft":2,"message":"Wrong passcode."}}"#
        );
        // And every shape reads back as what it was.
        for message in [hello, event, error] {
            let text = serde_json::to_string(&message).expect("json");
            assert_eq!(
                serde_json::from_str::<HostMessage>(&text).expect("parse"),
                message
            );
        }
        let ok = r#"{"id":2,"result":{"cancelled":true}}"#;
        assert!(matches!(
            serde_json::from_str::<HostMessage>(ok).expect("parse"),
            HostMessage::Reply(Reply {
                id: Some(2),
                outcome: Outcome::Result(_)
            })
        ));
    }

    #[test]
    fn every_result_reads_back_as_its_command_in_rust_and_typescript() {
        let card = r#"{"profile":"piv","guid":"00","passcode":{"state":"blocked"},"pinConstraint":"piv-strict","passcodeRule":{"minLength":6,"maxLength":8,"charset":"digits","blocklist":[],"description":""}}"#;
        let receipt = r#"{"outcome":"e30","signature":"AA==","algorithm":"ES256"}"#;
        let samples = [
            (
                Command::STATUS,
                r#"{"service":"running","readers":[]}"#.to_string(),
            ),
            (
                Command::FIND_CARD,
                format!(r#"{{"reader":"R 00","card":{card}}}"#),
            ),
            (
                Command::PROVE_POSSESSION,
                r#"{"cardGuid":"00","certificate":"AA==","signature":"AA==","algorithm":"ES256"}"#
                    .to_string(),
            ),
            (
                Command::UNLOCK,
                format!(
                    r#"{{"state":{{"unblocked":true,"passcodeSet":true,"pukRotated":true}},"passcode":{{"state":"usable","retriesLeft":3}},"receipt":{receipt}}}"#
                ),
            ),
            (
                Command::CHANGE_PASSCODE,
                r#"{"passcode":{"state":"usable","retriesLeft":3}}"#.to_string(),
            ),
            (Command::CANCEL, r#"{"cancelled":false}"#.to_string()),
            (Command::QUIT, "{}".to_string()),
        ];
        // One result type for every command, in the order serde tries them.
        assert_eq!(samples.clone().map(|(name, _)| name), Command::NAMES);
        let typescript = include_str!("../wasm_api.rs");
        for (name, json) in samples {
            let result: CommandResult = serde_json::from_str(&json).expect(name);
            assert_eq!(result.command(), name, "{json}");
            assert_eq!(serde_json::to_string(&result).expect("json"), json);
            // The pages' `CommandResults` maps the same name to the same type.
            let type_name = match result {
                CommandResult::Status(_) => "StatusResult",
                CommandResult::FindCard(_) => "CardInReader",
                CommandResult::ProvePossession(_) => "CardProof",
                CommandResult::Unlock(_) => "UnlockResult",
                CommandResult::ChangePasscode(_) => "ChangePasscodeResult",
                CommandResult::Cancel(_) => "CancelResult",
                CommandResult::Quit(_) => "QuitResult",
            };
            let key = if name.contains('-') {
                format!("\"{name}\"")
            } else {
                name.to_string()
            };
            assert!(
                typescript.contains(&format!("  {key}: {type_name};")),
                "CommandResults lacks {key}: {type_name}"
            );
        }
    }
}
