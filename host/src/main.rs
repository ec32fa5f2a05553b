//! `smartcard-selfservice`: the native-messaging host that Edge, Chrome, Chromium and Firefox
//! start for the Smartcard Self-Service extension, and IT's command line for it.
//!
//! Started by a browser (with a `chrome-extension://` origin, or a manifest path and add-on
//! id), it speaks native messaging on stdin/stdout. Otherwise: `install`, `uninstall`,
//! `doctor`, `--version`.

mod authorization;
mod browser_policy;
mod commands;
mod config;
mod doctor;
mod errors;
mod framing;
mod install;
mod launch;
mod logging;
mod piv;
mod puk_journal;
mod readers;
mod session;
mod unblock;
mod watcher;

#[cfg(test)]
mod fuzz;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use install::{Browser, Scope, ALL_BROWSERS};
use launch::Launch;

#[derive(Parser)]
#[command(
    name = "smartcard-selfservice",
    version,
    about = "Smartcard Self-Service: the card reader bridge for the browser extension",
    long_about = "Browsers start this program to talk to smartcards. IT staff use it to register it with the browsers (install, uninstall) and to check a machine (doctor)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Register this program with the browsers (all of them unless --browser is given).
    Install(Target),
    /// Remove the registrations `install` made.
    Uninstall(Target),
    /// Check this machine: PC/SC service, readers, cards, browser registrations, configuration.
    /// Exit code: 0 ready, 1 a problem with the installation or configuration, 2 installed
    /// and configured but no PC/SC service (on Windows: usually no reader plugged in).
    Doctor {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Check only the installation (registrations, configuration, the unlock record),
        /// not the PC/SC service, readers or cards: for a fleet tool's detection rule.
        #[arg(long)]
        installation: bool,
    },
    /// Speak native messaging on stdin/stdout (what a browser does; for testing by hand).
    Serve,
    /// Print the host manifest for a browser family (installers generate theirs with it).
    Manifest {
        #[arg(long, value_enum)]
        browser: Browser,
        /// The program path to put in it (relative paths are allowed on Windows).
        #[arg(long)]
        program: PathBuf,
    },
}

#[derive(clap::Args)]
struct Target {
    /// For the current user (the default).
    #[arg(long, conflicts_with = "system")]
    user: bool,
    /// For every user of this machine (needs administrator rights).
    #[arg(long)]
    system: bool,
    /// Only these browsers.
    #[arg(long, value_enum)]
    browser: Vec<Browser>,
    /// A Chromium --user-data-dir or the HOME of a Firefox, instead of the browsers' own
    /// places (used by tests).
    #[arg(long, value_name = "DIR")]
    browser_profile: Option<PathBuf>,
}

impl Target {
    fn browsers(&self) -> Vec<Browser> {
        if self.browser.is_empty() {
            ALL_BROWSERS.to_vec()
        } else {
            self.browser.clone()
        }
    }
    fn scope(&self) -> Scope {
        if self.system {
            Scope::System
        } else {
            Scope::User
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(launch) = Launch::from_args(&args) {
        return serve(launch);
    }
    let cli = Cli::parse();
    match cli.command {
        None if std::io::stdin().is_terminal() => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            ExitCode::SUCCESS
        }
        None | Some(Cmd::Serve) => serve(Launch::Unknown(args)),
        Some(Cmd::Manifest { browser, program }) => {
            match serde_json::to_string_pretty(&install::manifest(browser, &program)) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("smartcard-selfservice: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Cmd::Install(target)) => it_command(|program| {
            install::install(
                &target.browsers(),
                target.scope(),
                target.browser_profile.as_deref(),
                program,
            )
        }),
        Some(Cmd::Uninstall(target)) => it_command(|_| {
            install::uninstall(
                &target.browsers(),
                target.scope(),
                target.browser_profile.as_deref(),
            )
        }),
        Some(Cmd::Doctor { json, installation }) => {
            let loaded = config::load();
            let host = commands::Host::new(loaded);
            let program = std::env::current_exe().unwrap_or_default();
            let scope = if installation {
                doctor::Checked::Installation
            } else {
                doctor::Checked::All
            };
            let checks = doctor::run(&host, &program, scope);
            if json {
                match serde_json::to_string_pretty(&checks) {
                    Ok(text) => println!("{text}"),
                    Err(error) => eprintln!("smartcard-selfservice: {error}"),
                }
            } else {
                doctor::print_text(&checks, scope);
            }
            ExitCode::from(doctor::verdict(&checks) as u8)
        }
    }
}

fn it_command(f: impl FnOnce(&std::path::Path) -> anyhow::Result<Vec<String>>) -> ExitCode {
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(error) => {
            eprintln!("smartcard-selfservice: cannot find this program's path: {error}");
            return ExitCode::FAILURE;
        }
    };
    match f(&program) {
        Ok(done) => {
            for line in &done {
                println!("{line}");
            }
            if done.is_empty() {
                println!("nothing to do");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("smartcard-selfservice: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Native messaging: stdout carries frames only from here on.
fn serve(launch: Launch) -> ExitCode {
    let loaded = config::load();
    logging::init(loaded.config.log_file.as_deref(), loaded.overrides);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        ?launch,
        "started by the browser"
    );
    if !launch.is_our_extension() {
        tracing::warn!("started by a caller that is not the Smartcard Self-Service extension");
    }
    if let Some(error) = &loaded.error {
        tracing::error!(%error, "machine configuration unreadable; no portal is allowed");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let host = Arc::new(commands::Host::new(loaded));
    // Rust writes raw bytes to a pipe on every platform (no text-mode translation on
    // Windows), which native messaging needs.
    let outcome = runtime.block_on(session::run(host, tokio::io::stdin(), tokio::io::stdout()));
    // Blocking threads still waiting on PC/SC must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(()) => {
            tracing::info!("session ended");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::warn!(%error, "session ended with an error");
            ExitCode::SUCCESS
        }
    }
}
