//! The bad-input catalogue (`data/bad-requests.json`): every frame in it gets a typed error
//! (the code, and the field for `bad-request`) with the request's id when it could be read,
//! the card is exactly as it was (every counter, every secret, every command that carried a
//! passcode), and the session still answers.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn frame_of(case: &Value) -> Vec<u8> {
    if let Some(hex) = case["frameHex"].as_str() {
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
    }
    if let Some(depth) = case["nested"].as_u64() {
        let depth = usize::try_from(depth).expect("depth");
        return format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    }
    case["frame"]
        .as_str()
        .expect("frame")
        .replace("@ORIGIN@", ORIGIN)
        .replace("@NONCE@", NONCE)
        .replace("@HUGE@", &"A".repeat(12_000))
        .into_bytes()
}

#[test]
fn every_bad_request_gets_a_typed_error_and_changes_nothing() {
    let catalogue: Value = serde_json::from_str(include_str!("data/bad-requests.json"))
        .expect("the catalogue is JSON");
    let cases = catalogue["cases"].as_array().expect("cases");
    assert!(cases.len() >= 30, "the catalogue shrank");
    let mut world = World::new();
    world.insert("unlocked", 0);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    let before = world.card(0).file();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let frame = frame_of(case);
        host.send_frame(&frame);
        let reply = host.expect(Duration::from_secs(10), |f| f.get("error").is_some());
        let code = case["code"].as_str().unwrap_or("bad-request");
        assert_eq!(reply["error"]["code"], code, "{name}: {reply}");
        if let Some(field) = case["field"].as_str() {
            assert_eq!(reply["error"]["field"], field, "{name}: {reply}");
        }
        assert!(
            reply["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}: a sentence for people"
        );
        // The id comes back whenever the frame had a readable one.
        let sent: Option<Value> = serde_json::from_slice(&frame).ok();
        if let Some(id) = sent
            .as_ref()
            .and_then(|v| v.get("id"))
            .and_then(Value::as_u64)
        {
            if case["field"] != "id" {
                assert_eq!(reply["id"], json!(id), "{name}: {reply}");
            }
        }
    }
    assert_eq!(world.card(0).file(), before, "the card changed");
    let status = host.request(json!({"type": "status"}));
    assert_eq!(status["result"]["service"], service_here(), "{status}");
}
