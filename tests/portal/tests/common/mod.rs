//! A portal per test: the built binary serving on a free loopback port, in test mode, trusting
//! a fresh test CA, delivering mail over SMTP to a loopback sink. Cards come from the virtual
//! card's files; their proofs are signed with the card keys (the real card path is covered by
//! the host's and the end-to-end tests).
#![allow(dead_code)]

use base64::Engine;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use selfservice_vcard::ca::TestCa;
use selfservice_vcard::card_file::CardFile;
use selfservice_vcard::piv::pem_to_der;
use selfservice_vcard::smtp_sink::{Mail, SmtpSink};
use selfservice_vcard::world::resolve_card;
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PROGRAM: &str = env!("CARGO_BIN_EXE_selfservice-portal");

pub use selfservice_rules::seal::HostKeyPair;

/// A card key signs: `purpose` "register" with 9A, otherwise 9E; an unlock proof carries the
/// host key.
pub fn proof_with(
    card: &CardFile,
    purpose: &str,
    origin: &str,
    nonce: &str,
    host: Option<&HostKeyPair>,
) -> Value {
    use selfservice_rules::proof::ProofPurpose;
    let keys = card.keys.as_ref().expect("keys");
    let (key, cert, purpose) = match purpose {
        "register" => (
            &keys.authentication_key,
            &keys.authentication_certificate,
            ProofPurpose::Register,
        ),
        _ => (
            &keys.card_authentication_key,
            &keys.card_authentication_certificate,
            ProofPurpose::Unlock,
        ),
    };
    let host_key = host.map(HostKeyPair::public_bytes);
    let digest = selfservice_rules::proof::proof_digest(origin, nonce, purpose, host_key.as_ref());
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut proof = json!({
        "cardGuid": card.guid,
        "certificate": b64.encode(pem_to_der(cert).expect("der")),
        "signature": b64.encode(sign_with(key, &digest)),
        "algorithm": "ES256",
    });
    if let Some(host) = host {
        proof["hostKey"] = json!(host.public_base64());
    }
    proof
}

/// A DER ECDSA signature over a prehashed digest with a PKCS#8 PEM key.
pub fn sign_with(key_pem: &str, digest: &[u8; 32]) -> Vec<u8> {
    let key = SigningKey::from_pkcs8_pem(key_pem).expect("key");
    let signature: DerSignature = key.sign_prehash(digest).expect("sign");
    signature.as_bytes().to_vec()
}

/// The payload bytes of a signed authorization as the portal returned it.
pub fn payload_bytes(signed: &Value) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signed["payload"].as_str().expect("payload"))
        .expect("b64")
}

/// A receipt as the card would sign it (9E) for an authorization, saying it holds `puk_id`.
pub fn receipt(card: &CardFile, signed: &Value, puk_id: &str) -> Value {
    let payload: Value = serde_json::from_slice(&payload_bytes(signed)).expect("json");
    let outcome = json!({
        "authorizationId": payload["authorizationId"],
        "cardGuid": card.guid,
        "pukId": puk_id,
        "passcodeSet": true,
    })
    .to_string();
    let digest = selfservice_rules::authorization::receipt_digest(
        &selfservice_rules::authorization::payload_hash(&payload_bytes(signed)),
        outcome.as_bytes(),
    );
    let keys = card.keys.as_ref().expect("keys");
    json!({
        "outcome": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(outcome),
        "signature": base64::engine::general_purpose::STANDARD
            .encode(sign_with(&keys.card_authentication_key, &digest)),
        "algorithm": "ES256",
    })
}
pub const ORIGIN: &str = "https://portal.test";

pub struct Portal {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub base: String,
    pub sink: SmtpSink,
    pub config: PathBuf,
    pub public_key: String,
    pub ca: TestCa,
}

impl Portal {
    pub fn start() -> Portal {
        Self::start_with(true)
    }

    pub fn start_with(test_mode: bool) -> Portal {
        let dir = tempfile::tempdir().expect("dir");
        let ca = TestCa::load_or_create(&dir.path().join("ca")).expect("ca");
        let sink = SmtpSink::start().expect("smtp sink");
        let config = dir.path().join("portal.toml");
        std::fs::write(
            &config,
            format!(
                r#"listen = "127.0.0.1:0"
origin = "{ORIGIN}"
data-dir = "{data}"
trusted-ca = "{ca}"
test-mode = {test_mode}
clock = "{clock}"
ra-contact = "Call the RA team on 0300 123 4567."
[mail]
mode = "smtp"
host = "127.0.0.1"
port = {port}
from = "smartcard.servicecentre@nhs.net"
"#,
                data = dir.path().join("data").display(),
                ca = ca.cert_path().display(),
                port = sink.port,
                clock = if test_mode { "stopped" } else { "real" },
            ),
        )
        .expect("config");
        let (child, address, public_key) = spawn(&config);
        Portal {
            dir,
            child,
            base: format!("http://{address}"),
            sink,
            config,
            public_key,
            ca,
        }
    }

    /// Stops the portal process and starts it again on the same configuration and data, as a
    /// deployment or a crash would (the address may change).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, address, _) = spawn(&self.config);
        self.child = child;
        self.base = format!("http://{address}");
    }

    /// Restarts the portal with no file it writes allowed to grow past `bytes` (RLIMIT_FSIZE,
    /// with SIGXFSZ ignored so writes fail with EFBIG instead of killing it): to SQLite, the
    /// same as a full disk.
    pub fn restart_with_file_size_limit(&mut self, bytes: u64) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let blocks = bytes.div_ceil(512);
        let (child, address, _) = spawn_with(
            Command::new("sh").args([
                "-c",
                &format!("trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""),
                PROGRAM,
            ]),
            &self.config,
        );
        self.child = child;
        self.base = format!("http://{address}");
    }

    /// The largest file in the portal's data folder now (the database, its write-ahead log,
    /// the transcript in test mode).
    pub fn largest_data_file_bytes(&self) -> u64 {
        std::fs::read_dir(self.dir.path().join("data"))
            .expect("data dir")
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0)
    }

    /// Runs an operator command against this portal's configuration.
    pub fn command(&self, args: &[&str]) -> std::process::Output {
        Command::new(PROGRAM)
            .args(["--config", &self.config.to_string_lossy()])
            .args(args)
            .output()
            .expect("runs")
    }

    /// A fresh card from a template, keys issued, enrolled with the portal.
    pub fn card(&self, template: &str, email_on_file: Option<&str>) -> CardFile {
        let path = self.dir.path().join(format!(
            "{template}-{}.toml",
            self.dir.path().read_dir().map(|d| d.count()).unwrap_or(0)
        ));
        // Each copy is a different card: its own GUID and holder number.
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let text =
            std::fs::read_to_string(resolve_card(template).expect("template")).expect("read");
        let text: String = text
            .lines()
            .map(|line| {
                if line.starts_with("guid = ") {
                    format!("guid = \"{:032x}\"", unique)
                } else if line.starts_with("uuid = ") {
                    format!("uuid = \"{:012}\"", unique % 1_000_000_000_000)
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, text).expect("write card");
        let card = selfservice_vcard::runner::prepare_card(&path, &self.ca)
            .expect("prepare")
            .file;
        let keys = card.keys.as_ref().expect("keys");
        let certificate_9a = path.with_extension("9a.pem");
        let certificate_9e = path.with_extension("9e.pem");
        std::fs::write(&certificate_9a, &keys.authentication_certificate).expect("write");
        std::fs::write(&certificate_9e, &keys.card_authentication_certificate).expect("write");
        let (certificate_9a, certificate_9e) = (
            certificate_9a.to_string_lossy().into_owned(),
            certificate_9e.to_string_lossy().into_owned(),
        );
        let mut args = vec![
            "enrol",
            "--certificate-9a",
            &certificate_9a,
            "--certificate-9e",
            &certificate_9e,
            "--guid",
            &card.guid,
            "--holder",
            &card.holder_name,
            "--uuid",
            &card.uuid,
            "--puk",
            &card.puk,
        ];
        if let Some(email) = email_on_file {
            args.extend(["--email-on-file", email]);
        }
        let output = self.command(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        card
    }

    /// POST a JSON body; returns (status, body).
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, body.to_string().as_bytes())
    }

    pub fn post_raw(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let response = ureq::post(&format!("{}{path}", self.base))
            .set("Content-Type", "application/json")
            .timeout(Duration::from_secs(30))
            .send_bytes(body);
        let response = match response {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("request failed: {e}"),
        };
        let status = response.status();
        let text = response.into_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A POST of `length` bytes sent as a careful client sends a big body: the headers with
    /// `Expect: 100-continue`, then the body only once the portal says continue. Over plain
    /// TCP, so the answer is read whatever the portal does with the connection afterwards.
    pub fn post_expecting_continue(&self, path: &str, length: usize) -> (u16, Value) {
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connect to the portal");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("send the headers");
        let mut reply = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&reply).to_string();
            if text.starts_with("HTTP/1.1 100") {
                if let Some(end) = text.find("\r\n\r\n") {
                    // Told to continue: send the body as promised.
                    reply.drain(..end + 4);
                    let body = format!(r#"{{"pad": "{}"}}"#, "x".repeat(length - 11));
                    stream.write_all(body.as_bytes()).expect("send the body");
                    continue;
                }
            } else if let Some(end) = text.find("\r\n\r\n") {
                let status: u16 = text[9..12].parse().expect("a status code");
                let declared = text[..end]
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .expect("the answer declares its length");
                if reply.len() >= end + 4 + declared {
                    let body = &reply[end + 4..end + 4 + declared];
                    return (status, serde_json::from_slice(body).expect("a JSON answer"));
                }
            }
            let read = stream.read(&mut buffer).expect("read the answer");
            assert!(read > 0, "the portal closed without answering: {text}");
            reply.extend_from_slice(&buffer[..read]);
        }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        match ureq::get(&format!("{}{path}", self.base)).call() {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
            Err(e) => panic!("{e}"),
        }
    }

    pub fn advance_clock(&self, seconds: i64) {
        let (status, _) = self.post("/api/v1/test/clock", &json!({"advanceSeconds": seconds}));
        assert_eq!(status, 200);
    }

    pub fn challenge(&self, purpose: &str) -> Value {
        let (status, body) = self.post("/api/v1/challenges", &json!({"purpose": purpose}));
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The card's proof for a challenge: 9A for register, 9E for unlock (with a throwaway
    /// host key).
    pub fn proof(&self, card: &CardFile, purpose: &str, origin: &str, nonce: &str) -> Value {
        let host = HostKeyPair::generate();
        proof_with(
            card,
            purpose,
            origin,
            nonce,
            (purpose == "unlock").then_some(&host),
        )
    }

    /// A fresh unlock proof with a host key, and the authorization asked for with it.
    pub fn authorize(&self, card: &CardFile, flow: &Value) -> (u16, Value, HostKeyPair) {
        let host = HostKeyPair::generate();
        let challenge = self.challenge("unlock");
        let nonce = challenge["nonce"].as_str().expect("nonce");
        let proof = proof_with(card, "unlock", ORIGIN, nonce, Some(&host));
        let (status, body) = self.post(
            "/api/v1/unlock/authorization",
            &json!({"flowId": flow, "challengeId": challenge["challengeId"], "proof": proof}),
        );
        (status, body, host)
    }

    /// Challenge + proof + start, for a journey.
    /// A registration started for the card and its questions answered: the flow id, at the
    /// email step.
    pub fn registration_at_email_step(&self, card: &CardFile) -> Value {
        let (status, flow) = self.start_flow(card, "registration");
        assert_eq!(status, 200, "{flow}");
        let flow = flow["flowId"].clone();
        let (status, reply) = self.post(
            "/api/v1/registration/questions",
            &json!({"flowId": flow, "answers": answers()}),
        );
        assert_eq!(status, 200, "{reply}");
        flow
    }

    pub fn start_flow(&self, card: &CardFile, journey: &str) -> (u16, Value) {
        let purpose = if journey == "registration" {
            "register"
        } else {
            "unlock"
        };
        let challenge = self.challenge(purpose);
        let proof = self.proof(
            card,
            purpose,
            ORIGIN,
            challenge["nonce"].as_str().expect("nonce"),
        );
        self.post(
            &format!("/api/v1/{journey}/start"),
            &json!({"challengeId": challenge["challengeId"], "proof": proof}),
        )
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.sink.mails()
    }

    /// The newest mail, waiting for the `n`th to arrive.
    pub fn mail(&self, n: usize) -> Mail {
        self.sink
            .wait_for(n, Duration::from_secs(10))
            .expect("mail arrived")
    }

    /// Registers a card with four answers and the given email, through the API.
    pub fn register(&self, card: &CardFile, email: &str) {
        let (status, started) = self.start_flow(card, "registration");
        assert_eq!(status, 200, "{started}");
        let flow = started["flowId"].clone();
        let (status, body) = self.post(
            "/api/v1/registration/questions",
            &json!({"flowId": flow, "answers": answers()}),
        );
        assert_eq!(status, 200, "{body}");
        let before = self.mails().len();
        let (status, body) = self.post(
            "/api/v1/registration/email",
            &json!({"flowId": flow, "email": email}),
        );
        assert_eq!(status, 200, "{body}");
        let code = self.mail(before + 1).code().expect("code in mail");
        let (status, body) = self.post(
            "/api/v1/registration/confirm",
            &json!({"flowId": flow, "code": code}),
        );
        assert_eq!(status, 200, "{body}");
    }

    pub fn audit_rows(&self) -> Vec<Value> {
        let output = self.command(&["audit"]);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the portal on a configuration; returns it, its address and its public key (the
/// two lines it prints once listening; both are read so its stdout never closes early).
fn spawn(config: &std::path::Path) -> (Child, String, String) {
    spawn_with(&mut Command::new(PROGRAM), config)
}

fn spawn_with(command: &mut Command, config: &std::path::Path) -> (Child, String, String) {
    let mut child = command
        .args(["--config", &config.to_string_lossy(), "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("portal starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let address = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("listening on ").map(str::to_string))
        .expect("listening line");
    let public_key = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("portal public key ").map(str::to_string))
        .expect("public key line");
    (child, address, public_key)
}

pub fn answers() -> Value {
    json!([
        {"questionId": "mother-maiden-name", "answer": "Adeyemi"},
        {"questionId": "first-car", "answer": "Vauxhall Nova"},
        {"questionId": "childhood-phone", "answer": "(0121) 496 0000"},
        {"questionId": "first-pet", "answer": "Biscuit"}
    ])
}

/// The right answer to each registered question, typed a little differently.
pub fn right_answer(question: &str) -> &'static str {
    match question {
        "mother-maiden-name" => "  ADEYEMI ",
        "first-car" => "vauxhall  nova",
        "childhood-phone" => "0121 4960000",
        "first-pet" => "biscuit",
        _ => "unknown",
    }
}

pub fn answer_all(ids: &Value, right: bool) -> Value {
    Value::Array(
        ids.as_array()
            .expect("ids")
            .iter()
            .map(|id| {
                let id = id.as_str().expect("id");
                json!({"questionId": id, "answer": if right { right_answer(id) } else { "wrong answer" }})
            })
            .collect(),
    )
}
