//! The `selfservice-portal` command line. See `tests/portal/README.md`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use selfservice_portal::config::PortalConfig;
use selfservice_portal::{ops, secrets};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "selfservice-portal",
    version,
    about = "Smartcard Self-Service reference portal"
)]
struct Cli {
    /// The configuration file (TOML). Every value has a default.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the API and pages (the default).
    Serve,
    /// Enrol a card: the card-management step that precedes self-service.
    Enrol {
        #[arg(long)]
        guid: String,
        #[arg(long)]
        holder: String,
        #[arg(long)]
        uuid: String,
        #[arg(long)]
        puk: String,
        /// The card's PIV Authentication (9A) certificate, PEM or DER: its key is pinned for
        /// register proofs.
        #[arg(long)]
        certificate_9a: std::path::PathBuf,
        /// The card's Card Authentication (9E) certificate, PEM or DER: its key is pinned for
        /// unlock proofs and receipts.
        #[arg(long)]
        certificate_9e: std::path::PathBuf,
        /// The email address from the user's contact details, offered at registration.
        #[arg(long)]
        email_on_file: Option<String>,
    },
    /// Clear a user's self-service lock (a Registration Authority action).
    ClearLock {
        /// The user's identity number.
        #[arg(long)]
        uuid: String,
        /// Who is clearing it, for the audit log.
        #[arg(long, default_value = "registration-authority")]
        ra: String,
    },
    /// Print the audit log as JSON lines; with --verify, check its hash chain.
    Audit {
        #[arg(long)]
        verify: bool,
    },
    /// Print the public key hosts must be configured with.
    PublicKey,
    /// Print the enrolled cards as JSON: holder, registered, locked out of self-service.
    Cards,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMARTCARD_SELFSERVICE_PORTAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("selfservice-portal: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let config = PortalConfig::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Cmd::Serve) {
        Cmd::Serve => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(selfservice_portal::serve(config))?;
        }
        Cmd::Enrol {
            guid,
            holder,
            uuid,
            puk,
            certificate_9a,
            certificate_9e,
            email_on_file,
        } => {
            ops::enrol(
                &config,
                &ops::Enrolment {
                    guid: &guid,
                    holder: &holder,
                    uuid: &uuid,
                    puk: &puk,
                    certificate_9a: &std::fs::read(&certificate_9a)
                        .with_context(|| format!("reading {}", certificate_9a.display()))?,
                    certificate_9e: &std::fs::read(&certificate_9e)
                        .with_context(|| format!("reading {}", certificate_9e.display()))?,
                    email_on_file: email_on_file.as_deref(),
                },
                now(),
            )?;
            println!("enrolled card {guid} for {holder}");
        }
        Cmd::ClearLock { uuid, ra } => {
            let cleared = ops::clear_lock(&config, &uuid, &ra, now())?;
            println!(
                "{}",
                if cleared {
                    "self-service lock cleared"
                } else {
                    "there was no lock"
                }
            );
        }
        Cmd::Audit { verify } => {
            let (lines, chain) = ops::audit_export(&config)?;
            if verify {
                return Ok(match chain {
                    Ok(count) => {
                        println!("audit chain verifies: {count} rows");
                        ExitCode::SUCCESS
                    }
                    Err(broken) => {
                        println!("audit chain BROKEN: {broken}");
                        ExitCode::FAILURE
                    }
                });
            }
            for line in lines {
                println!("{line}");
            }
        }
        Cmd::Cards => println!("{}", serde_json::to_string_pretty(&ops::cards(&config)?)?),
        Cmd::PublicKey => {
            std::fs::create_dir_all(&config.data_dir)?;
            println!(
                "{}",
                secrets::Keys::load_or_create(&config.data_dir)?.public_key_base64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
