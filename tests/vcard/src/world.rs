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
/// The shell variable `up` exports and `down` reads.
pub const WORLD_VARIABLE: &str = "SELFSERVICE_WORLD";

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldState {
    pub dir: PathBuf,
    pub pcscd_pid: u32,
    pub pcscd_socket: PathBuf,
    pub vpcd_port: u16,
    pub ca_certificate: PathBuf,
    pub cards: Vec<WorldCard>,
}

impl WorldState {
    /// What a shell needs to reach this world.
    pub fn exports(&self) -> String {
        let mut lines = vec![
            format!("export {WORLD_VARIABLE}={}", quote(&self.dir)),
            format!("export PCSCLITE_CSOCK_NAME={}", quote(&self.pcscd_socket)),
            format!("export VPCD_PORT={}", self.vpcd_port),
            format!("export SELFSERVICE_TEST_CA={}", quote(&self.ca_certificate)),
        ];
        for card in &self.cards {
            lines.push(format!(
                "export VCARD_FILE_{}={}",
                card.slot,
                quote(&card.file)
            ));
            lines.push(format!(
                "export VCARD_CONTROL_{}={}",
                card.slot,
                quote(&card.control)
            ));
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
/// `virtual-card` binary that runs each card.
pub fn up(cards: &[(u8, PathBuf)], program: &Path) -> Result<WorldState> {
    let dir = tempfile::Builder::new()
        .prefix("ssw-")
        .tempdir_in("/tmp")?
        .keep();
    match start(&dir, cards, program) {
        Ok(state) => Ok(state),
        Err(error) => {
            let _ = down(&dir);
            let _ = std::fs::remove_dir_all(&dir);
            Err(error)
        }
    }
}

fn start(dir: &Path, cards: &[(u8, PathBuf)], program: &Path) -> Result<WorldState> {
    let ca = TestCa::load_or_create(&dir.join("ca"))?;
    let pcscd = Pcscd::start(dir, Lifetime::Detached)?;
    let mut state = WorldState {
        dir: dir.to_path_buf(),
        pcscd_pid: pcscd.pid,
        pcscd_socket: pcscd.socket.clone(),
        vpcd_port: pcscd.port,
        ca_certificate: ca.cert_path(),
        cards: Vec::new(),
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
            .context("starting virtual-card run")?;
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
    Ok(state)
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
                "virtual-card exited; see its log beside {}",
                socket.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("virtual-card did not answer on {}", socket.display())
}

/// Stops every process the world started (cards first, then pcscd) and removes its folder.
pub fn down(dir: &Path) -> Result<()> {
    let state = WorldState::load(dir)?;
    let mut pids: Vec<u32> = state.cards.iter().map(|c| c.pid).collect();
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
    for card in &state.cards {
        out.push_str(&format!(
            "slot {} '{}': virtual-card pid {} {}\n",
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
