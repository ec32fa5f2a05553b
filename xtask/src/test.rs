//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use anyhow::Result;

use crate::{cmd, setup, wasm_pkg};

pub fn run() -> Result<()> {
    setup::run()?;

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

    wasm_pkg::build()?;
    cmd::step("tsc --strict: the wasm package's TypeScript definitions");
    let definitions = format!("{}/selfservice_rules.d.ts", wasm_pkg::PKG_DIR);
    cmd::run(
        "node_modules/.bin/tsc",
        &["--strict", "--noEmit", "--target", "es2022", &definitions],
    )?;

    cmd::step("cargo test --workspace");
    cmd::cargo(&["test", "--workspace"])?;

    cmd::step("node --test: the shared vectors against the wasm build");
    cmd::run("node", &["--test", "wasm/tests/node/"])?;
    Ok(())
}
