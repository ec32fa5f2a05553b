//! `cargo xtask`: the project's automation, in Rust so that it runs wherever cargo does.
//!
//! - `setup`: installs what is missing (Debian packages as root, the wasm target, pinned tools,
//!   npm packages); safe to run again.
//! - `build`: the workspace in release mode and the wasm package the extension imports.
//! - `test`: setup, format and lint checks with warnings as errors, then every test suite.

mod cmd;
mod setup;
mod test;
mod wasm_pkg;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Smartcard Self-Service project automation"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the build and tests need, if it is missing.
    Setup,
    /// Build everything, including the wasm package in wasm/pkg.
    Build,
    /// Run setup, the format and lint checks, and every test suite.
    Test,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.task {
        Task::Setup => setup::run(),
        Task::Build => build(),
        Task::Test => test::run(),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn build() -> anyhow::Result<()> {
    setup::run()?;
    cmd::step("cargo build --workspace --release");
    cmd::cargo(&["build", "--workspace", "--release"])?;
    wasm_pkg::build()?;
    Ok(())
}
