//! A private pcscd with the vpcd reader driver: its own socket, its own reader configuration
//! and its own vpcd port pair, so tests run side by side and never touch a system pcscd.
//!
//! pcscd 1.9.9 ignores PCSCLITE_CSOCK_NAME (only clients read it), so it is started with
//! systemd socket activation: we bind the socket, pass it as fd 3 with LISTEN_FDS/LISTEN_PID,
//! and clients use PCSCLITE_CSOCK_NAME.

use anyhow::{bail, Context, Result};
use command_fds::{CommandFdExt, FdMapping};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The reader names pcscd gives vpcd's two slots.
pub fn reader_name(slot: u8) -> String {
    format!("Virtual PCD 00 {slot:02}")
}

/// How long pcscd lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Until the [`Pcscd`] is dropped or this process exits, however it exits: a small shell
    /// keeps a pipe from us open and stops pcscd when it closes (tests keep their pcscd in a
    /// static, which Rust never drops).
    /// With `remove_dir`, the folder is removed afterwards too.
    ThisProcess { remove_dir: bool },
    /// Until stopped by process id (`world down`).
    Detached,
}

/// Runs pcscd with the socket on fd 3 and LISTEN_PID set to pcscd's own pid ($$ survives exec).
const LAUNCH: &str = "LISTEN_PID=$$ LISTEN_FDS=1 exec pcscd --foreground --info --config \"$0\"";

/// The lifeline: start pcscd in the background, record its pid, wait for our pipe to close,
/// then stop it (TERM, and KILL after 5 s).
const LIFELINE: &str = r#"conf="$0"; pidfile="$1"  # $2: a folder to remove at the end, or empty
sh -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec pcscd --foreground --info --config "$0"' "$conf" &
pid=$!
echo "$pid" > "$pidfile"
exec 3<&-
while read -r _; do :; done
kill -TERM "$pid" 2>/dev/null
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ -n "$2" ] && rm -rf "$2"
"#;

/// A running private pcscd.
pub struct Pcscd {
    child: Option<Child>,
    /// pcscd's own process id.
    pub pid: u32,
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// vpcd's slot 0 listens here, slot 1 on `port + 1`.
    pub port: u16,
    /// The root file system pcscd runs in (`chroot`), if not this one's.
    pub root: Option<PathBuf>,
}

/// A path under `root` as a process chrooted there sees it.
pub fn inside(root: Option<&Path>, path: &Path) -> PathBuf {
    match root.and_then(|root| path.strip_prefix(root).ok()) {
        Some(rest) => Path::new("/").join(rest),
        None => path.to_path_buf(),
    }
}

impl Pcscd {
    /// Starts pcscd in `dir` (keep the path short: the socket path must fit in 107 bytes).
    pub fn start(dir: &Path, lifetime: Lifetime) -> Result<Pcscd> {
        // Another process may take the ports between the check and pcscd binding them:
        // try a few pairs.
        let mut last = None;
        for _ in 0..5 {
            match Self::start_on(dir, free_port_pair()?, lifetime) {
                Ok(pcscd) => return Ok(pcscd),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("pcscd did not start")))
    }

    /// Starts pcscd with vpcd on a given port pair: a restart keeps the cards' ports.
    pub fn start_on(dir: &Path, port: u16, lifetime: Lifetime) -> Result<Pcscd> {
        Self::start_in(None, dir, port, lifetime)
    }

    /// As [`Pcscd::start`], with pcscd chrooted into `root`: another distribution's
    /// pcsc-lite, for that distribution's clients (pcsc-lite 1.9 and 2.x clients and daemons
    /// do not talk). `dir` must be under `root`; the cards stay outside, on vpcd's TCP ports.
    pub fn start_in_root(root: &Path, dir: &Path, lifetime: Lifetime) -> Result<Pcscd> {
        let mut last = None;
        for _ in 0..5 {
            match Self::start_in(Some(root), dir, free_port_pair()?, lifetime) {
                Ok(pcscd) => return Ok(pcscd),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("pcscd did not start")))
    }

    /// As [`Pcscd::start_on`], chrooted into `root` when given (see [`Pcscd::start_in_root`]).
    pub fn start_in(
        root: Option<&Path>,
        dir: &Path,
        port: u16,
        lifetime: Lifetime,
    ) -> Result<Pcscd> {
        let driver = match root {
            Some(root) => root.join(VPCD_DRIVER.trim_start_matches('/')),
            None => PathBuf::from(VPCD_DRIVER),
        };
        if !driver.exists() {
            bail!("the vpcd driver is missing ({VPCD_DRIVER}); install vsmartcard-vpcd (cargo xtask setup does)");
        }
        let conf = dir.join("conf");
        std::fs::create_dir_all(&conf)?;
        std::fs::write(
            conf.join("vpcd"),
            format!(
                "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:{port}\nLIBPATH {VPCD_DRIVER}\nCHANNELID {port}\n"
            ),
        )?;
        let socket = dir.join("pcscd.comm");
        let _ = std::fs::remove_file(&socket);
        let listener =
            UnixListener::bind(&socket).with_context(|| format!("binding {}", socket.display()))?;
        let log_path = dir.join("pcscd.log");
        let pid_path = dir.join("pcscd.pid");
        let _ = std::fs::remove_file(&pid_path);
        let log = std::fs::File::create(&log_path)?;
        // Chrooted: the same script, with the paths as the root sees them; pcscd 2.x asks
        // polkit about every client unless told not to.
        let mut command = match root {
            Some(root) => {
                let mut chroot = Command::new("chroot");
                chroot.arg(root).arg("sh");
                chroot
            }
            None => Command::new("sh"),
        };
        let script = |text: &str| match root {
            Some(_) => text.replace("--info", "--info --disable-polkit"),
            None => text.to_string(),
        };
        let at = |path: &Path| inside(root, path);
        match lifetime {
            Lifetime::ThisProcess { remove_dir } => command
                .arg("-c")
                .arg(script(LIFELINE))
                .arg(at(&conf))
                .arg(at(&pid_path))
                .arg(if remove_dir {
                    at(dir).into_os_string()
                } else {
                    "".into()
                })
                .stdin(Stdio::piped()),
            Lifetime::Detached => command
                .arg("-c")
                .arg(script(LAUNCH))
                .arg(at(&conf))
                .stdin(Stdio::null()),
        };
        command
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C meant for a shell or test runner is not its.
            .process_group(0);
        command
            .fd_mappings(vec![FdMapping {
                parent_fd: std::os::fd::OwnedFd::from(listener),
                child_fd: 3,
            }])
            .context("passing the socket to pcscd")?;
        let child = command
            .spawn()
            .context("starting pcscd (is it installed?)")?;
        // The command holds the parent's copy of the socket; pcscd has its own.
        drop(command);
        let mut pcscd = Pcscd {
            pid: child.id(),
            child: Some(child),
            dir: dir.to_path_buf(),
            socket,
            port,
            root: root.map(Path::to_path_buf),
        };
        pcscd.wait_ready(&log_path)?;
        if let Lifetime::ThisProcess { .. } = lifetime {
            pcscd.pid = std::fs::read_to_string(&pid_path)?
                .trim()
                .parse()
                .context("reading pcscd's pid")?;
        }
        Ok(pcscd)
    }

    fn wait_ready(&mut self, log_path: &Path) -> Result<()> {
        let started = Instant::now();
        loop {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            if log.contains("init failed") {
                bail!("pcscd could not open vpcd's port {}:\n{log}", self.port);
            }
            if log.contains("daemon ready") {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("pcscd exited ({status}):\n{log}");
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("pcscd was not ready after {READY_TIMEOUT:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Leaves a detached pcscd running after this value is dropped (for `world up`).
    pub fn detach(mut self) -> u32 {
        self.child = None;
        self.pid
    }

    /// Stops pcscd and waits for it to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Closing the lifeline pipe stops a ThisProcess pcscd; TERM stops a detached one.
        drop(child.stdin.take());
        terminate(self.pid);
        let deadline = Instant::now() + Duration::from_secs(7);
        while Instant::now() < deadline && alive(self.pid) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive(self.pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
        let _ = child.wait();
        // pcscd leaves its socket behind.
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends SIGTERM by process id (through kill(1), to keep this crate free of unsafe code).
pub fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Whether a process id is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            // Field 3, after the parenthesised command name, is the state.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// Two consecutive free TCP ports (vpcd binds both on all interfaces).
fn free_port_pair() -> Result<u16> {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    // Spread starting points by process, by call and by time, so parallel tests rarely meet.
    let seed = (u64::from(std::process::id()) * 7919) ^ (call * 104_729) ^ nanos;
    let mut port = 20000 + (seed % 10000) as u16 * 2;
    for _ in 0..200 {
        let pair = (
            std::net::TcpListener::bind(("0.0.0.0", port)),
            std::net::TcpListener::bind(("0.0.0.0", port + 1)),
        );
        if let (Ok(_), Ok(_)) = pair {
            return Ok(port);
        }
        port = if port >= 39996 { 20000 } else { port + 2 };
    }
    bail!("no free TCP port pair for vpcd")
}
