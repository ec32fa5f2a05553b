//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use anyhow::{Context, Result};

use crate::{cmd, extension, installers, msrv, setup, wasm_pkg};

pub fn run() -> Result<()> {
    setup::run(setup::Need::Everything)?;

    cmd::step("cargo fmt --check");
    cmd::cargo(&["fmt", "--all", "--", "--check"])?;

    // Advisories need the RustSec database from GitHub, out of reach here (deny.toml). Not
    // --offline: on a fresh machine cargo metadata must first fetch every platform's crates
    // from crates.io, which it can.
    cmd::step("cargo deny: licences, banned crates and sources of every dependency (deny.toml)");
    cmd::cargo(&[
        "deny",
        "--log-level",
        "error",
        "check",
        "licenses",
        "bans",
        "sources",
    ])?;

    msrv::check()?;
    crate::openapi::check()?;
    crate::page_library::check()?;

    cmd::step("cargo clippy (native, all targets) -D warnings");
    cmd::cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cmd::step("cargo clippy (wasm32) -D warnings");
    cmd::cargo(&[
        "clippy",
        "--package",
        "selfservice-rules",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ])?;

    cmd::step("cargo clippy (host for Windows, x86_64-pc-windows-gnu) -D warnings");
    cmd::cargo(&[
        "clippy",
        "--package",
        "smartcard-selfservice",
        "--target",
        setup::WINDOWS_TARGET,
        "--",
        "-D",
        "warnings",
    ])?;
    cmd::step("cargo build (host for Windows): the Windows code paths link");
    build_windows_host()?;

    wasm_pkg::build()?;
    cmd::step("tsc --strict: the wasm package's TypeScript definitions");
    let definitions = format!("{}/selfservice_rules.d.ts", wasm_pkg::PKG_DIR);
    cmd::run(
        "node_modules/.bin/tsc",
        &[
            "--strict",
            "--noEmit",
            "--target",
            "es2022",
            "--module",
            "es2022",
            "--moduleResolution",
            "bundler",
            &definitions,
        ],
    )?;

    extension::build()?;
    extension::check()?;

    cmd::step("cargo build --workspace (the binaries the cross-package tests run)");
    cmd::cargo(&["build", "--workspace"])?;
    installers_check()?;

    crate::windows::run()?;
    crate::wine10::run()?;

    crate::rollout_packages::packages(env!("CARGO_PKG_VERSION"))?;
    crate::demo::announce_browsers();
    cmd::step("cargo test --workspace");
    cmd::cargo(&["test", "--workspace"])?;
    bench_short()?;

    cmd::step(
        "node --test: the shared vectors against the wasm build, and the extension's unit tests",
    );

    // Files, not folders: `node --test <folder>` reads the folder as a pattern from Node 21 on.
    let mut files = Vec::new();
    for dir in ["wasm/tests/node", "extension/dist/test"] {
        for entry in std::fs::read_dir(cmd::root().join(dir))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".test.mjs") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    anyhow::ensure!(
        files.len() >= 4,
        "the node test files are missing: {files:?}"
    );
    let mut args = vec!["--test"];
    args.extend(files.iter().map(String::as_str));
    cmd::run("node", &args)?;
    Ok(())
}

/// Builds the installers from this build's binaries and checks them (installers/README.md).
pub fn installers_check() -> Result<()> {
    let root = cmd::root();
    installers::check_policies()?;
    let msi = test_msi()?;
    installers::check_msi(&msi)?;
    cmd::step("cargo build --release (host, for the Linux packages)");
    cmd::cargo(&["build", "--release", "--package", "smartcard-selfservice"])?;
    let (deb, rpm) = installers::build_linux_packages(&root.join("target/installers-test"))?;
    installers::check_deb(&deb)?;
    installers::check_rpm(&rpm)?;
    installers::check_macos_payload(&root.join("target/release/smartcard-selfservice"))?;
    Ok(())
}

/// The MSI the checks look at, from the debug builds.
fn test_msi() -> Result<std::path::PathBuf> {
    let root = cmd::root();
    let msi = root.join("target/installers-test/smartcard-selfservice-test-x64.msi");
    installers::build_msi(
        env!("CARGO_PKG_VERSION"),
        &root.join("target/x86_64-pc-windows-gnu/debug/smartcard-selfservice.exe"),
        &root.join("target/debug/smartcard-selfservice"),
        &msi,
    )?;
    Ok(msi)
}

/// `cargo xtask update-golden`: rewrites the MSI's golden file for review. Never part of
/// `test`, so a changed MSI always fails the suite until a person has looked.
pub fn update_golden() -> Result<()> {
    cmd::step("cargo build --workspace (and the Windows host) for the MSI");
    cmd::cargo(&["build", "--workspace"])?;
    build_windows_host()?;
    installers::write_golden(&test_msi()?)
}

/// The debug build of the host for Windows (what the MSI and the Wine stage use).
pub fn build_windows_host() -> Result<()> {
    cmd::cargo(&[
        "build",
        "--package",
        "smartcard-selfservice",
        "--target",
        setup::WINDOWS_TARGET,
    ])
}

/// The bench in its short mode: it runs, and its ratios come out as numbers (whether they
/// meet their targets is for `cargo xtask bench` to report, not for the test to decide).
fn bench_short() -> Result<()> {
    crate::bench::run(crate::bench::Mode::Short)?;
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        cmd::root().join("target/bench/summary.json"),
    )?)?;
    let figures = summary.as_array().context("summary.json is a list")?;
    for ratio in [
        "cold start: host / floor",
        "cold start: Java / host",
        "peak RSS: Java / host",
        "status: host / straight",
        "9E proof: host / straight",
        "unblock: host / straight",
        "wasm module: gzip -9",
    ] {
        let value = figures
            .iter()
            .find(|f| f["name"] == ratio)
            .and_then(|f| f["value"].as_f64())
            .with_context(|| format!("the bench computed no '{ratio}'"))?;
        anyhow::ensure!(value.is_finite() && value > 0.0, "'{ratio}' is {value}");
    }
    let chart = std::fs::read_to_string(cmd::root().join("target/bench/ratios.svg"))?;
    anyhow::ensure!(
        chart.contains("<svg") && chart.contains("cold start: host / floor"),
        "ratios.svg does not chart the ratios"
    );
    Ok(())
}
