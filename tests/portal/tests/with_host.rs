//! Both journeys with every real part but the browser: the host (over the real pcscd and the
//! virtual card) and the portal (over HTTP, with real SMTP into the world's sink), talking
//! through the same messages the extension carries. Needs the `virtual-card` and
//! `smartcard-selfservice` binaries beside this package's (`cargo test --workspace` builds them).

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn sibling(name: &str) -> PathBuf {
    let program = PathBuf::from(env!("CARGO_BIN_EXE_selfservice-portal")).with_file_name(name);
    assert!(
        program.exists(),
        "build {name} first (cargo build --workspace)"
    );
    program
}

struct World {
    vars: HashMap<String, String>,
}

impl World {
    fn up() -> World {
        let up = Command::new(sibling("virtual-card"))
            .args(["world", "up", "--slot0", "unlocked"])
            .output()
            .expect("world up");
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        let vars = String::from_utf8_lossy(&up.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        World { vars }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.vars["PORTAL_URL"])
    }

    fn post(&self, path: &str, body: Value) -> Value {
        match ureq::post(&self.url(path)).send_json(body) {
            Ok(r) => r.into_json().expect("json"),
            Err(ureq::Error::Status(status, r)) => {
                panic!("{path}: {status} {}", r.into_string().unwrap_or_default())
            }
            Err(e) => panic!("{path}: {e}"),
        }
    }

    /// The code in the newest message of the world's mail sink, waiting for message `n`.
    fn code(&self, n: usize) -> String {
        let path = PathBuf::from(&self.vars["SMTP_SINK_DIR"]).join(format!("{n:04}.eml"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !path.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let mail = virtual_card::smtp_sink::Mail {
            from: String::new(),
            to: Vec::new(),
            data: std::fs::read_to_string(&path).expect("mail"),
        };
        mail.code().expect("code in the mail")
    }

    fn card_file(&self) -> virtual_card::card_file::CardFile {
        virtual_card::card_file::CardFile::load(&PathBuf::from(&self.vars["VCARD_FILE_0"]))
            .expect("card")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = Command::new(sibling("virtual-card"))
            .args(["world", "down", "--dir", &self.vars["SELFSERVICE_WORLD"]])
            .status();
    }
}

struct Host {
    child: Child,
    next: u32,
}

impl Host {
    fn start(world: &World, state: &std::path::Path) -> Host {
        let mut child = Command::new(sibling("smartcard-selfservice"))
            .arg(selfservice_rules::names::chromium_extension_origin())
            .env("PCSCLITE_CSOCK_NAME", &world.vars["PCSCLITE_CSOCK_NAME"])
            .env(
                "SMARTCARD_SELFSERVICE_CONFIG",
                &world.vars["SMARTCARD_SELFSERVICE_CONFIG"],
            )
            .env("SMARTCARD_SELFSERVICE_STATE_DIR", state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("host");
        let hello = read_frame(&mut child);
        assert_eq!(hello["type"], "hello");
        Host { child, next: 1 }
    }

    /// Sends a request and returns its reply, skipping events.
    fn request(&mut self, mut request: Value) -> Value {
        let id = self.next;
        self.next += 1;
        request["id"] = json!(id);
        let body = request.to_string();
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(&(body.len() as u32).to_ne_bytes())
            .expect("write");
        stdin.write_all(body.as_bytes()).expect("write");
        stdin.flush().expect("flush");
        loop {
            let frame = read_frame(&mut self.child);
            if frame["id"] == json!(id) {
                return frame;
            }
        }
    }

    fn result(&mut self, request: Value) -> Value {
        let reply = self.request(request);
        assert!(reply.get("result").is_some(), "{reply}");
        reply["result"].clone()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.child.stdin.take();
        let _ = self.child.wait();
    }
}

fn read_frame(child: &mut Child) -> Value {
    let stdout = child.stdout.as_mut().expect("stdout");
    let mut header = [0u8; 4];
    stdout.read_exact(&mut header).expect("frame header");
    let mut body = vec![0u8; u32::from_ne_bytes(header) as usize];
    stdout.read_exact(&mut body).expect("frame body");
    serde_json::from_slice(&body).expect("json")
}

fn proof(host: &mut Host, world: &World, purpose: &str, passcode: Option<&str>) -> (Value, Value) {
    let challenge = world.post("/api/v1/challenges", json!({"purpose": purpose}));
    let mut request = json!({
        "type": "prove-possession", "purpose": purpose, "origin": world.vars["PORTAL_URL"],
        "nonce": challenge["nonce"], "waitForCardMs": 5000
    });
    if let Some(passcode) = passcode {
        request["passcode"] = json!(passcode);
    }
    (challenge, host.result(request))
}

#[test]
fn a_nurse_registers_locks_her_card_and_unlocks_it_with_the_host_and_the_portal() {
    let world = World::up();
    let state = tempfile::tempdir().expect("state");
    let mut host = Host::start(&world, state.path());
    let origin = world.vars["PORTAL_URL"].clone();

    // Register: passcode proof with 9A, questions, email, code.
    let (challenge, card_proof) = proof(&mut host, &world, "register", Some("583920"));
    let started = world.post(
        "/api/v1/registration/start",
        json!({"challengeId": challenge["challengeId"], "proof": card_proof}),
    );
    assert_eq!(started["holderName"], "Mrs Amina Okafor");
    assert_eq!(started["emailOnFile"], "amina.okafor@nhs.net");
    let flow = started["flowId"].clone();
    world.post(
        "/api/v1/registration/questions",
        json!({"flowId": flow, "answers": [
            {"questionId": "mother-maiden-name", "answer": "Adeyemi"},
            {"questionId": "first-car", "answer": "Vauxhall Nova"},
            {"questionId": "childhood-phone", "answer": "0121 496 0000"},
            {"questionId": "first-pet", "answer": "Biscuit"}
        ]}),
    );
    world.post(
        "/api/v1/registration/email",
        json!({"flowId": flow, "email": started["emailOnFile"]}),
    );
    let done = world.post(
        "/api/v1/registration/confirm",
        json!({"flowId": flow, "code": world.code(1)}),
    );
    assert_eq!(done["message"], "Self Service Registration is complete.");

    // Three wrong passcodes lock the card.
    for _ in 0..3 {
        host.request(
            json!({"type": "prove-possession", "purpose": "register", "origin": origin,
            "nonce": "q2Fy9Yk3qv5oVx1oZ0lZb1pQm9yq1S3dXr8W0vT6kYc", "passcode": "000000"}),
        );
    }
    assert_eq!(world.card_file().pin_retries_left, 0);

    // Unlock: 9E proof, the questions, the emailed code, the signed authorization, the card.
    let (challenge, card_proof) = proof(&mut host, &world, "unlock", None);
    let started = world.post(
        "/api/v1/unlock/start",
        json!({"challengeId": challenge["challengeId"], "proof": card_proof}),
    );
    let answers: Vec<Value> = started["questionIds"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| {
            let answer = match id.as_str().unwrap_or_default() {
                "mother-maiden-name" => "adeyemi",
                "first-car" => "VAUXHALL NOVA",
                "childhood-phone" => "(0121) 496-0000",
                _ => "Biscuit",
            };
            json!({"questionId": id, "answer": answer})
        })
        .collect();
    let flow = started["flowId"].clone();
    world.post(
        "/api/v1/unlock/answers",
        json!({"flowId": flow, "answers": answers}),
    );
    world.post(
        "/api/v1/unlock/code",
        json!({"flowId": flow, "code": world.code(2)}),
    );
    let issued = world.post("/api/v1/unlock/authorization", json!({"flowId": flow}));
    let unlocked = host.result(json!({"type": "unlock", "origin": origin, "authorization": issued["authorization"], "newPasscode": "860245"}));
    assert_eq!(
        unlocked["state"],
        json!({"unblocked": true, "passcodeSet": true, "pukRotated": true})
    );
    world.post(
        "/api/v1/unlock/result",
        json!({"flowId": flow, "authorizationId": issued["authorizationId"], "state": unlocked["state"]}),
    );

    // The card holds the new passcode and the portal's fresh PUK; the notification was sent.
    let card = world.card_file();
    assert_eq!((card.pin.as_str(), card.pin_retries_left), ("860245", 3));
    let config = selfservice_portal::config::PortalConfig::load(Some(&PathBuf::from(
        &world.vars["PORTAL_CONFIG"],
    )))
    .expect("config");
    let (portal_puk, pending) =
        selfservice_portal::ops::stored_puk(&config, &card.guid).expect("puk");
    assert_eq!((portal_puk, pending), (card.puk.clone(), None));
    assert_ne!(card.puk, "73419265", "the PUK rotated");
    let notice =
        std::fs::read_to_string(PathBuf::from(&world.vars["SMTP_SINK_DIR"]).join("0003.eml"))
            .expect("notice");
    assert!(notice.contains("Your Smartcard has been unlocked"));
    let verify = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_selfservice-portal")))
        .args([
            "--config",
            &world.vars["PORTAL_CONFIG"],
            "audit",
            "--verify",
        ])
        .output()
        .expect("audit");
    assert!(verify.status.success());
}
