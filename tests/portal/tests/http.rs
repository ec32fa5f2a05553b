//! The HTTP boundary: malformed bodies, many flows at once, the pages.

mod common;

use common::*;
use serde_json::json;

#[test]
fn malformed_oversized_and_mistyped_bodies_get_typed_errors_and_store_nothing() {
    let portal = Portal::start();
    let before = portal.audit_rows().len();
    let cases: Vec<(&[u8], &str)> = vec![
        (b"{not json", "$"),
        (b"[1,2]", "$"),
        (br#"{"purpose": 7}"#, "purpose"),
        (br#"{"purpose": "sign"}"#, "purpose"),
        (br#"{"purpose": "unlock", "debug": true}"#, "debug"),
        (br#"{}"#, "purpose"),
    ];
    for (body, field) in cases {
        let (status, reply) = portal.post_raw("/api/v1/challenges", body);
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(reply["error"]["code"], "bad-request");
        assert_eq!(
            reply["error"]["field"],
            field,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(reply["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // Refused from the declared length, before any of the body is sent.
    let (status, reply) = portal.post_expecting_continue("/api/v1/challenges", 64 * 1024);
    assert_eq!(status, 413, "{reply}");
    assert_eq!(reply["error"]["code"], "bad-request");
    // At the cap, the body is read (and refused for what it says, not for its size).
    let (status, reply) = portal.post_expecting_continue("/api/v1/challenges", 16 * 1024);
    assert_eq!(
        (status, reply["error"]["field"].clone()),
        (400, json!("pad"))
    );
    let (status, reply) = portal.post(
        "/api/v1/unlock/answers",
        &json!({"flowId": "nope", "answers": []}),
    );
    assert_eq!(
        (status, reply["error"]["code"].clone()),
        (410, json!("flow-expired"))
    );
    assert_eq!(
        portal.audit_rows().len(),
        before,
        "nothing was recorded for refused bodies"
    );
}

/// A body for the endpoint with every field present, so an added field is the only fault.
fn complete_body(path: &str) -> serde_json::Value {
    let proof = json!({"cardGuid": "3e1f2a9c4b5d6e7f8091a2b3c4d5e6f7", "certificate": "MIIB",
        "signature": "MEUC", "algorithm": "ES256"});
    match path {
        "/api/v1/challenges" => json!({"purpose": "register"}),
        "/api/v1/registration/start" | "/api/v1/unlock/start" => {
            json!({"challengeId": "c", "proof": proof})
        }
        "/api/v1/registration/questions" | "/api/v1/unlock/answers" => {
            json!({"flowId": "f", "answers": []})
        }
        "/api/v1/registration/email" => json!({"flowId": "f", "email": "a@nhs.net"}),
        "/api/v1/registration/confirm" | "/api/v1/unlock/code" => {
            json!({"flowId": "f", "code": "123456"})
        }
        "/api/v1/unlock/code/resend" => json!({"flowId": "f"}),
        "/api/v1/unlock/authorization" => {
            json!({"flowId": "f", "challengeId": "c", "proof": proof})
        }
        "/api/v1/unlock/result" => json!({"flowId": "f", "authorizationId": "a", "error": "x"}),
        other => panic!("no complete body for {other}"),
    }
}

/// The catalogue in `data/bad-bodies.json`: every endpoint, every kind of bad body.
#[test]
fn every_bad_body_in_the_catalogue_gets_its_typed_error_and_records_nothing() {
    let catalogue: serde_json::Value =
        serde_json::from_str(include_str!("data/bad-bodies.json")).expect("catalogue");
    let cases = catalogue["cases"].as_array().expect("cases");
    assert!(cases.len() >= 70, "the catalogue shrank");
    let portal = Portal::start();
    let before = portal.audit_rows().len();
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let path = case["path"].as_str().expect("path");
        let body: Vec<u8> = if let Some(text) = case["body"].as_str() {
            text.as_bytes().to_vec()
        } else if let Some(hex) = case["bodyHex"].as_str() {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect()
        } else if let Some(depth) = case["nested"].as_u64() {
            let depth = usize::try_from(depth).expect("depth");
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        } else {
            let mut body = complete_body(path);
            for (key, value) in case["extend"].as_object().expect("extend") {
                body[key] = value.clone();
            }
            body.to_string().into_bytes()
        };
        let (status, reply) = portal.post_raw(path, &body);
        let field_ok = case
            .get("field")
            .is_none_or(|field| reply["error"]["field"] == *field);
        let ok = json!(status) == case["status"]
            && reply["error"]["code"] == case["code"]
            && field_ok
            && reply["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty());
        if !ok {
            failures.push(format!("{name}: {status} {reply}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Malformed bodies record nothing; a refused card proof is itself a security event.
    let rows = portal.audit_rows();
    let recorded: Vec<&serde_json::Value> = rows[before..].iter().map(|r| &r["event"]).collect();
    let expected: Vec<&serde_json::Value> = cases
        .iter()
        .filter(|c| c.get("audited").is_some())
        .map(|c| &c["audited"])
        .collect();
    assert_eq!(recorded, expected, "{:#?}", &rows[before..]);
}

/// A mail relay that is slow to answer holds up the request that sends mail, and nothing
/// else: other people's flows go on meanwhile, and the slow one finishes when the relay
/// answers, its code usable once.
#[test]
fn a_slow_mail_relay_holds_up_only_the_request_waiting_for_it() {
    let portal = Portal::start();
    let (slow_card, other_card) = (portal.card("unlocked", None), portal.card("unlocked", None));
    let email =
        |card: &selfservice_vcard::card_file::CardFile| format!("u{}@nhs.net", &card.guid[24..]);
    let slow_flow = portal.registration_at_email_step(&slow_card);
    portal.sink.slow(true);
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            portal.post(
                "/api/v1/registration/email",
                &json!({"flowId": slow_flow, "email": email(&slow_card)}),
            )
        });
        portal.sink.wait_until_held(1);
        // While that request waits on the relay, another person gets as far as the relay.
        let other_flow = portal.registration_at_email_step(&other_card);
        assert!(other_flow.is_string());
        portal.sink.slow(false);
        let (status, reply) = waiting.join().expect("thread");
        assert_eq!(status, 200, "{reply}");
    });
    let code = portal.sink.mails()[0].code().expect("code");
    let confirm = |code: &str| {
        portal
            .post(
                "/api/v1/registration/confirm",
                &json!({"flowId": slow_flow, "code": code}),
            )
            .0
    };
    assert_eq!(confirm(&code), 200);
    assert_ne!(confirm(&code), 200, "the code works once");
}

/// The disk fills under the database: each request either completes or is refused with a
/// typed error, the portal keeps answering, and once there is room again nothing that was
/// confirmed is missing and the audit chain is whole.
#[test]
fn a_full_disk_refuses_requests_cleanly_and_loses_nothing() {
    let mut portal = Portal::start();
    let limit = portal.largest_data_file_bytes() + 256 * 1024;
    portal.restart_with_file_size_limit(limit);
    let before = portal.audit_rows().len();
    let (mut accepted, mut refused) = (0usize, 0usize);
    for _ in 0..5_000 {
        let (status, reply) = portal.post("/api/v1/challenges", &json!({"purpose": "register"}));
        match status {
            200 => accepted += 1,
            _ => {
                assert_eq!(status, 500, "{reply}");
                assert_eq!(reply["error"]["code"], "internal", "{reply}");
                assert!(reply["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()));
                refused += 1;
                if refused == 20 {
                    break;
                }
            }
        }
    }
    assert!(
        accepted > 0 && refused == 20,
        "{accepted} accepted, {refused} refused"
    );
    println!("the disk filled after {accepted} challenges; {refused} more were refused");
    // Still answering, pages and all.
    assert_eq!(portal.get("/").0, 200);
    portal.restart();
    let rows = portal.audit_rows();
    let challenges = rows[before..]
        .iter()
        .filter(|r| r["event"] == "challenge")
        .count();
    assert_eq!(
        challenges, accepted,
        "every accepted challenge is on record, and only those"
    );
    assert!(portal.command(&["audit", "--verify"]).status.success());
    let (status, _) = portal.post("/api/v1/challenges", &json!({"purpose": "register"}));
    assert_eq!(status, 200, "with room again, the portal works");
}

#[test]
fn many_flows_at_once_lose_no_audit_rows_and_accept_no_code_twice() {
    let portal = std::sync::Arc::new(Portal::start());
    // Fifty at once, as a busy Monday morning sends them; the confirms then race in pairs.
    let cards: Vec<_> = (0..50).map(|_| portal.card("unlocked", None)).collect();
    let before = portal.audit_rows().len();
    std::thread::scope(|scope| {
        for card in &cards {
            let portal = std::sync::Arc::clone(&portal);
            scope.spawn(move || {
                let flow = portal.registration_at_email_step(card);
                let (status, _) = portal.post(
                    "/api/v1/registration/email",
                    &json!({"flowId": flow, "email": format!("u{}@nhs.net", &card.guid[24..])}),
                );
                assert_eq!(status, 200);
            });
        }
    });
    // Every card got its own code; now each is confirmed by two racing requests.
    let mails = portal.sink.mails();
    assert_eq!(mails.len(), cards.len());
    let flows: Vec<(String, String)> = {
        let rows = portal.audit_rows();
        cards
            .iter()
            .map(|card| {
                let flow = rows
                    .iter()
                    .find(|r| r["event"] == "registration-start" && r["card"] == card.guid.as_str())
                    .and_then(|r| r["flow"].as_str())
                    .expect("flow audited")
                    .to_string();
                let address = format!("u{}@nhs.net", &card.guid[24..]);
                let code = mails
                    .iter()
                    .find(|m| m.to == vec![address.clone()])
                    .and_then(|m| m.code())
                    .expect("code");
                (flow, code)
            })
            .collect()
    };
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for (flow, code) in &flows {
            for _ in 0..2 {
                let portal = std::sync::Arc::clone(&portal);
                let accepted = &accepted;
                scope.spawn(move || {
                    let (status, _) = portal.post(
                        "/api/v1/registration/confirm",
                        &json!({"flowId": flow, "code": code}),
                    );
                    if status == 200 {
                        accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        }
    });
    assert_eq!(
        accepted.into_inner(),
        cards.len(),
        "each code accepted exactly once"
    );
    let rows = portal.audit_rows();
    // Per card: challenge, proof, start, questions, code sent, and the one confirm that won
    // (the loser found the flow finished and was refused before anything happened).
    assert_eq!(rows.len() - before, cards.len() * 6);
    let sequence: Vec<i64> = rows
        .iter()
        .map(|r| r["seq"].as_i64().expect("seq"))
        .collect();
    assert!(
        sequence.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap or duplicate"
    );
    assert!(portal.command(&["audit", "--verify"]).status.success());
}

#[test]
fn the_portal_pages_launch_the_extension_or_say_it_is_missing() {
    let portal = Portal::start();
    let (status, profile) = portal.get("/profile");
    assert_eq!(status, 200);
    assert!(profile.contains("Self Service") && profile.contains(">Register</button>"));
    assert!(profile.contains("smartcard-selfservice-page") && profile.contains("\"register\""));
    assert!(profile.contains("not installed in this browser. Contact your IT service desk"));
    let (_, unlock) = portal.get("/unlock");
    assert!(
        unlock.contains("Smartcard Unlock")
            && unlock.contains(">Start</button>")
            && unlock.contains("\"unlock\"")
    );
    let (status, _) = portal.get("/outbox");
    assert_eq!(status, 200);
    // The page library the pages import, served as JavaScript.
    let library = ureq::get(&format!(
        "{}/assets/smartcard-selfservice-page/index.js",
        portal.base
    ))
    .call()
    .expect("page library");
    assert_eq!(library.content_type(), "text/javascript");
    assert!(library
        .into_string()
        .unwrap_or_default()
        .contains("export async function status"));
}

#[test]
fn the_portal_pages_speak_welsh_when_asked_or_when_the_browser_prefers_it() {
    let portal = Portal::start();
    let (_, english) = portal.get("/unlock");
    assert!(english.contains(r#"<html lang="en-GB">"#) && english.contains(r#"lang="cy""#));
    let (_, welsh) = portal.get("/unlock?lang=cy");
    assert!(welsh.contains(r#"<html lang="cy">"#), "{welsh}");
    assert!(welsh.contains(">Dechrau</button>") && welsh.contains("Datgloi Cerdyn Clyfar"));
    assert!(welsh.contains("Nid yw'r estyniad Hunanwasanaeth Cerdyn Clyfar wedi'i osod"));
    assert!(!welsh.contains(">Start</button>"));
    let preferred = ureq::get(&format!("{}/profile", portal.base))
        .set("Accept-Language", "cy-GB,cy;q=0.9,en-GB;q=0.8")
        .call()
        .expect("profile")
        .into_string()
        .unwrap_or_default();
    assert!(preferred.contains(r#"<html lang="cy">"#) && preferred.contains(">Cofrestru</button>"));
    let (_, chosen) = portal.get("/profile?lang=en");
    assert!(chosen.contains(">Register</button>"));
}

#[test]
fn an_altered_audit_row_breaks_the_chain_visibly() {
    let portal = Portal::start();
    portal.card("unlocked", None);
    portal.challenge("unlock");
    assert!(portal.command(&["audit", "--verify"]).status.success());
    // Someone with write access to the database file removes the guard and edits a row.
    let db = rusqlite::Connection::open(rusqlite_path(&portal)).expect("open");
    db.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit SET outcome = 'forged' WHERE seq = 1;",
    )
    .expect("tamper");
    drop(db);
    let verify = portal.command(&["audit", "--verify"]);
    assert!(!verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains("BROKEN: row 1 does not follow"));

    // Recomputing the whole chain over the forged row does not help without the portal's key.
    let db = rusqlite::Connection::open(rusqlite_path(&portal)).expect("open");
    recompute_chain_without_the_key(&db);
    drop(db);
    let verify = portal.command(&["audit", "--verify"]);
    assert!(!verify.status.success(), "a recomputed chain was accepted");
    assert!(String::from_utf8_lossy(&verify.stdout).contains("BROKEN: row 1 does not follow"));
}

#[test]
fn audit_rows_cut_off_the_end_are_found() {
    let portal = Portal::start();
    portal.card("unlocked", None);
    portal.challenge("unlock");
    portal.challenge("register");
    assert!(portal.command(&["audit", "--verify"]).status.success());
    // The last rows removed (after the delete guard): what is left still chains.
    let db = rusqlite::Connection::open(rusqlite_path(&portal)).expect("open");
    db.execute_batch(
        "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq > (SELECT MAX(seq) - 2 FROM audit);",
    )
    .expect("truncate");
    drop(db);
    let verify = portal.command(&["audit", "--verify"]);
    assert!(!verify.status.success(), "a truncated log was accepted");
    assert!(String::from_utf8_lossy(&verify.stdout).contains("cut off the end"));
}

/// What a forger with the database but not the keys can do: chain the rows with plain SHA-256
/// over the same length-prefixed fields.
fn recompute_chain_without_the_key(db: &rusqlite::Connection) {
    use sha2::{Digest, Sha256};
    type Fields = (i64, i64, [Option<String>; 6]);
    let rows: Vec<Fields> = db
        .prepare(
            "SELECT seq, at, actor, card, flow, event, outcome, client FROM audit ORDER BY seq",
        )
        .expect("select")
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                [
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ],
            ))
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut prev = "0".repeat(64);
    for (seq, at, fields) in rows {
        let mut hasher = Sha256::new();
        let at = at.to_string();
        let all = [Some(prev.as_str()), Some(at.as_str())]
            .into_iter()
            .chain(fields.iter().map(Option::as_deref));
        for field in all {
            let bytes = field.unwrap_or("\u{0}null").as_bytes();
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        }
        let hash: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        db.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )
        .expect("rewrite");
        prev = hash;
    }
}

fn rusqlite_path(portal: &Portal) -> String {
    portal
        .dir
        .path()
        .join("data/portal.sqlite3")
        .to_string_lossy()
        .into_owned()
}
