//! The native-messaging boundary: hello first, and every malformed frame gets a typed error
//! or a clean exit, never a crash or a hang. `cargo xtask test` runs these against the Linux build
//! and again against the Windows build under Wine (see `common::host_command`).

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn the_host_speaks_first_with_its_version_and_capabilities() {
    let world = World::new();
    let mut host = world.host();
    let hello = host.hello();
    assert_eq!(hello["protocol"], 2);
    assert_eq!(hello["version"], env!("CARGO_PKG_VERSION"));
    let capabilities: Vec<&str> = hello["capabilities"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for command in [
        "status",
        "prove-possession",
        "unlock",
        "change-passcode",
        "cancel",
        "quit",
    ] {
        assert!(
            capabilities.contains(&command),
            "{command} missing from {capabilities:?}"
        );
    }
}

fn bad_request_field(host: &mut Host, body: &[u8]) -> (serde_json::Value, String) {
    host.send_frame(body);
    let reply = host.expect(Duration::from_secs(5), |f| f.get("error").is_some());
    assert_eq!(reply["error"]["code"], "bad-request", "{reply}");
    assert!(reply["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    let field = reply["error"]["field"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (reply["id"].clone(), field)
}

#[test]
fn malformed_frames_get_typed_errors_and_the_session_goes_on() {
    let world = World::new();
    let mut host = world.host();
    host.hello();
    assert_eq!(bad_request_field(&mut host, b""), (json!(null), "$".into()));
    assert_eq!(
        bad_request_field(&mut host, &[0xC3, 0x28]),
        (json!(null), "$".into())
    );
    assert_eq!(
        bad_request_field(&mut host, b"[1,2,3]"),
        (json!(null), "$".into())
    );
    assert_eq!(
        bad_request_field(&mut host, b"\"status\""),
        (json!(null), "$".into())
    );
    assert_eq!(
        bad_request_field(&mut host, br#"{"id":"1","type":"status"}"#),
        (json!(null), "id".into())
    );
    assert_eq!(
        bad_request_field(&mut host, br#"{"id":2}"#),
        (json!(2), "type".into())
    );
    assert_eq!(
        bad_request_field(&mut host, br#"{"id":3,"type":"transmit","apdu":"00A4"}"#),
        (json!(3), "type".into())
    );
    assert_eq!(
        bad_request_field(&mut host, br#"{"id":4,"type":"status","verbose":true}"#),
        (json!(4), "verbose".into())
    );
    assert_eq!(
        bad_request_field(&mut host, br#"{"id":5,"type":"cancel","request":"x"}"#),
        (json!(5), "request".into())
    );
    assert_eq!(
        bad_request_field(
            &mut host,
            br#"{"id":6,"type":"prove-possession","purpose":"sign","origin":"o","nonce":"n"}"#
        ),
        (json!(6), "purpose".into())
    );
    // Still answering.
    let reply = host.request(json!({"type": "status"}));
    assert_eq!(reply["result"]["service"], service_here());
}

#[test]
fn an_oversize_length_is_answered_at_once_and_ends_the_session() {
    let world = World::new();
    for length in [16 * 1024 + 1, 1024 * 1024, 0xFFFF_FFF0u32] {
        let mut host = world.host();
        host.hello();
        // The length alone, the input left open: a host that waited for the body would hang.
        host.write_raw(&length.to_ne_bytes());
        let reply = host.expect(Duration::from_secs(5), |f| f.get("error").is_some());
        assert_eq!(reply["error"]["code"], "bad-request", "{reply}");
        assert_eq!(reply["error"]["field"], "$");
        assert!(reply["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("limit"));
        assert_eq!(host.wait_exit(2 * SECOND), Some(0), "length {length}");
    }
}

#[test]
fn end_of_input_ends_the_host_promptly_and_cleanly() {
    let world = World::new();
    let mut host = world.host();
    host.hello();
    host.close_input();
    assert_eq!(host.wait_exit(2 * SECOND), Some(0));
}

#[test]
fn a_truncated_length_or_body_ends_the_host_cleanly() {
    let world = World::new();
    for partial in [vec![7u8, 0], {
        let mut f = 100u32.to_ne_bytes().to_vec();
        f.extend_from_slice(b"{\"id\":1");
        f
    }] {
        let mut host = world.host();
        host.hello();
        host.write_raw(&partial);
        host.close_input();
        assert_eq!(host.wait_exit(2 * SECOND), Some(0));
    }
}

#[test]
fn quit_answers_then_exits() {
    let world = World::new();
    let mut host = world.host();
    host.hello();
    let reply = host.request(json!({"type": "quit"}));
    assert_eq!(reply["result"], json!({}));
    assert_eq!(host.wait_exit(2 * SECOND), Some(0));
}

#[test]
fn nothing_but_frames_reaches_stdout() {
    let world = World::new();
    let mut host = world.host_with(&[("SMARTCARD_SELFSERVICE_LOG", "trace")]);
    host.hello();
    host.request(json!({"type": "status"}));
    host.close_input();
    // Read to the end: every frame JSON, and the stream ends on a frame boundary (a stray
    // line at exit would be a torn or non-JSON frame here), and the trace log on stderr.
    while host.next(2 * SECOND).is_some() {}
    assert_eq!(
        host.stdout_end(),
        Some(Ok(())),
        "stdout carries frames only"
    );
    assert!(
        host.stderr_at_exit().contains("request"),
        "logs go to stderr"
    );
}

#[test]
fn status_and_the_events_say_the_same_of_the_service() {
    let world = World::new();
    let mut host = world.host();
    host.hello();
    let service = host.request(json!({"type": "status"}))["result"]["service"].clone();
    assert_eq!(service, service_here());
    if service == "unavailable" {
        // Under Wine the context cannot be had: the watcher says so too.
        host.expect(5 * SECOND, |f| f["event"] == "service-unavailable");
    }
}
