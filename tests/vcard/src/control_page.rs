//! The world's control page (`selfservice-vcard world control-page`), for a person trying the
//! product by hand beside the portal: each slot's card with its state (passcode tries left,
//! blocked, registered with the portal), buttons to put a card in, take it out, or lock it the
//! way a person does (wrong passcodes typed through PC/SC), and the mailbox with the emailed
//! codes. It serves loopback only and exists only in a test world.

use anyhow::{bail, Context, Result};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::card_file::CardFile;
use crate::control;
use crate::smtp_sink::Mail;
use crate::world::{WorldCard, WorldState};

const PAGE: &str = include_str!("control_page.html");

/// What the page shows, read afresh on every request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    pub portal_url: Option<String>,
    pub cards: Vec<CardView>,
    /// Newest first.
    pub mail: Vec<MailView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardView {
    pub slot: u8,
    pub reader: String,
    pub holder: String,
    pub inserted: bool,
    pub pin_retries_left: u8,
    pub pin_blocked: bool,
    pub puk_retries_left: u8,
    /// None when the world has no portal (or it could not be asked).
    pub registered: Option<bool>,
    pub self_service_locked: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MailView {
    pub to: String,
    pub subject: String,
    pub code: Option<String>,
    pub body: String,
}

/// Serves the page on `listen` until the process is stopped (by `world down`).
pub fn serve(dir: &Path, listen: SocketAddr) -> Result<()> {
    // "Lock it" talks to this world's pcscd: libpcsclite reads the socket from the environment
    // once, so it must be set before any thread starts.
    let world = WorldState::load(dir)?;
    if std::env::var_os("PCSCLITE_CSOCK_NAME").as_deref() != Some(world.pcscd_socket.as_os_str()) {
        bail!(
            "run the control page with PCSCLITE_CSOCK_NAME={} (world up --control-page does)",
            world.pcscd_socket.display()
        );
    }
    let dir = Arc::new(dir.to_path_buf());
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/state", get(state))
        .route("/cards/{slot}/{action}", post(act))
        .with_state(dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        // The world waits for this line before it records the page as started.
        println!("control page on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

async fn state(State(dir): State<Arc<PathBuf>>) -> Response {
    blocking(move || view(&dir)).await
}

async fn act(
    State(dir): State<Arc<PathBuf>>,
    UrlPath((slot, action)): UrlPath<(u8, String)>,
) -> Response {
    blocking(move || {
        let world = WorldState::load(&dir)?;
        let Some(card) = world.cards.iter().find(|c| c.slot == slot) else {
            bail!("there is no card in slot {slot}");
        };
        let done = match action.as_str() {
            "insert" => {
                control::send(&card.control, "insert")?;
                "The card is in the reader.".to_string()
            }
            "remove" => {
                control::send(&card.control, "remove")?;
                "The card is out of the reader.".to_string()
            }
            "lock" => lock(card)?,
            other => bail!("unknown action '{other}'"),
        };
        Ok(serde_json::json!({ "done": done }))
    })
    .await
}

/// Runs blocking work (control sockets, PC/SC, the portal's command line) off the runtime.
async fn blocking<T: Serialize + Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Json(value).into_response(),
        Ok(Err(error)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": format!("{error:#}") })),
        )
            .into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

pub fn view(dir: &Path) -> Result<View> {
    let world = WorldState::load(dir)?;
    let portal_cards = world.portal.as_ref().and_then(|portal| {
        let output = std::process::Command::new(portal_program().ok()?)
            .arg("--config")
            .arg(&portal.config)
            .arg("cards")
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| serde_json::from_slice::<Vec<serde_json::Value>>(&output.stdout).ok())?
    });
    let mut cards = Vec::new();
    for card in &world.cards {
        let reply = control::send(&card.control, "status")?;
        let status = &reply["status"];
        let file: CardFile =
            serde_json::from_value(status["card"].clone()).context("reading the card's state")?;
        let on_portal = portal_cards.as_ref().map(|listed| {
            listed
                .iter()
                .find(|c| c["guid"].as_str() == Some(file.guid.to_ascii_lowercase().as_str()))
        });
        let flag = |name: &str| {
            on_portal.map(|found| found.is_some_and(|c| c[name].as_bool() == Some(true)))
        };
        cards.push(CardView {
            slot: card.slot,
            reader: card.reader.clone(),
            holder: file.holder_name.clone(),
            inserted: status["inserted"].as_bool() == Some(true),
            pin_retries_left: file.pin_retries_left,
            pin_blocked: file.pin_retries_left == 0,
            puk_retries_left: file.puk_retries_left,
            registered: flag("registered"),
            self_service_locked: flag("selfServiceLocked"),
        });
    }
    Ok(View {
        portal_url: world.portal.as_ref().map(|p| p.url.clone()),
        cards,
        mail: mailbox(world.portal.as_ref().map(|p| p.mail_dir.as_path())),
    })
}

/// The reference portal's program, beside this one.
fn portal_program() -> Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name("selfservice-portal"))
}

fn mailbox(dir: Option<&Path>) -> Vec<MailView> {
    let Some(dir) = dir else { return Vec::new() };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files.reverse();
    files
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|data| {
            let mail = Mail {
                from: String::new(),
                to: Vec::new(),
                data,
            };
            let header = |name: &str| {
                mail.data
                    .lines()
                    .take_while(|line| !line.is_empty())
                    .find_map(|line| line.strip_prefix(name))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            MailView {
                to: header("To:"),
                subject: mail.subject().unwrap_or_default().trim().to_string(),
                code: mail.code(),
                body: mail.body(),
            }
        })
        .collect()
}

/// Connects to the card in `reader` as another PC/SC client (the operating system's logon
/// would be one) and selects its PIV application.
fn connect_selected(reader: &str) -> Result<(pcsc::Context, pcsc::Card)> {
    let context = pcsc::Context::establish(pcsc::Scope::User).context("reaching pcscd")?;
    let reader = std::ffi::CString::new(reader)?;
    // pcscd polls the virtual reader; a card put in a moment ago may not be seen yet.
    let mut readers = [pcsc::ReaderState::new(reader.clone(), pcsc::State::UNAWARE)];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        context.get_status_change(std::time::Duration::from_millis(500), &mut readers)?;
        readers[0].sync_current_state();
        if readers[0].event_state().contains(pcsc::State::PRESENT) {
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!("pcscd has not seen the card in the reader yet: try again");
        }
    }
    let connection = context
        .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .context("connecting to the card")?;
    let select_piv = [
        0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00,
    ];
    if transmit(&connection, &select_piv, &mut [0u8; 258])? != 0x9000 {
        bail!("the card did not select its PIV application");
    }
    Ok((context, connection))
}

fn transmit(connection: &pcsc::Card, apdu: &[u8], buffer: &mut [u8]) -> Result<u16> {
    let reply = connection.transmit(apdu, buffer)?;
    let [.., sw1, sw2] = reply else {
        bail!("the card gave no status word")
    };
    Ok(u16::from_be_bytes([*sw1, *sw2]))
}

fn verify_command(passcode: &str) -> Vec<u8> {
    let mut verify = vec![0x00, 0x20, 0x00, 0x80, 0x08];
    verify.extend(passcode.bytes());
    verify.resize(13, 0xFF);
    verify
}

/// Types `passcode` into the card in `reader` once, as a person logging on to the computer
/// does (another PC/SC client); returns the card's status word.
pub fn type_passcode(reader: &str, passcode: &str) -> Result<u16> {
    let (_context, connection) = connect_selected(reader)?;
    let status = transmit(&connection, &verify_command(passcode), &mut [0u8; 258])?;
    // The logon is over: the PIN is no longer verified for anyone.
    let _ = connection.disconnect(pcsc::Disposition::ResetCard);
    Ok(status)
}

/// Types wrong passcodes into the card through PC/SC until it blocks, as a person who has
/// forgotten theirs does. Returns what happened.
fn lock(card: &WorldCard) -> Result<String> {
    let file = CardFile::load(&card.file)?;
    let wrong = ["000000", "111111"]
        .into_iter()
        .find(|candidate| *candidate != file.pin)
        .unwrap_or("222222");
    let inserted = control::send(&card.control, "status")?["status"]["inserted"] == true;
    if !inserted {
        bail!("the card is not in the reader: put it in first");
    }
    let (_context, connection) = connect_selected(&card.reader)?;
    let mut buffer = [0u8; 258];
    let mut send = |apdu: &[u8]| -> Result<u16> { transmit(&connection, apdu, &mut buffer) };
    let verify = verify_command(wrong);
    let mut typed = 0;
    while typed < 16 {
        let answer = send(&verify)?;
        // A wrong passcode counted: 63Cx, x tries left; 6983 is "blocked", before or by this try.
        if answer & 0xFFF0 == 0x63C0 || (answer == 0x6983 && typed > 0) {
            typed += 1;
        }
        match answer {
            0x6983 if typed == 0 => return Ok("The card was already locked.".into()),
            0x6983 | 0x63C0 => {
                return Ok(format!(
                    "Locked: {typed} wrong passcodes typed, the card is blocked."
                ))
            }
            sw if sw & 0xFFF0 == 0x63C0 => continue,
            sw => bail!("the card answered {sw:04X} to a wrong passcode"),
        }
    }
    bail!("the card was still not blocked after 16 wrong passcodes")
}
