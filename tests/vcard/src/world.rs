//! `world up|down|status`: a private pcscd with vpcd and virtual cards that outlives the
//! command, for a shell (`eval "$(cargo xtask world up)"`) or a demo. Everything it starts is
//! recorded by process id in `world.json` and stopped by `down`.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ca::TestCa;
use crate::control;
use crate::pcscd::{alive, reader_name, terminate, Lifetime, Pcscd};

pub const STATE_FILE: &str = "world.json";
/// Where `up` keeps the CA that issues its cards, when not in the world's own folder.
pub const TEST_CA_DIR_VARIABLE: &str = "SMARTCARD_SELFSERVICE_TEST_CA_DIR";
/// The shell variable `up` exports and `down` reads.
pub const WORLD_VARIABLE: &str = "SMARTCARD_SELFSERVICE_WORLD";

/// The ready-made cards, by name, in `tests/vcard/cards/`.
pub fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cards")
}

/// A template name (`locked`) or a path to a card file.
pub fn resolve_card(name: &str) -> Result<PathBuf> {
    let path = Path::new(name);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let template = templates_dir().join(format!("{name}.toml"));
    if template.exists() {
        return Ok(template);
    }
    bail!(
        "no card '{name}': give a card file or one of {}",
        template_names().join(", ")
    )
}

pub fn template_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(templates_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldCard {
    pub slot: u8,
    pub reader: String,
    pub pid: u32,
    pub file: PathBuf,
    pub control: PathBuf,
}

/// The reference portal and its mail sink, when the world has them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldPortal {
    pub pid: u32,
    pub url: String,
    pub config: PathBuf,
    pub public_key: String,
    pub sink_pid: u32,
    pub sink_port: u16,
    /// Every message the portal sends lands here as NNNN.eml.
    pub mail_dir: PathBuf,
    /// The host's machine configuration for this world (portal origin and key).
    pub host_config: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldState {
    pub dir: PathBuf,
    pub pcscd_pid: u32,
    pub pcscd_socket: PathBuf,
    pub vpcd_port: u16,
    pub ca_certificate: PathBuf,
    pub cards: Vec<WorldCard>,
    #[serde(default)]
    pub portal: Option<WorldPortal>,
    /// The control page for a person driving the demo by hand.
    #[serde(default)]
    pub control_page: Option<WorldControlPage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldControlPage {
    pub pid: u32,
    pub url: String,
}

impl WorldState {
    /// What a shell needs to reach this world.
    pub fn exports(&self) -> String {
        let mut lines = vec![
            format!("export {WORLD_VARIABLE}={}", quote(&self.dir)),
            format!("export PCSCLITE_CSOCK_NAME={}", quote(&self.pcscd_socket)),
            format!("export VPCD_PORT={}", self.vpcd_port),
            format!(
                "export SMARTCARD_SELFSERVICE_TEST_CA={}",
                quote(&self.ca_certificate)
            ),
        ];
        for card in &self.cards {
            lines.push(format!(
                "export SMARTCARD_SELFSERVICE_VCARD_FILE_{}={}",
                card.slot,
                quote(&card.file)
            ));
            lines.push(format!(
                "export SMARTCARD_SELFSERVICE_VCARD_CONTROL_{}={}",
                card.slot,
                quote(&card.control)
            ));
        }
        if let Some(portal) = &self.portal {
            lines.push(format!(
                "export SMARTCARD_SELFSERVICE_PORTAL_URL={}",
                portal.url
            ));
            lines.push(format!(
                "export SMARTCARD_SELFSERVICE_PORTAL_CONFIG={}",
                quote(&portal.config)
            ));
            lines.push(format!(
                "export SMARTCARD_SELFSERVICE_PORTAL_PUBLIC_KEY={}",
                portal.public_key
            ));
            lines.push(format!("export SMTP_SINK_PORT={}", portal.sink_port));
            lines.push(format!("export SMTP_SINK_DIR={}", quote(&portal.mail_dir)));
            lines.push(format!(
                "export SMARTCARD_SELFSERVICE_CONFIG={}",
                quote(&portal.host_config)
            ));
        }
        if let Some(page) = &self.control_page {
            lines.push(format!("export CONTROL_PAGE_URL={}", page.url));
        }
        lines.join("\n") + "\n"
    }

    pub fn load(dir: &Path) -> Result<WorldState> {
        let text = std::fs::read_to_string(dir.join(STATE_FILE))
            .with_context(|| format!("no world in {}", dir.display()))?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// Starts pcscd and one card per `(slot, card file)`, then returns. `program` is the
/// `selfservice-vcard` binary that runs each card.
/// With `portal_program`, also starts an SMTP sink and the reference portal (test mode,
/// trusting the world's CA, the cards enrolled) and writes the host's configuration for it.
/// With `control_page`, also serves the control page on that loopback address.
/// A deliberate defect for the reference portal (test mode), from
/// `SMARTCARD_SELFSERVICE_PORTAL_TEST_DEFECT`: only the conformance suite's own test sets it.
fn portal_defect() -> String {
    match std::env::var("SMARTCARD_SELFSERVICE_PORTAL_TEST_DEFECT") {
        Ok(defect) if !defect.is_empty() => format!("test-defect = \"{defect}\"\n"),
        _ => String::new(),
    }
}

/// The variables `world up` printed (`export NAME='value'` lines), by name: what a test or a
/// tool that started a world reads back.
pub fn read_exports(printed: &str) -> std::collections::HashMap<String, String> {
    printed
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

/// Runs a prepared `selfservice-vcard world up` command (its arguments and environment set by
/// the caller) and reads back what it exported.
pub fn up_by_command(command: &mut Command) -> Result<std::collections::HashMap<String, String>> {
    let up = command
        .output()
        .context("running selfservice-vcard world up")?;
    if !up.status.success() {
        bail!("world up failed: {}", String::from_utf8_lossy(&up.stderr));
    }
    Ok(read_exports(&String::from_utf8_lossy(&up.stdout)))
}

pub fn up(
    cards: &[(u8, PathBuf)],
    program: &Path,
    portal_program: Option<&Path>,
    control_page: Option<std::net::SocketAddr>,
) -> Result<WorldState> {
    let dir = tempfile::Builder::new()
        .prefix("ssw-")
        .tempdir_in("/tmp")?
        .keep();
    match start(&dir, cards, program, portal_program, control_page) {
        Ok(state) => Ok(state),
        Err(error) => {
            let _ = down(&dir);
            let _ = std::fs::remove_dir_all(&dir);
            Err(error)
        }
    }
}

fn start(
    dir: &Path,
    cards: &[(u8, PathBuf)],
    program: &Path,
    portal_program: Option<&Path>,
    control_page: Option<std::net::SocketAddr>,
) -> Result<WorldState> {
    // A CA of the caller's (SMARTCARD_SELFSERVICE_TEST_CA_DIR), so that a portal set up once to
    // trust it trusts every world's cards (the conformance suite's `--ca-dir`); else the world's own.
    let ca_dir = std::env::var_os(TEST_CA_DIR_VARIABLE)
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("ca"));
    let ca = TestCa::load_or_create(&ca_dir)?;
    let pcscd = Pcscd::start(dir, Lifetime::Detached)?;
    let mut state = WorldState {
        dir: dir.to_path_buf(),
        pcscd_pid: pcscd.pid,
        pcscd_socket: pcscd.socket.clone(),
        vpcd_port: pcscd.port,
        ca_certificate: ca.cert_path(),
        cards: Vec::new(),
        portal: None,
        control_page: None,
    };
    let port = pcscd.port;
    pcscd.detach();
    save(&state)?;
    for (slot, template) in cards {
        if *slot > 1 {
            bail!("vpcd has two slots, 0 and 1");
        }
        let file = dir.join(format!("card{slot}.toml"));
        std::fs::copy(template, &file)
            .with_context(|| format!("copying {}", template.display()))?;
        let control = dir.join(format!("card{slot}.sock"));
        let log = std::fs::File::create(dir.join(format!("card{slot}.log")))?;
        let child = Command::new(program)
            .arg("run")
            .arg("--card")
            .arg(&file)
            .arg("--ca")
            .arg(&ca.dir)
            .arg("--port")
            .arg((port + u16::from(*slot)).to_string())
            .arg("--control")
            .arg(&control)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting selfservice-vcard run")?;
        state.cards.push(WorldCard {
            slot: *slot,
            reader: reader_name(*slot),
            pid: child.id(),
            file,
            control: control.clone(),
        });
        save(&state)?;
        wait_for_control(&control, child.id())?;
    }
    if let Some(portal_program) = portal_program {
        // Record each process as soon as it runs, so `down` stops it even if a later step fails.
        let snapshot = state.clone();
        let portal = start_portal(dir, &snapshot, program, portal_program, &mut |partial| {
            let mut recorded = snapshot.clone();
            recorded.portal = Some(partial.clone());
            save(&recorded)
        })?;
        state.portal = Some(portal);
        save(&state)?;
    }
    if let Some(listen) = control_page {
        let (pid, url) = spawn_and_wait(
            Command::new(program)
                .args(["world", "control-page", "--listen", &listen.to_string()])
                .env("PCSCLITE_CSOCK_NAME", &state.pcscd_socket)
                .arg("--dir")
                .arg(dir),
            &dir.join("control-page.log"),
            "control page on ",
        )?;
        state.control_page = Some(WorldControlPage { pid, url });
        save(&state)?;
    }
    Ok(state)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// Spawns a detached helper whose stdout goes to `log`; waits for a line starting with
/// `prefix` and returns the pid and the rest of that line.
fn spawn_and_wait(command: &mut Command, log: &Path, prefix: &str) -> Result<(u32, String)> {
    let file = std::fs::File::create(log)?;
    let child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let pid = child.id();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(rest) = text.lines().find_map(|l| l.strip_prefix(prefix)) {
            return Ok((pid, rest.trim().to_string()));
        }
        if !alive(pid) {
            bail!("{command:?} exited:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{command:?} did not start; see {}", log.display())
}

fn start_portal(
    dir: &Path,
    state: &WorldState,
    selfservice_vcard: &Path,
    program: &Path,
    record: &mut dyn FnMut(&WorldPortal) -> Result<()>,
) -> Result<WorldPortal> {
    let mail_dir = dir.join("mail");
    let (sink_pid, sink_port) = spawn_and_wait(
        Command::new(selfservice_vcard)
            .arg("smtp-sink")
            .arg("--dir")
            .arg(&mail_dir),
        &dir.join("smtp-sink.log"),
        "smtp sink on ",
    )?;
    let sink_port: u16 = sink_port.parse().context("sink port")?;
    let mut portal = WorldPortal {
        pid: 0,
        url: String::new(),
        config: dir.join("portal.toml"),
        public_key: String::new(),
        sink_pid,
        sink_port,
        mail_dir,
        host_config: dir.join("host-config.json"),
    };
    record(&portal)?;
    // SMARTCARD_SELFSERVICE_PORTAL_PORT fixes the port (the demo uses the extension's default portal).
    let port = match std::env::var("SMARTCARD_SELFSERVICE_PORTAL_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
    {
        Some(port) => port,
        None => free_port()?,
    };
    portal.url = format!("http://127.0.0.1:{port}");
    std::fs::write(
        &portal.config,
        format!(
            "listen = \"127.0.0.1:{port}\"\norigin = \"{}\"\ndata-dir = {}\ntrusted-ca = {}\ntest-mode = true\nclock = \"{}\"\ntest-transcript = {}\n{}[mail]\nmode = \"smtp\"\nhost = \"127.0.0.1\"\nport = {sink_port}\nfrom = \"smartcard.servicecentre@nhs.net\"\n",
            portal.url,
            toml_string(&dir.join("portal-data")),
            toml_string(&state.ca_certificate),
            portal_clock(),
            toml_string(&dir.join("portal-transcript.jsonl")),
            portal_defect(),
        ),
    )?;
    for card in &state.cards {
        let file = crate::card_file::CardFile::load(&card.file)?;
        // The card-management system knows the certificates it issued: the portal pins
        // their keys at enrolment.
        let keys = file.keys.as_ref().context("the card has no keys")?;
        let certificate_9a = dir.join(format!("{}-9a.pem", file.guid));
        let certificate_9e = dir.join(format!("{}-9e.pem", file.guid));
        std::fs::write(&certificate_9a, &keys.authentication_certificate)?;
        std::fs::write(&certificate_9e, &keys.card_authentication_certificate)?;
        let status = Command::new(program)
            .arg("--config")
            .arg(&portal.config)
            .args([
                "enrol",
                "--guid",
                &file.guid,
                "--holder",
                &file.holder_name,
                "--uuid",
                &file.uuid,
                "--puk",
                &file.puk,
            ])
            .arg("--certificate-9a")
            .arg(&certificate_9a)
            .arg("--certificate-9e")
            .arg(&certificate_9e)
            .args(["--email-on-file", &email_for(&file.holder_name)])
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("enrolling {} with the portal failed", file.holder_name);
        }
    }
    let (pid, _) = spawn_and_wait(
        Command::new(program)
            .arg("--config")
            .arg(&portal.config)
            .arg("serve"),
        &dir.join("portal.log"),
        "listening on ",
    )?;
    portal.pid = pid;
    record(&portal)?;
    let log = std::fs::read_to_string(dir.join("portal.log")).unwrap_or_default();
    portal.public_key = log
        .lines()
        .find_map(|l| l.strip_prefix("portal public key "))
        .unwrap_or_default()
        .trim()
        .to_string();
    std::fs::write(
        &portal.host_config,
        serde_json::json!({"portalOrigins": [portal.url], "portalPublicKey": portal.public_key})
            .to_string(),
    )?;
    Ok(portal)
}

fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// "Mrs Amina Okafor" -> "amina.okafor@nhs.net": the address on the user's contact details.
/// The portal's clock: stopped (tests move it) unless SMARTCARD_SELFSERVICE_PORTAL_CLOCK=real (the
/// demo driven by hand, where a person takes real minutes).
fn portal_clock() -> &'static str {
    match std::env::var("SMARTCARD_SELFSERVICE_PORTAL_CLOCK").as_deref() {
        Ok("real") => "real",
        _ => "stopped",
    }
}

/// The answers the test world's holders register with (and the tests unlock with).
pub fn demo_answer(question: &str) -> &'static str {
    match question {
        "mother-maiden-name" => "Adeyemi",
        "first-car" => "Vauxhall Nova",
        "childhood-phone" => "0121 496 0000",
        _ => "Biscuit",
    }
}

pub fn email_for(holder: &str) -> String {
    let titles = ["mr", "mrs", "ms", "miss", "dr", "prof"];
    let words: Vec<String> = holder
        .split_whitespace()
        .map(|w| w.to_lowercase())
        .filter(|w| !titles.contains(&w.as_str()))
        .collect();
    format!("{}@nhs.net", words.join("."))
}

fn save(state: &WorldState) -> Result<()> {
    let path = state.dir.join(STATE_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(state)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn wait_for_control(socket: &Path, pid: u32) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if control::send(socket, "status").is_ok() {
            return Ok(());
        }
        if !alive(pid) {
            bail!(
                "selfservice-vcard exited; see its log beside {}",
                socket.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("selfservice-vcard did not answer on {}", socket.display())
}

/// Stops every process the world started (cards first, then pcscd) and removes its folder.
pub fn down(dir: &Path) -> Result<()> {
    let state = WorldState::load(dir)?;
    let mut pids: Vec<u32> = state.cards.iter().map(|c| c.pid).collect();
    pids.extend(state.control_page.iter().map(|page| page.pid));
    if let Some(portal) = &state.portal {
        pids.extend(
            [portal.pid, portal.sink_pid]
                .into_iter()
                .filter(|p| *p != 0),
        );
    }
    pids.push(state.pcscd_pid);
    for pid in &pids {
        if alive(*pid) {
            terminate(*pid);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in pids.iter().filter(|p| alive(**p)) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// A human summary: processes alive, readers, each card's state.
pub fn status(dir: &Path) -> Result<String> {
    let state = WorldState::load(dir)?;
    let mark = |pid: u32| if alive(pid) { "running" } else { "NOT RUNNING" };
    let mut out = format!(
        "world {}\npcscd pid {} {} (socket {}, vpcd port {})\ntest CA {}\n",
        state.dir.display(),
        state.pcscd_pid,
        mark(state.pcscd_pid),
        state.pcscd_socket.display(),
        state.vpcd_port,
        state.ca_certificate.display(),
    );
    if let Some(portal) = &state.portal {
        out.push_str(&format!(
            "portal {} pid {} {} (config {})\nsmtp sink port {} pid {} {} (mail in {})\n",
            portal.url,
            portal.pid,
            mark(portal.pid),
            portal.config.display(),
            portal.sink_port,
            portal.sink_pid,
            mark(portal.sink_pid),
            portal.mail_dir.display()
        ));
    }
    if let Some(page) = &state.control_page {
        out.push_str(&format!(
            "control page {} pid {} {}\n",
            page.url,
            page.pid,
            mark(page.pid)
        ));
    }
    for card in &state.cards {
        out.push_str(&format!(
            "slot {} '{}': selfservice-vcard pid {} {}\n",
            card.slot,
            card.reader,
            card.pid,
            mark(card.pid)
        ));
        match control::send(&card.control, "status") {
            Ok(reply) => {
                let s = &reply["status"];
                let c = &s["card"];
                out.push_str(&format!(
                    "  {} inserted={} connected={} pin-retries-left={} puk-retries-left={} file {}\n",
                    c["holder-name"].as_str().unwrap_or("?"),
                    s["inserted"],
                    s["connected"],
                    c["pin-retries-left"],
                    c["puk-retries-left"],
                    card.file.display()
                ));
            }
            Err(error) => out.push_str(&format!("  control socket: {error:#}\n")),
        }
    }
    Ok(out)
}
