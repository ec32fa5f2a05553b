//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use anyhow::Result;

use crate::{cmd, extension, installers, setup, wasm_pkg};

pub fn run() -> Result<()> {
    setup::run(setup::Need::Everything)?;

    cmd::step("cargo fmt --check");
    cmd::cargo(&["fmt", "--all", "--", "--check"])?;

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
    cmd::cargo(&[
        "build",
        "--package",
        "smartcard-selfservice",
        "--target",
        setup::WINDOWS_TARGET,
    ])?;

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

    crate::demo::announce_browsers();
    cmd::step("cargo test --workspace");
    cmd::cargo(&["test", "--workspace"])?;

    cmd::step(
        "node --test: the shared vectors against the wasm build, and the extension's unit tests",
    );
    cmd::run(
        "node",
        &["--test", "wasm/tests/node/", "extension/dist/test/"],
    )?;
    Ok(())
}

/// Builds the installers from this build's binaries and checks them (installers/README.md).
pub fn installers_check() -> Result<()> {
    let root = cmd::root();
    installers::check_policies()?;
    let msi = root.join("target/installers-test/smartcard-selfservice-test-x64.msi");
    installers::build_msi(
        env!("CARGO_PKG_VERSION"),
        &root.join("target/x86_64-pc-windows-gnu/debug/smartcard-selfservice.exe"),
        &root.join("target/debug/smartcard-selfservice"),
        &msi,
    )?;
    installers::check_msi(&msi)?;
    cmd::step("cargo build --release (host, for the Linux packages)");
    cmd::cargo(&["build", "--release", "--package", "smartcard-selfservice"])?;
    let (deb, rpm) = installers::build_linux_packages(&root.join("target/installers-test"))?;
    installers::check_deb(&deb)?;
    installers::check_rpm(&rpm)?;
    installers::check_macos_payload(&root.join("target/release/smartcard-selfservice"))
}
