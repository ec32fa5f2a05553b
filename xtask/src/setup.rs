//! `cargo xtask setup`: installs what is missing, and nothing that is already there. The demo
//! asks only for what it uses; `test`, `build` and `dist` ask for everything. Each install says
//! how long it usually takes before it starts, and how long it took after.

use anyhow::{bail, Context, Result};
use std::path::Path;

use crate::cmd;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

/// Who is asking: the demo needs the browsers and the PC/SC stack; the tests and the
/// deliverables also need the Windows cross-compiler and the installer tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Demo,
    Everything,
}

/// A Debian package the build or the tests need, and how to tell it is already there.
struct DebianPackage {
    name: &'static str,
    present: fn() -> bool,
    /// The smallest [`Need`] that asks for it.
    need: Need,
}

fn dpkg_installed(name: &str) -> bool {
    cmd::output("dpkg-query", &["-W", "-f=${Status}", name])
        .is_some_and(|status| status.contains("install ok installed"))
}

/// What the project needs from Debian. Node may come from elsewhere on a developer's machine;
/// any working `node` and `npm` will do.
const DEBIAN_PACKAGES: &[DebianPackage] = &[
    DebianPackage {
        name: "nodejs",
        present: || cmd::exists("node"),
        need: Need::Demo,
    },
    DebianPackage {
        name: "npm",
        present: || cmd::exists("npm"),
        need: Need::Demo,
    },
    // The PC/SC stack the host is built against and tested on, with the virtual reader.
    DebianPackage {
        name: "pkg-config",
        present: || dpkg_installed("pkg-config") || dpkg_installed("pkgconf"),
        need: Need::Demo,
    },
    DebianPackage {
        name: "libpcsclite-dev",
        present: || dpkg_installed("libpcsclite-dev"),
        need: Need::Demo,
    },
    DebianPackage {
        name: "pcscd",
        present: || dpkg_installed("pcscd"),
        need: Need::Demo,
    },
    DebianPackage {
        name: "vsmartcard-vpcd",
        present: || dpkg_installed("vsmartcard-vpcd"),
        need: Need::Demo,
    },
    // The Windows cross-compiler, so the Windows code paths are built on every run.
    DebianPackage {
        name: "gcc-mingw-w64-x86-64",
        present: || cmd::exists("x86_64-w64-mingw32-gcc"),
        need: Need::Everything,
    },
    // The browsers of the end-to-end runs, their drivers' needs, and TLS for the WebDriver client.
    DebianPackage {
        name: "firefox-esr",
        present: || dpkg_installed("firefox-esr"),
        need: Need::Demo,
    },
    DebianPackage {
        name: "chromium",
        present: || dpkg_installed("chromium"),
        need: Need::Demo,
    },
    DebianPackage {
        name: "chromium-driver",
        present: || dpkg_installed("chromium-driver"),
        need: Need::Demo,
    },
    DebianPackage {
        name: "libssl-dev",
        present: || dpkg_installed("libssl-dev"),
        need: Need::Demo,
    },
    // Installers: wixl and msitools (MSI), rpm (checking the .rpm), xmllint (policy templates).
    DebianPackage {
        name: "wixl",
        present: || dpkg_installed("wixl"),
        need: Need::Everything,
    },
    DebianPackage {
        name: "msitools",
        present: || dpkg_installed("msitools"),
        need: Need::Everything,
    },
    DebianPackage {
        name: "rpm",
        present: || dpkg_installed("rpm"),
        need: Need::Everything,
    },
    DebianPackage {
        name: "libxml2-utils",
        present: || dpkg_installed("libxml2-utils"),
        need: Need::Everything,
    },
    // pcsc-tools: its list of real cards' ATRs names cards in the host (tested with it).
    DebianPackage {
        name: "pcsc-tools",
        present: || dpkg_installed("pcsc-tools"),
        need: Need::Everything,
    },
    // Wine 8.0 runs the Windows build of the host and the MSI in `cargo xtask test`'s Windows
    // stage (64-bit only: no wine32).
    DebianPackage {
        name: "wine64",
        present: || Path::new(crate::windows::WINE64).exists(),
        need: Need::Everything,
    },
    // The Wine 10 stage's Debian 13 root (xtask/src/wine10.rs).
    DebianPackage {
        name: "debootstrap",
        present: || dpkg_installed("debootstrap"),
        need: Need::Everything,
    },
    DebianPackage {
        name: "wine",
        present: || dpkg_installed("wine"),
        need: Need::Everything,
    },
    // A JDK: the bench's anchor is the applet's way to the card, javax.smartcardio.
    DebianPackage {
        name: "default-jdk-headless",
        present: || cmd::exists("javac"),
        need: Need::Everything,
    },
    // The bench's chart measures its text with a real font.
    DebianPackage {
        name: "fonts-dejavu-core",
        present: || Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").exists(),
        need: Need::Everything,
    },
    // OpenSC: tools nobody here wrote, to check the virtual card's fidelity.
    DebianPackage {
        name: "opensc",
        present: || dpkg_installed("opensc"),
        need: Need::Demo,
    },
];

pub fn run(need: Need) -> Result<()> {
    debian_packages(need)?;
    rust_parts(need)?;
    wasm_bindgen_cli()?;
    geckodriver()?;
    if need == Need::Everything {
        cargo_tool("cargo-deb", "3.8.0")?;
        cargo_tool("cargo-generate-rpm", "0.21.1")?;
        // Licences, banned duplicates and sources of every dependency (deny.toml).
        cargo_tool("cargo-deny", "0.18.5")?;
    }
    npm_packages()?;
    Ok(())
}

/// Runs one install, saying beforehand how long it usually takes on the 2-core machine type
/// and afterwards how long it took.
fn timed(what: &str, usually: &str, install: impl FnOnce() -> Result<()>) -> Result<()> {
    cmd::step(&format!("{what} (usually {usually})"));
    let started = std::time::Instant::now();
    install()?;
    let took = started.elapsed().as_secs();
    eprintln!("    {what}: took {} min {} s", took / 60, took % 60);
    Ok(())
}

/// A cargo subcommand at a pinned version, installed from crates.io when missing.
fn cargo_tool(name: &str, version: &str) -> Result<()> {
    let home = std::env::var("HOME").unwrap_or_default();
    let listed = std::fs::read_to_string(format!("{home}/.cargo/.crates.toml")).unwrap_or_default();
    let binary_there = Path::new(&format!("{home}/.cargo/bin/{name}")).exists();
    if binary_there && listed.contains(&format!("\"{name} {version} ")) {
        return Ok(());
    }
    cargo_install(name, version, "about 3 minutes")
}

/// `cargo install --locked` of one pinned version, timed.
fn cargo_install(name: &str, version: &str, usually: &str) -> Result<()> {
    timed(&format!("cargo install {name} {version}"), usually, || {
        cmd::cargo(&[
            "install",
            "--force",
            "--locked",
            name,
            "--version",
            &format!("={version}"),
        ])
    })
}

/// geckodriver comes from crates.io (a download from elsewhere would fail here).
const GECKODRIVER_VERSION: &str = "0.37.1";

fn geckodriver() -> Result<()> {
    let home = std::env::var("HOME").unwrap_or_default();
    let installed =
        cmd::output(&format!("{home}/.cargo/bin/geckodriver"), &["--version"]).unwrap_or_default();
    if installed.split_whitespace().nth(1) == Some(GECKODRIVER_VERSION) {
        return Ok(());
    }
    cargo_install("geckodriver", GECKODRIVER_VERSION, "3 to 6 minutes")
}

fn is_root() -> bool {
    cmd::output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

fn debian_packages(need: Need) -> Result<()> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|p| p.need == Need::Demo || need == Need::Everything)
        .filter(|p| !(p.present)())
        .map(|p| p.name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing Debian packages; as root run: apt-get install --no-install-recommends {}",
            missing.join(" ")
        );
    }
    // Chromium and Firefox are most of the download.
    timed(
        &format!("apt-get install {}", missing.join(" ")),
        "2 to 4 minutes",
        || {
            std::env::set_var("DEBIAN_FRONTEND", "noninteractive");
            cmd::run("apt-get", &["update", "-q"])?;
            let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
            args.extend(&missing);
            cmd::run("apt-get", &args)
        },
    )
}

fn rust_parts(need: Need) -> Result<()> {
    let installed = cmd::output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    let targets: &[&str] = match need {
        Need::Demo => &[WASM_TARGET],
        Need::Everything => &[WASM_TARGET, WINDOWS_TARGET],
    };
    for &target in targets {
        if !installed.lines().any(|t| t.trim() == target) {
            cmd::step(&format!("rustup target add {target}"));
            cmd::run("rustup", &["target", "add", target])?;
        }
    }
    for (component, probe) in [("rustfmt", "cargo-fmt"), ("clippy", "cargo-clippy")] {
        if !cmd::exists(probe) {
            cmd::step(&format!("rustup component add {component}"));
            cmd::run("rustup", &["component", "add", component])?;
        }
    }
    Ok(())
}

/// The version of a package in Cargo.lock: the CLI must equal the crate it post-processes.
pub fn locked_version(package: &str) -> Result<String> {
    let lock =
        std::fs::read_to_string(cmd::root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"") {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
            {
                return Ok(version.to_string());
            }
        }
    }
    bail!("{package} is not in Cargo.lock")
}

fn wasm_bindgen_cli() -> Result<()> {
    let wanted = locked_version("wasm-bindgen")?;
    let have = cmd::output("wasm-bindgen", &["--version"]).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(wanted.as_str()) {
        return Ok(());
    }
    // Not --locked: the CLI's own lockfile pins a webpki-roots the index no longer serves.
    // --force: cargo skips a package it remembers installing even when the binary is gone.
    timed(
        &format!("cargo install wasm-bindgen-cli {wanted}"),
        "4 to 6 minutes",
        || {
            cmd::cargo(&[
                "install",
                "--force",
                "wasm-bindgen-cli",
                "--version",
                &format!("={wanted}"),
            ])
        },
    )
}

fn npm_packages() -> Result<()> {
    let root = cmd::root();
    let lock =
        std::fs::read(root.join("package-lock.json")).context("reading package-lock.json")?;
    let installed = std::fs::read(root.join("node_modules/.package-lock.json")).unwrap_or_default();
    if same_packages(&lock, &installed) && Path::new(&root.join("node_modules/.bin/tsc")).exists() {
        return Ok(());
    }
    timed("npm ci", "under a minute", || {
        cmd::run("npm", &["ci", "--no-audit", "--no-fund"])
    })
}

/// npm ci writes node_modules/.package-lock.json with the packages it installed: every package
/// of package-lock.json at the same version, except optional ones for other platforms (esbuild's
/// binaries). Comparing them tells whether node_modules is current without asking the registry.
fn same_packages(lock: &[u8], installed: &[u8]) -> bool {
    let packages = |text: &[u8]| -> Option<serde_json::Map<String, serde_json::Value>> {
        let value: serde_json::Value = serde_json::from_slice(text).ok()?;
        value.get("packages")?.as_object().cloned()
    };
    let (Some(wanted), Some(have)) = (packages(lock), packages(installed)) else {
        return false;
    };
    let all_there = wanted
        .iter()
        .filter(|(path, _)| !path.is_empty())
        .all(|(path, entry)| match have.get(path) {
            Some(installed) => installed.get("version") == entry.get("version"),
            None => entry.get("optional") == Some(&serde_json::Value::Bool(true)),
        });
    all_there && have.keys().all(|path| wanted.contains_key(path))
}

#[cfg(test)]
mod tests {
    use super::same_packages;

    const LOCK: &str = r#"{"packages": {"": {"name": "x"},
        "node_modules/tsc": {"version": "5.0.0"},
        "node_modules/@esbuild/darwin-arm64": {"version": "0.28.2", "optional": true},
        "node_modules/@esbuild/linux-x64": {"version": "0.28.2", "optional": true}}}"#;

    #[test]
    fn optional_packages_for_other_platforms_may_be_missing() {
        let installed = r#"{"packages": {"node_modules/tsc": {"version": "5.0.0"},
            "node_modules/@esbuild/linux-x64": {"version": "0.28.2", "optional": true}}}"#;
        assert!(same_packages(LOCK.as_bytes(), installed.as_bytes()));
    }

    #[test]
    fn a_missing_required_package_or_another_version_needs_npm_ci() {
        let missing = r#"{"packages": {"node_modules/@esbuild/linux-x64": {"version": "0.28.2"}}}"#;
        let other = r#"{"packages": {"node_modules/tsc": {"version": "5.0.1"}}}"#;
        let extra = r#"{"packages": {"node_modules/tsc": {"version": "5.0.0"},
            "node_modules/left-pad": {"version": "1.0.0"}}}"#;
        for installed in [missing, other, extra, ""] {
            assert!(
                !same_packages(LOCK.as_bytes(), installed.as_bytes()),
                "{installed}"
            );
        }
    }
}
