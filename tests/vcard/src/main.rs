//! The `selfservice-vcard` command line. See `tests/vcard/README.md`.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

use selfservice_vcard::{ca::TestCa, control, control_page, runner, world};

#[derive(Parser)]
#[command(
    name = "selfservice-vcard",
    version,
    about = "A virtual PIV smartcard for pcscd's vpcd driver"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one card in a vpcd slot until told to stop.
    Run {
        /// The card file (rewritten with the card's state after every change).
        #[arg(long)]
        card: PathBuf,
        /// The test CA folder (created if missing) that issues keys the card lacks.
        #[arg(long)]
        ca: PathBuf,
        /// vpcd's port for the slot (slot 0: VPCD_PORT, slot 1: VPCD_PORT + 1).
        #[arg(long)]
        port: u16,
        /// A control socket for insert/remove/fault/status/stop.
        #[arg(long)]
        control: PathBuf,
        /// Start with the card out of the reader.
        #[arg(long)]
        removed: bool,
    },
    /// Send a command to a running card: insert, remove, status, stop,
    /// fault remove-before N, fault remove-after N, fault remove-before-ins XX,
    /// fault remove-after-ins XX[:P2], fault sw N XXXX, fault clear.
    Ctl {
        #[arg(long, env = "SMARTCARD_SELFSERVICE_VCARD_CONTROL_0")]
        control: PathBuf,
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
    },
    /// Type a passcode into the card through PC/SC once, as a person logging on to the
    /// computer does; prints the card's status word (9000: right; 63CX: wrong, X tries left;
    /// 6983: blocked).
    Logon {
        #[arg(long)]
        reader: String,
        #[arg(long)]
        passcode: String,
    },
    /// Create (if needed) the test CA in a folder and print its certificate's path.
    Ca {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Settle a card file's expiry and issue its keys now.
    Prepare {
        #[arg(long)]
        card: PathBuf,
        #[arg(long)]
        ca: PathBuf,
    },
    /// A loopback SMTP server that writes each message it receives to a folder as NNNN.eml
    /// (the world's mailbox).
    SmtpSink {
        #[arg(long)]
        dir: PathBuf,
        /// 0 picks a free port; the port is printed as `smtp sink on PORT`.
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// A private pcscd with vpcd and cards, for a shell or a demo.
    World {
        #[command(subcommand)]
        action: WorldAction,
    },
}

#[derive(Subcommand)]
enum WorldAction {
    /// Start it and print `export` lines: eval "$(selfservice-vcard world up)".
    Up {
        /// The card in slot 0: a template name or a card file.
        #[arg(long, default_value = "unlocked")]
        slot0: String,
        /// The card in slot 1, if any.
        #[arg(long)]
        slot1: Option<String>,
        /// Leave out the reference portal and its SMTP sink (they start when the
        /// selfservice-portal binary sits beside this one).
        #[arg(long)]
        no_portal: bool,
        /// Also serve the control page (cards, insert/remove/lock, mailbox) on this loopback
        /// address, e.g. 127.0.0.1:8641.
        #[arg(long)]
        control_page: Option<std::net::SocketAddr>,
    },
    /// Serve the control page of a running world (`up --control-page` starts it for you).
    ControlPage {
        #[arg(long, env = world::WORLD_VARIABLE)]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8641")]
        listen: std::net::SocketAddr,
    },
    /// Stop everything it started and remove its folder.
    Down {
        #[arg(long, env = world::WORLD_VARIABLE)]
        dir: PathBuf,
    },
    /// What is running, and each card's state.
    Status {
        #[arg(long, env = world::WORLD_VARIABLE)]
        dir: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("selfservice-vcard: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Run {
            card,
            ca,
            port,
            control: socket,
            removed,
        } => {
            let ca = TestCa::load_or_create(&ca)?;
            let piv = runner::prepare_card(&card, &ca)?;
            let running = runner::RunningCard::start(piv, Some(card), port, !removed);
            eprintln!(
                "selfservice-vcard: serving vpcd port {port}, control {}",
                socket.display()
            );
            control::serve(&running, &socket)?;
            running.stop();
            Ok(())
        }
        Cmd::Ctl {
            control: socket,
            words,
        } => {
            let reply = control::send(&socket, &words.join(" "))?;
            println!("{}", serde_json::to_string_pretty(&reply)?);
            Ok(())
        }
        Cmd::Logon { reader, passcode } => {
            let status = selfservice_vcard::control_page::type_passcode(&reader, &passcode)?;
            println!("{status:04X}");
            Ok(())
        }
        Cmd::Ca { dir } => {
            let ca = TestCa::load_or_create(&dir)?;
            println!("{}", ca.cert_path().display());
            Ok(())
        }
        Cmd::Prepare { card, ca } => {
            let ca = TestCa::load_or_create(&ca)?;
            runner::prepare_card(&card, &ca)?;
            Ok(())
        }
        Cmd::SmtpSink { dir, port } => {
            std::fs::create_dir_all(&dir)?;
            let sink = selfservice_vcard::smtp_sink::SmtpSink::start_on(port, Some(dir))?;
            println!("smtp sink on {}", sink.port);
            loop {
                std::thread::park();
            }
        }
        Cmd::World { action } => match action {
            WorldAction::Up {
                slot0,
                slot1,
                no_portal,
                control_page,
            } => {
                if control_page.is_some_and(|address| !address.ip().is_loopback()) {
                    bail!("the control page serves loopback only (it can lock cards)");
                }
                let mut cards = vec![(0, world::resolve_card(&slot0)?)];
                if let Some(slot1) = slot1 {
                    cards.push((1, world::resolve_card(&slot1)?));
                }
                let program =
                    std::env::current_exe().context("finding selfservice-vcard itself")?;
                let portal = program.with_file_name("selfservice-portal");
                let portal = (!no_portal && portal.exists()).then_some(portal);
                let state = world::up(&cards, &program, portal.as_deref(), control_page)?;
                print!("{}", state.exports());
                eprintln!(
                    "world up in {}; stop it with: selfservice-vcard world down (or cargo xtask world down)",
                    state.dir.display()
                );
                Ok(())
            }
            WorldAction::Down { dir } => world::down(&dir),
            WorldAction::ControlPage { dir, listen } => {
                if !listen.ip().is_loopback() {
                    bail!("the control page serves loopback only (it can lock cards)");
                }
                control_page::serve(&dir, listen)
            }
            WorldAction::Status { dir } => {
                print!("{}", world::status(&dir)?);
                Ok(())
            }
        },
    }
}
