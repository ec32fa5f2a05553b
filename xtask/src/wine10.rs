//! The Wine 10 stage: the Windows build of the host against the virtual card on real PC/SC.
//!
//! Debian 12's Wine 8 has a winscard stub, so the Windows host never read a card there. Wine 10
//! implements winscard on pcsc-lite. Debian 13 packages it, so this stage keeps a Debian 13
//! root made by `debootstrap` (cached; a stamp says when to make it again), binds `/proc`,
//! `/sys`, `/dev` and `/dev/pts` into it for the stage's length, and runs the host's card
//! suites with `common::host_command()` starting `chroot <root> wine <exe>`. Each test world's
//! pcscd runs in the root too (pcsc-lite 1.9 clients and 2.x daemons do not talk); the virtual
//! cards stay outside, on vpcd's TCP ports. A test that cannot run under Wine says why
//! (`NOT RUN under Wine 10: ...`) and is counted as not run, never as passed.

use anyhow::{bail, ensure, Context, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{cmd, setup};

const SUITE: &str = "trixie";
const PACKAGES: &[&str] = &["wine64", "wine", "pcscd", "vsmartcard-vpcd", "libpcsclite1"];
/// What the root is made of: a root whose stamp differs is made again.
const RECIPE: &str =
    "1 debootstrap --variant=minbase trixie; apt-get install --no-install-recommends wine64 wine pcscd vsmartcard-vpcd libpcsclite1";
/// The Wine prefix inside the root (host/tests/common's `WINE10_PREFIX`).
const PREFIX: &str = "/root/wine10-prefix";
/// Where the Windows build is copied inside the root.
const EXE_IN_ROOT: &str = "/opt/smartcard-selfservice/smartcard-selfservice.exe";
/// The host's integration suites that use a card, run against the Windows build.
const SUITES: &[&str] = &[
    "framing",
    "bad_input",
    "card_commands",
    "other_cards",
    "events",
    "faults",
    "concurrency",
    "unlock",
    "card_pulled",
];

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Where the root is kept: a folder a fresh clone on the same machine finds again.
fn cache_dir() -> PathBuf {
    PathBuf::from("/var/cache/smartcard-selfservice/wine10")
}

pub fn run() -> Result<()> {
    cmd::step("wine10: the Windows build's card suites under Wine 10 (a Debian 13 root)");
    if !running_as_root() {
        // chroot and bind mounts need root; CI runs as root.
        eprintln!("wine10: NOT RUN: the stage needs root (chroot, bind mounts)");
        return Ok(());
    }
    let started = Instant::now();
    let root = ensure_root()?;
    let mounts = Mounts::bind(&root)?;
    let exe = cmd::root().join(format!(
        "target/{}/debug/smartcard-selfservice.exe",
        setup::WINDOWS_TARGET
    ));
    let inside_exe = root.join(EXE_IN_ROOT.trim_start_matches('/'));
    std::fs::create_dir_all(inside_exe.parent().context("exe folder")?)?;
    std::fs::copy(&exe, &inside_exe)
        .with_context(|| format!("copying {} into the root", exe.display()))?;
    let _server = WineServer { root: root.clone() };
    if !root
        .join(PREFIX.trim_start_matches('/'))
        .join("system.reg")
        .exists()
    {
        let booted = wine_in(&root, &["wineboot", "-i"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        ensure!(booted.success(), "wineboot in the Wine 10 root failed");
    }
    let version = wine_in(&root, &["wine", EXE_IN_ROOT, "--version"])
        .stderr(Stdio::null())
        .output()?;
    ensure!(
        String::from_utf8_lossy(&version.stdout).trim()
            == format!("smartcard-selfservice {}", env!("CARGO_PKG_VERSION")),
        "the Windows build under Wine 10: {:?}",
        version
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut rows = Vec::new();
    for suite in SUITES {
        let listed = Command::new(&cargo)
            .args(["test", "-p", "smartcard-selfservice", "--test", suite])
            .args(["--", "--list", "--format", "terse"])
            .current_dir(cmd::root())
            .stderr(Stdio::null())
            .output()?;
        let tests = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter(|l| l.ends_with(": test"))
            .count();
        // One test at a time: Wine's start-up and event hops are slower than native, and
        // nine suites side by side would test the machine's load, not the host.
        let output = Command::new(&cargo)
            .args(["test", "-p", "smartcard-selfservice", "--test", suite])
            .args(["--", "--test-threads", "1", "--nocapture"])
            .env("SMARTCARD_SELFSERVICE_TEST_WINE10_ROOT", &root)
            .env("SMARTCARD_SELFSERVICE_TEST_WINDOWS_EXE", EXE_IN_ROOT)
            .current_dir(cmd::root())
            .stdin(Stdio::null())
            .output()?;
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let not_run: Vec<String> = all
            .lines()
            .filter_map(|l| l.split_once("NOT RUN under Wine 10: "))
            .map(|(_, why)| why.to_string())
            .collect();
        let (passed, failed) = outcome(&all);
        if !output.status.success() {
            eprintln!("{all}");
        }
        rows.push(Row {
            suite,
            tests,
            run: (passed + failed).saturating_sub(not_run.len()),
            passed: passed.saturating_sub(not_run.len()),
            failed,
            not_run,
        });
    }
    drop(mounts);
    println!("\n| suite | tests | run natively | run under Wine 10 | passed under Wine 10 | not run under Wine 10 (why) |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.suite,
            row.tests,
            row.tests,
            row.run,
            row.passed,
            if row.not_run.is_empty() {
                "-".to_string()
            } else {
                format!("{}: {}", row.not_run.len(), row.not_run.join("; "))
            }
        );
    }
    eprintln!("    wine10 stage: {} s", started.elapsed().as_secs());
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.failed > 0 || r.run + r.not_run.len() != r.tests)
        .map(|r| r.suite)
        .collect();
    ensure!(
        failed.is_empty(),
        "under Wine 10, these suites failed or did not run every test: {failed:?}"
    );
    Ok(())
}

struct Row {
    suite: &'static str,
    tests: usize,
    run: usize,
    passed: usize,
    failed: usize,
    not_run: Vec<String>,
}

/// The counts in libtest's `test result: ... N passed; M failed` line.
fn outcome(output: &str) -> (usize, usize) {
    let Some(line) = output.lines().find(|l| l.starts_with("test result:")) else {
        return (0, 0);
    };
    let count = |word: &str| {
        line.split(';')
            .find_map(|part| part.trim().strip_suffix(word))
            .and_then(|n| n.trim().rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    (count(" passed"), count(" failed"))
}

/// `wine` in the root, with the stage's prefix.
fn wine_in(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("chroot");
    command
        .arg(root)
        .args(["env", "HOME=/root", "WINEDEBUG=-all"])
        .arg(format!("WINEPREFIX={PREFIX}"))
        .args(args);
    command
}

/// Stops the prefix's wineserver (and every Wine process of it) when the stage ends.
struct WineServer {
    root: PathBuf,
}

impl Drop for WineServer {
    fn drop(&mut self) {
        let _ = wine_in(&self.root, &["wineserver", "-k"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The root, made when missing or made by another recipe.
fn ensure_root() -> Result<PathBuf> {
    let dir = cache_dir();
    let root = dir.join("root");
    let stamp = dir.join("stamp");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == RECIPE)
        && root.join("usr/bin/wine").exists()
    {
        return Ok(root);
    }
    let started = Instant::now();
    let mirror = mirror()?;
    eprintln!(
        "wine10: making the Debian 13 root in {} from {mirror} (about 4 minutes, 1.5 GB)",
        root.display()
    );
    let fresh = dir.join("root-new");
    for old in [&fresh, &root] {
        remove_unmounted(old)?;
    }
    std::fs::create_dir_all(&dir)?;
    cmd::run(
        "debootstrap",
        &[
            "--variant=minbase",
            SUITE,
            &fresh.to_string_lossy(),
            &mirror,
        ],
    )?;
    {
        let _mounts = Mounts::bind(&fresh)?;
        std::fs::copy("/etc/resolv.conf", fresh.join("etc/resolv.conf"))?;
        let install = format!(
            "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {}",
            PACKAGES.join(" ")
        );
        let status = Command::new("chroot")
            .arg(&fresh)
            .args(["sh", "-c", &install])
            .stdin(Stdio::null())
            .status()?;
        ensure!(status.success(), "installing Wine 10 in the root failed");
    }
    std::fs::rename(&fresh, &root)?;
    std::fs::write(&stamp, RECIPE)?;
    eprintln!("wine10: root made in {} s", started.elapsed().as_secs());
    Ok(root)
}

/// Removes a folder once nothing is mounted under it (a bind mount of /dev under a folder
/// being removed would take the machine's /dev with it).
fn remove_unmounted(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for point in mounts_under(dir)?.into_iter().rev() {
        unmount(&point);
    }
    let left = mounts_under(dir)?;
    ensure!(
        left.is_empty(),
        "still mounted under {}: {left:?}; unmount them first",
        dir.display()
    );
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

fn mounts_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let table = std::fs::read_to_string("/proc/mounts")?;
    Ok(table
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect())
}

fn unmount(point: &Path) {
    let quiet = |args: &[&str]| {
        Command::new("umount")
            .args(args)
            .arg(point)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !quiet(&[]) {
        // Busy (a process still holds it): detach it now, gone when released.
        quiet(&["-l"]);
    }
}

/// The bind mounts Wine needs in the root, undone on every way out (drop).
struct Mounts {
    points: Vec<PathBuf>,
}

impl Mounts {
    fn bind(root: &Path) -> Result<Mounts> {
        let mut mounts = Mounts { points: Vec::new() };
        for what in ["proc", "sys", "dev", "dev/pts"] {
            let point = root.join(what);
            let status = Command::new("mount")
                .args(["--bind", &format!("/{what}")])
                .arg(&point)
                .status()?;
            if !status.success() {
                bail!("mount --bind /{what} {} failed", point.display());
            }
            mounts.points.push(point);
        }
        Ok(mounts)
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        if let Some(root) = self.points.first().and_then(|p| p.parent()) {
            stop_processes_in(root);
        }
        for point in self.points.iter().rev() {
            unmount(point);
        }
    }
}

/// Stops, by process id, every process whose root is `root` (pcscd instances, wineserver,
/// Wine processes a test left): nothing started in the root outlives the stage.
fn stop_processes_in(root: &Path) {
    let Ok(canonical) = root.canonicalize() else {
        return;
    };
    let inside = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid = e.file_name().to_string_lossy().into_owned();
                (pid.bytes().all(|b| b.is_ascii_digit())
                    && std::fs::read_link(e.path().join("root")).is_ok_and(|r| r == canonical))
                .then_some(pid)
            })
            .collect()
    };
    for signal in ["-TERM", "-KILL"] {
        let pids = inside();
        if pids.is_empty() {
            return;
        }
        eprintln!(
            "wine10: stopping {} process(es) left in the root ({signal})",
            pids.len()
        );
        let _ = Command::new("kill")
            .arg(signal)
            .args(&pids)
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// The Debian mirror this machine's apt uses (never a hard-coded host).
fn mirror() -> Result<String> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    sources.sort();
    sources.insert(0, PathBuf::from("/etc/apt/sources.list"));
    for path in sources {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let uris = text.lines().filter_map(|line| {
            let line = line.trim();
            if let Some(uris) = line.strip_prefix("URIs:") {
                uris.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|w| w.contains("://"))
            } else {
                None
            }
        });
        for uri in uris {
            if uri.contains("debian") && !uri.contains("security") {
                return Ok(uri.to_string());
            }
        }
    }
    bail!("no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d")
}

#[cfg(test)]
mod tests {
    use super::outcome;

    #[test]
    fn libtest_counts_are_read() {
        let out = "running 3 tests\ntest result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.0s\n";
        assert_eq!(outcome(out), (2, 1));
        assert_eq!(outcome("no result"), (0, 0));
    }
}
