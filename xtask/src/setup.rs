//! `cargo xtask setup`: installs what is missing, and nothing that is already there.

use anyhow::{bail, Context, Result};
use std::path::Path;

use crate::cmd;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

/// A Debian package the build or the tests need, and how to tell it is already there.
struct DebianPackage {
    name: &'static str,
    present: fn() -> bool,
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
    },
    DebianPackage {
        name: "npm",
        present: || cmd::exists("npm"),
    },
    // The PC/SC stack the host is built against and tested on, with the virtual reader.
    DebianPackage {
        name: "pkg-config",
        present: || dpkg_installed("pkg-config") || dpkg_installed("pkgconf"),
    },
    DebianPackage {
        name: "libpcsclite-dev",
        present: || dpkg_installed("libpcsclite-dev"),
    },
    DebianPackage {
        name: "pcscd",
        present: || dpkg_installed("pcscd"),
    },
    DebianPackage {
        name: "vsmartcard-vpcd",
        present: || dpkg_installed("vsmartcard-vpcd"),
    },
    // The Windows cross-compiler, so the Windows code paths are built on every run.
    DebianPackage {
        name: "gcc-mingw-w64-x86-64",
        present: || cmd::exists("x86_64-w64-mingw32-gcc"),
    },
    // The browsers of the end-to-end runs, their drivers' needs, and TLS for the WebDriver client.
    DebianPackage {
        name: "firefox-esr",
        present: || dpkg_installed("firefox-esr"),
    },
    DebianPackage {
        name: "chromium",
        present: || dpkg_installed("chromium"),
    },
    DebianPackage {
        name: "chromium-driver",
        present: || dpkg_installed("chromium-driver"),
    },
    DebianPackage {
        name: "libssl-dev",
        present: || dpkg_installed("libssl-dev"),
    },
    // Installers: wixl and msitools (MSI), rpm (checking the .rpm), xmllint (policy templates).
    DebianPackage {
        name: "wixl",
        present: || dpkg_installed("wixl"),
    },
    DebianPackage {
        name: "msitools",
        present: || dpkg_installed("msitools"),
    },
    DebianPackage {
        name: "rpm",
        present: || dpkg_installed("rpm"),
    },
    DebianPackage {
        name: "libxml2-utils",
        present: || dpkg_installed("libxml2-utils"),
    },
    // OpenSC: tools nobody here wrote, to check the virtual card's fidelity.
    DebianPackage {
        name: "opensc",
        present: || dpkg_installed("opensc"),
    },
];

pub fn run() -> Result<()> {
    debian_packages()?;
    rust_parts()?;
    wasm_bindgen_cli()?;
    geckodriver()?;
    cargo_tool("cargo-deb", "3.8.0")?;
    cargo_tool("cargo-generate-rpm", "0.21.1")?;
    npm_packages()?;
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
    cmd::step(&format!("cargo install {name} {version}"));
    cmd::cargo(&[
        "install",
        "--force",
        "--locked",
        name,
        "--version",
        &format!("={version}"),
    ])
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
    cmd::step(&format!(
        "cargo install geckodriver {GECKODRIVER_VERSION} (about 2 minutes)"
    ));
    cmd::cargo(&[
        "install",
        "--force",
        "--locked",
        "geckodriver",
        "--version",
        &format!("={GECKODRIVER_VERSION}"),
    ])
}

fn is_root() -> bool {
    cmd::output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

fn debian_packages() -> Result<()> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|p| !(p.present)())
        .map(|p| p.name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    cmd::step(&format!("apt-get install {}", missing.join(" ")));
    if !is_root() {
        bail!(
            "missing Debian packages; as root run: apt-get install --no-install-recommends {}",
            missing.join(" ")
        );
    }
    std::env::set_var("DEBIAN_FRONTEND", "noninteractive");
    cmd::run("apt-get", &["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    cmd::run("apt-get", &args)
}

fn rust_parts() -> Result<()> {
    let installed = cmd::output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    for target in [WASM_TARGET, WINDOWS_TARGET] {
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
    cmd::step(&format!(
        "cargo install wasm-bindgen-cli {wanted} (about 3 minutes)"
    ));
    // Not --locked: the CLI's own lockfile pins a webpki-roots the index no longer serves.
    // --force: cargo skips a package it remembers installing even when the binary is gone.
    cmd::cargo(&[
        "install",
        "--force",
        "wasm-bindgen-cli",
        "--version",
        &format!("={wanted}"),
    ])
}

fn npm_packages() -> Result<()> {
    let root = cmd::root();
    let lock =
        std::fs::read(root.join("package-lock.json")).context("reading package-lock.json")?;
    let installed = std::fs::read(root.join("node_modules/.package-lock.json")).unwrap_or_default();
    if same_packages(&lock, &installed) && Path::new(&root.join("node_modules/.bin/tsc")).exists() {
        return Ok(());
    }
    cmd::step("npm ci");
    cmd::run("npm", &["ci", "--no-audit", "--no-fund"])
}

/// npm ci writes node_modules/.package-lock.json with the same "packages" as package-lock.json;
/// comparing them tells whether node_modules is current without asking the registry.
fn same_packages(lock: &[u8], installed: &[u8]) -> bool {
    fn packages(text: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(text)
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("\"node_modules/") || l.starts_with("\"version\""))
            .map(str::to_string)
            .collect()
    }
    !installed.is_empty() && packages(lock) == packages(installed)
}
