//! A world per test: a private pcscd, virtual cards in its slots, a machine configuration
//! trusting a test portal key, and the built host driven through pipes as a browser does.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use selfservice_rules::authorization::{
    PukCandidate, SignedAuthorization, UnblockAuthorization, UnlockSecrets,
};
use selfservice_rules::secret::Secret;
use selfservice_vcard::ca::TestCa;
use selfservice_vcard::card_file::{CardFile, Quirk};
use selfservice_vcard::pcscd::{Lifetime, Pcscd};
use selfservice_vcard::runner::{prepare_card, RunningCard};
use selfservice_vcard::world::resolve_card;
use serde_json::{json, Value};

pub const PROGRAM: &str = env!("CARGO_BIN_EXE_smartcard-selfservice");

/// Set by `cargo xtask test`'s Windows stage: the tests that start the host through
/// [`host_command`] then run the Windows build under Wine (`wine64 <exe>`), so both builds
/// answer the same frames the same way.
pub const WINE_VARIABLE: &str = "SMARTCARD_SELFSERVICE_TEST_WINE";
pub const WINDOWS_EXE_VARIABLE: &str = "SMARTCARD_SELFSERVICE_TEST_WINDOWS_EXE";

/// Set by the Wine 10 stage (xtask/src/wine10.rs): the Debian 13 root whose Wine (winscard on
/// pcsc-lite) runs the Windows build, and whose pcscd each world starts; the cards stay out
/// here, on vpcd's TCP ports. [`WINDOWS_EXE_VARIABLE`] is then the exe's path inside the root.
pub const WINE10_ROOT_VARIABLE: &str = "SMARTCARD_SELFSERVICE_TEST_WINE10_ROOT";
/// The Wine prefix inside that root (made by the stage).
pub const WINE10_PREFIX: &str = "/root/wine10-prefix";

/// The Wine 10 root, when the tests run the Windows build there.
pub fn wine10_root() -> Option<PathBuf> {
    std::env::var_os(WINE10_ROOT_VARIABLE).map(PathBuf::from)
}

/// Under Wine 10, a test that cannot run there says why and returns true; the stage counts it
/// as not run (never as passed).
pub fn not_under_wine10(why: &str) -> bool {
    if wine10_root().is_some() {
        eprintln!("NOT RUN under Wine 10: {why}");
        true
    } else {
        false
    }
}

/// How the host under test is started: this build natively, or the Windows build under Wine
/// (8: `wine64 <exe>`; 10: `chroot <root> wine <exe>`).
pub fn host_command() -> Command {
    match (
        wine10_root(),
        std::env::var_os(WINE_VARIABLE),
        std::env::var_os(WINDOWS_EXE_VARIABLE),
    ) {
        (Some(root), _, Some(exe)) => {
            let mut command = Command::new("chroot");
            command
                .arg(root)
                .args(["env", "HOME=/root", "WINEDEBUG=-all"])
                .arg(format!("WINEPREFIX={WINE10_PREFIX}"))
                .arg("wine")
                .arg(exe);
            command
        }
        (None, Some(wine), Some(exe)) => {
            let mut command = Command::new(wine);
            command.arg(exe);
            command
        }
        _ => Command::new(PROGRAM),
    }
}

/// What `status` says of the PC/SC service where the host runs: here pcscd runs; Wine 8.0's
/// winscard is a stub that cannot give a context, which the host must report as unavailable.
pub fn service_here() -> &'static str {
    if std::env::var_os(WINE_VARIABLE).is_some() && wine10_root().is_none() {
        "unavailable"
    } else {
        "running"
    }
}
/// The unlock's APDUs on a locked card: SELECT, GET DATA CHUID, VERIFY status, RESET RETRY
/// COUNTER, CHANGE PIN, CHANGE PUK, VERIFY, GET DATA 9E certificate with its GET RESPONSE
/// rounds, GENERAL AUTHENTICATE (the receipt), VERIFY logout, VERIFY status. (The record of
/// attempts reads the card first only after a cut-off reset.) Each walk counts them on a clean
/// run first and checks each fault fired, so a change in this sequence fails the walks rather
/// than quietly testing less.
pub const UNLOCK_APDUS: u32 = 13;
pub const ORIGIN: &str = "https://portal.test";
pub const NONCE: &str = "q2Fy9Yk3qv5oVx1oZ0lZb1pQm9yq1S3dXr8W0vT6kYc";
pub const PORTAL_KEY: [u8; 32] = [42; 32];

pub struct World {
    pub dir: tempfile::TempDir,
    pub pcscd: Option<Pcscd>,
    pub port: u16,
    pub ca: TestCa,
    pub cards: Vec<Option<TestCard>>,
}

pub struct TestCard {
    pub running: RunningCard,
    pub path: PathBuf,
}

impl TestCard {
    pub fn file(&self) -> CardFile {
        CardFile::load(&self.path).expect("card file")
    }
}

impl World {
    pub fn new() -> World {
        let root = wine10_root();
        let dir = tempfile::Builder::new()
            .prefix("hst-")
            .tempdir_in(root.as_ref().map_or("/tmp".into(), |r| r.join("tmp")))
            .expect("dir");
        let lifetime = Lifetime::ThisProcess { remove_dir: false };
        let pcscd = match &root {
            Some(root) => Pcscd::start_in_root(root, dir.path(), lifetime),
            None => Pcscd::start(dir.path(), lifetime),
        }
        .expect("pcscd");
        let ca = TestCa::load_or_create(&dir.path().join("ca")).expect("ca");
        let config = json!({
            "portalOrigins": [ORIGIN],
            "portalPublicKey": base64::engine::general_purpose::STANDARD
                .encode(SigningKey::from_bytes(&PORTAL_KEY).verifying_key().to_bytes()),
        });
        std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config");
        World {
            port: pcscd.port,
            pcscd: Some(pcscd),
            dir,
            ca,
            cards: vec![None, None],
        }
    }

    /// A world with a fresh copy of a template card in slot 0, and a host (logging at trace,
    /// so a test can search its log for secrets) that has said hello and sees the card.
    pub fn with_card(template: &str) -> (World, Host) {
        let mut world = World::new();
        world.insert(template, 0);
        let mut host = world.host_with(&[("SMARTCARD_SELFSERVICE_LOG", "trace")]);
        host.hello();
        host.wait_for_card(0);
        (world, host)
    }

    /// Puts a fresh copy of a template card into a slot.
    pub fn insert(&mut self, template: &str, slot: u8) -> &TestCard {
        let path = self.dir.path().join(format!("slot{slot}-{template}.toml"));
        std::fs::copy(resolve_card(template).expect("template"), &path).expect("copy");
        let card = prepare_card(&path, &self.ca).expect("prepare");
        let running =
            RunningCard::start(card, Some(path.clone()), self.port + u16::from(slot), true);
        self.cards[usize::from(slot)] = Some(TestCard { running, path });
        self.card(slot)
    }

    /// Puts a template card into a slot with other PIV cards' habits, and `change` applied to
    /// its file first (for a state an earlier run left behind).
    pub fn insert_quirky(
        &mut self,
        template: &str,
        slot: u8,
        quirks: &[Quirk],
        change: impl FnOnce(&mut CardFile),
    ) -> &TestCard {
        let path = self.dir.path().join(format!("slot{slot}-{template}.toml"));
        let mut file = CardFile::load(&resolve_card(template).expect("template")).expect("load");
        file.quirks = quirks.to_vec();
        change(&mut file);
        file.save(&path).expect("save");
        let card = prepare_card(&path, &self.ca).expect("prepare");
        let running =
            RunningCard::start(card, Some(path.clone()), self.port + u16::from(slot), true);
        self.cards[usize::from(slot)] = Some(TestCard { running, path });
        self.card(slot)
    }

    /// Adds keys to the machine configuration the hosts of this world read.
    pub fn configure(&self, extra: Value) {
        let path = self.dir.path().join("config.json");
        let mut config: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("config")).expect("json");
        if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
            config.extend(extra);
        }
        std::fs::write(&path, config.to_string()).expect("config");
    }

    pub fn card(&self, slot: u8) -> &TestCard {
        self.cards[usize::from(slot)]
            .as_ref()
            .expect("a card in that slot")
    }

    pub fn stop_pcscd(&mut self) {
        if let Some(mut pcscd) = self.pcscd.take() {
            pcscd.stop();
        }
    }

    pub fn restart_pcscd(&mut self) {
        let pcscd = Pcscd::start_in(
            wine10_root().as_deref(),
            self.dir.path(),
            self.port,
            Lifetime::ThisProcess { remove_dir: false },
        )
        .expect("pcscd restarts");
        self.pcscd = Some(pcscd);
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("pcscd.comm")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("host.log")
    }

    /// Starts the host as Chromium would.
    pub fn host(&self) -> Host {
        self.host_with(&[])
    }

    /// The hosts' state folder (the record of unlock attempts).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Runs the host under test (natively or under Wine) as IT would, `doctor` for example,
    /// with this world's PC/SC service and configuration; waits for it.
    pub fn run_host(&self, args: &[&str]) -> std::process::Output {
        let mut command = host_command();
        self.machine_env(&mut command);
        command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the host runs")
    }

    /// This world's PC/SC service and machine configuration for a host command, as the host
    /// sees their paths (under Wine 10, inside its root).
    fn machine_env(&self, command: &mut Command) {
        let at = |path: &Path| selfservice_vcard::pcscd::inside(wine10_root().as_deref(), path);
        command.env("PCSCLITE_CSOCK_NAME", at(&self.socket())).env(
            "SMARTCARD_SELFSERVICE_CONFIG",
            at(&self.dir.path().join("config.json")),
        );
    }

    pub fn host_with(&self, env: &[(&str, &str)]) -> Host {
        let mut command = host_command();
        self.machine_env(&mut command);
        // Paths as the host sees them (under Wine 10, inside its root).
        let at = |path: &Path| selfservice_vcard::pcscd::inside(wine10_root().as_deref(), path);
        command
            .arg(selfservice_rules::names::chromium_extension_origin())
            .env("SMARTCARD_SELFSERVICE_STATE_DIR", at(&self.state_dir()))
            .env("SMARTCARD_SELFSERVICE_LOG_FILE", at(&self.log_path()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        Host::spawn(command)
    }

    /// The APDUs an unlock nothing interrupts sends to the card in `slot`, counted on the card
    /// (the walks check [`UNLOCK_APDUS`] against it).
    pub fn clean_unlock_apdus(&self, host: &mut Host, slot: u8) -> u64 {
        let authorization = self.authorization(host, slot, "auth-clean", "55443322");
        let card = &self.card(slot).running;
        let before = card.status().apdus;
        let reply = host.request(json!({"type": "unlock", "origin": ORIGIN,
            "authorization": authorization, "newPasscode": "860245"}));
        assert!(reply.get("result").is_some(), "{reply}");
        card.status().apdus - before
    }

    /// An authorization for the card in `slot` as the portal first issues it (the PUK the
    /// card holds now, a fresh one), sealed to `host`'s session key, signed.
    pub fn authorization(&self, host: &mut Host, slot: u8, id: &str, new_puk: &str) -> Value {
        sign_authorization(&self.unsigned_authorization(host, slot, id, new_puk))
    }

    /// As [`World::authorization`], before signing.
    pub fn unsigned_authorization(
        &self,
        host: &mut Host,
        slot: u8,
        id: &str,
        new_puk: &str,
    ) -> UnblockAuthorization {
        let puk = self.card(slot).file().puk;
        self.sealed_authorization(host, slot, id, &[("enrolled", &puk)], ("fresh", new_puk))
    }

    /// An authorization as the portal issues it on a retry: every PUK the card may hold
    /// (`puks`, as id and PUK) and the fresh one, sealed to a new proof's host key.
    pub fn sealed_authorization(
        &self,
        host: &mut Host,
        slot: u8,
        id: &str,
        puks: &[(&str, &str)],
        fresh: (&str, &str),
    ) -> UnblockAuthorization {
        let file = self.card(slot).file();
        let host_key = host_key(host, slot);
        let candidate = |(id, puk): (&str, &str)| PukCandidate {
            id: id.into(),
            puk: Secret::new(puk.into()),
        };
        let secrets = UnlockSecrets {
            puks: puks.iter().copied().map(candidate).collect(),
            fresh_puk: candidate(fresh),
            temporary_pin: Secret::new("90817263".into()),
        };
        let sealed = selfservice_rules::seal::seal(
            &host_key,
            &secrets,
            &selfservice_rules::authorization::seal_aad(id, &file.guid),
        )
        .expect("seal");
        UnblockAuthorization {
            version: 2,
            authorization_id: id.into(),
            card_guid: file.guid.clone(),
            origin: ORIGIN.into(),
            flow_id: "flow-1".into(),
            issued_at: now(),
            expires_at: now() + 300,
            host_key,
            sealed,
        }
    }
}

/// The digest a proof's signature covers, as a portal computes it: an unlock proof (with its
/// host key) or a register proof.
pub fn digest_of(proof: &Value, origin: &str, nonce: &str) -> [u8; 32] {
    use selfservice_rules::proof::ProofPurpose;
    let host_key = proof["hostKey"]
        .as_str()
        .map(|key| selfservice_rules::seal::host_key_bytes(key).expect("a 32-byte host key"));
    let purpose = if host_key.is_some() {
        ProofPurpose::Unlock
    } else {
        ProofPurpose::Register
    };
    selfservice_rules::proof::proof_digest(origin, nonce, purpose, host_key.as_ref())
}

/// This host session's unlock key, from an unlock proof of the card in `slot`.
pub fn host_key(host: &mut Host, slot: u8) -> String {
    let reply = host.request(json!({"type": "prove-possession", "purpose": "unlock",
        "origin": ORIGIN, "nonce": NONCE, "reader": format!("Virtual PCD 00 {slot:02}"),
        "waitForCardMs": 20000}));
    reply["result"]["hostKey"]
        .as_str()
        .unwrap_or_else(|| panic!("an unlock proof: {reply}"))
        .to_string()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn sign_authorization(authorization: &UnblockAuthorization) -> Value {
    sign_with(&SigningKey::from_bytes(&PORTAL_KEY), authorization)
}

pub fn sign_with(key: &SigningKey, authorization: &UnblockAuthorization) -> Value {
    let payload = serde_json::to_vec(authorization).expect("json");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    serde_json::to_value(SignedAuthorization {
        payload: b64.encode(&payload),
        signature: b64.encode(key.sign(&payload).to_bytes()),
    })
    .expect("json")
}

/// The host process and its pipes, as a browser holds them.
pub struct Host {
    pub child: Child,
    stdin: Option<ChildStdin>,
    frames: Receiver<Option<Value>>,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    /// Frames read but not yet asked for (events while waiting for a reply, and so on).
    backlog: Vec<Value>,
    pub next_id: u32,
    /// How stdout ended, once it has: `Ok` at a frame boundary, else what was wrong.
    stdout_end: std::sync::Arc<std::sync::Mutex<Option<Result<(), String>>>>,
}

/// Reads one frame: `Ok(None)` at the end of the stream on a frame boundary; `Err` for a
/// stream torn inside a frame or a frame that is not JSON (anything but frames on stdout).
fn read_frame_from(stdout: &mut impl Read) -> Result<Option<Value>, String> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match stdout.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(format!("stdout ended {got} bytes into a frame header")),
            Ok(n) => got += n,
            Err(error) => return Err(format!("stdout: {error}")),
        }
    }
    let mut body = vec![0u8; u32::from_ne_bytes(header) as usize];
    stdout
        .read_exact(&mut body)
        .map_err(|e| format!("stdout ended inside a frame of {} bytes: {e}", body.len()))?;
    serde_json::from_slice(&body).map(Some).map_err(|e| {
        format!(
            "a frame that is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })
}

impl Host {
    pub fn spawn(mut command: Command) -> Host {
        let mut child = command.spawn().expect("host starts");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let (sender, frames) = std::sync::mpsc::channel();
        let stdout_end = std::sync::Arc::new(std::sync::Mutex::new(None));
        let end = std::sync::Arc::clone(&stdout_end);
        std::thread::spawn(move || loop {
            match read_frame_from(&mut stdout) {
                Ok(Some(value)) => {
                    if sender.send(Some(value)).is_err() {
                        return;
                    }
                }
                outcome => {
                    if let Ok(mut end) = end.lock() {
                        *end = Some(outcome.map(|_| ()));
                    }
                    let _ = sender.send(None);
                    return;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            if let Ok(mut s) = sink.lock() {
                s.push_str(&text);
            }
        });
        Host {
            child,
            stdin,
            frames,
            stderr,
            stderr_reader: Some(stderr_reader),
            backlog: Vec::new(),
            next_id: 1,
            stdout_end,
        }
    }

    /// How stdout ended: `None` while it is open; `Ok` at a frame boundary; else what reached
    /// stdout that was not a whole frame.
    pub fn stdout_end(&self) -> Option<Result<(), String>> {
        self.stdout_end.lock().ok().and_then(|end| end.clone())
    }

    pub fn write_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write");
        stdin.flush().expect("flush");
    }

    pub fn send_frame(&mut self, body: &[u8]) {
        let mut frame = (body.len() as u32).to_ne_bytes().to_vec();
        frame.extend_from_slice(body);
        self.write_raw(&frame);
    }

    pub fn close_input(&mut self) {
        self.stdin.take();
    }

    /// The next frame, or None when the host closed stdout.
    pub fn next(&mut self, timeout: Duration) -> Option<Value> {
        if !self.backlog.is_empty() {
            return Some(self.backlog.remove(0));
        }
        match self.frames.recv_timeout(timeout) {
            Ok(frame) => frame,
            Err(RecvTimeoutError::Timeout) => panic!("no frame from the host within {timeout:?}"),
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// The first frame matching `wanted`, keeping the others for later.
    pub fn expect(&mut self, timeout: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        if let Some(i) = self.backlog.iter().position(&wanted) {
            return self.backlog.remove(i);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(Some(frame)) if wanted(&frame) => return frame,
                Ok(Some(frame)) => self.backlog.push(frame),
                Ok(None) => panic!("the host closed stdout; stderr:\n{}", self.stderr_text()),
                Err(_) => panic!(
                    "no matching frame within {timeout:?}; kept: {:?}",
                    self.backlog
                ),
            }
        }
    }

    /// A frame already received that matches `wanted`, without waiting for more.
    pub fn take_kept(&mut self, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        while let Ok(Some(frame)) = self.frames.try_recv() {
            self.backlog.push(frame);
        }
        let i = self.backlog.iter().position(wanted)?;
        Some(self.backlog.remove(i))
    }

    pub fn hello(&mut self) -> Value {
        self.expect(Duration::from_secs(5), |f| f["type"] == "hello")
    }

    /// Sends a request with a fresh id and returns its reply.
    pub fn request(&mut self, mut request: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        self.send_frame(request.to_string().as_bytes());
        self.reply(id)
    }

    pub fn send(&mut self, mut request: Value) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        self.send_frame(request.to_string().as_bytes());
        id
    }

    pub fn reply(&mut self, id: u32) -> Value {
        self.expect(Duration::from_secs(20), |f| f["id"] == json!(id))
    }

    /// Polls `status` until `ready` holds (the card is seen at pcscd's next 400 ms poll).
    pub fn status_until(&mut self, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = self.request(json!({"type": "status"}));
            if ready(&reply["result"]) {
                return reply["result"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "status never became ready: {reply}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for_card(&mut self, slot: u8) -> Value {
        let reader = format!("Virtual PCD 00 {slot:02}");
        self.status_until(|s| {
            s["readers"].as_array().is_some_and(|r| {
                r.iter()
                    .any(|r| r["name"] == reader.as_str() && r.get("card").is_some())
            })
        })
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Everything the host wrote to stderr, once it has exited and closed it.
    pub fn stderr_at_exit(&mut self) -> String {
        self.close_input();
        self.wait_exit(Duration::from_secs(5));
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr_text()
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stdin.take();
        if self.wait_exit(Duration::from_secs(3)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
