//! Plugging a card into vpcd: the card connects to the reader driver's TCP port, answers its
//! frames, and is "removed" by closing the connection. Insertion, removal and faults can be
//! ordered at any time from another thread (or, through `control`, another process).
//!
//! vpcd framing (vsmartcard `vpcd.c`): u16 big-endian length, then that many bytes. A 1-byte
//! frame is a control code (00 power off, 01 power on, 02 reset: no reply; 04 get ATR: reply
//! with the ATR); anything longer is a command APDU answered by one response APDU.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::card_file::CardFile;
use crate::piv::PivCard;
use selfservice_rules::passcode::CardPinConstraint;

/// ATR of a T=1 card whose historical bytes say "SSS-PIV": a standard PIV personalisation.
pub const ATR_PIV: &[u8] = &[
    0x3B, 0x88, 0x80, 0x01, 0x53, 0x53, 0x53, 0x2D, 0x50, 0x49, 0x56, 0x00, 0x0D,
];
/// "SSS-LEG": a PIV card personalised for the legacy NHS passcode rule (4 to 8 printable
/// characters). Real issuers tell such card generations apart by ATR the same way.
pub const ATR_LEGACY_PRINTABLE: &[u8] = &[
    0x3B, 0x88, 0x80, 0x01, 0x53, 0x53, 0x53, 0x2D, 0x4C, 0x45, 0x47, 0x00, 0x0D,
];

/// The ATR a card of this PIN rule presents.
pub fn atr(rule: CardPinConstraint) -> &'static [u8] {
    match rule {
        CardPinConstraint::PivStrict => ATR_PIV,
        CardPinConstraint::LegacyPrintable => ATR_LEGACY_PRINTABLE,
    }
}

/// A fault to inject, counted from the moment it is armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// Receive the Nth APDU, then vanish without running it.
    RemoveBefore { apdu: u32 },
    /// Run the Nth APDU (its effect is kept), then vanish without answering.
    RemoveAfter { apdu: u32 },
    /// Answer the Nth APDU with this status word instead of running it.
    StatusWord { apdu: u32, sw: u16 },
    /// Receive the first command with this INS byte (e.g. 0x2C, RESET RETRY COUNTER) and, if
    /// given, this P2 (0x24 with P2 0x81: CHANGE REFERENCE DATA of the PUK), then vanish
    /// without running it: a pull at a step, whatever came before it.
    RemoveBeforeCommand { ins: u8, p2: Option<u8> },
    /// Run the first such command, then vanish without answering.
    RemoveAfterCommand { ins: u8, p2: Option<u8> },
    /// Receive the Nth APDU and hold it, unanswered, until [`RunningCard::release`]: an
    /// operation caught mid-way for as long as the test needs, without waiting on a clock.
    HoldBefore { apdu: u32 },
}

/// What the control side can see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub inserted: bool,
    pub connected: bool,
    pub apdus: u64,
    pub fault: Option<Fault>,
    /// Whether the PIN is verified right now: any program could use the 9A key.
    #[serde(default)]
    pub pin_verified: bool,
    /// An APDU is being held by [`Fault::HoldBefore`].
    #[serde(default)]
    pub holding: bool,
    pub card: CardFile,
}

struct Shared {
    card: PivCard,
    path: Option<PathBuf>,
    inserted: bool,
    stopping: bool,
    connection: Option<TcpStream>,
    apdus: u64,
    fault: Option<Fault>,
    since_armed: u32,
    holding: bool,
    save_error: Option<String>,
    /// Every command APDU received while recording (for the bench to replay them straight).
    recording: Option<Vec<Vec<u8>>>,
}

/// A card running in a thread, plugged into one vpcd slot.
pub struct RunningCard {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    pub port: u16,
}

impl RunningCard {
    /// Starts the card on `port` (vpcd's slot 0 port, or that port + 1 for slot 1). When
    /// `path` is given, the card file there is rewritten after every change of state.
    pub fn start(card: PivCard, path: Option<PathBuf>, port: u16, inserted: bool) -> RunningCard {
        let shared = Arc::new((
            Mutex::new(Shared {
                card,
                path,
                inserted,
                stopping: false,
                connection: None,
                apdus: 0,
                fault: None,
                since_armed: 0,
                holding: false,
                save_error: None,
                recording: None,
            }),
            Condvar::new(),
        ));
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::spawn(move || run(&for_thread, port));
        RunningCard {
            shared,
            thread: Some(thread),
            port,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared.0)
    }

    pub fn insert(&self) {
        self.lock().inserted = true;
        self.shared.1.notify_all();
    }

    /// Pulls the card out: the connection closes, vpcd reports the card absent.
    pub fn remove(&self) {
        let mut shared = self.lock();
        shared.inserted = false;
        if let Some(connection) = shared.connection.take() {
            let _ = connection.shutdown(Shutdown::Both);
        }
        self.shared.1.notify_all();
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        let mut shared = self.lock();
        shared.fault = fault;
        shared.since_armed = 0;
    }

    /// Lets a held APDU through (see [`Fault::HoldBefore`]).
    pub fn release(&self) {
        let mut shared = self.lock();
        if matches!(shared.fault, Some(Fault::HoldBefore { .. })) {
            shared.fault = None;
        }
        self.shared.1.notify_all();
    }

    /// Waits until an APDU is held (see [`Fault::HoldBefore`]); false if the card was
    /// stopped or pulled first.
    pub fn wait_until_holding(&self) -> bool {
        let mut shared = self.lock();
        while !shared.holding {
            if shared.stopping || !shared.inserted {
                return false;
            }
            shared = self
                .shared
                .1
                .wait(shared)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        true
    }

    pub fn status(&self) -> Status {
        let shared = self.lock();
        Status {
            inserted: shared.inserted,
            connected: shared.connection.is_some(),
            apdus: shared.apdus,
            fault: shared.fault,
            pin_verified: shared.card.pin_verified(),
            holding: shared.holding,
            card: shared.card.file.clone(),
        }
    }

    /// Starts keeping every command APDU the card receives, PINs and PUKs included (a test
    /// card's; this is for the bench, which replays them straight through PC/SC).
    pub fn start_recording(&self) {
        self.lock().recording = Some(Vec::new());
    }

    /// The command APDUs received since [`RunningCard::start_recording`], which it ends.
    pub fn take_recording(&self) -> Vec<Vec<u8>> {
        self.lock().recording.take().unwrap_or_default()
    }

    /// Puts the card back into the state `file` describes (as if that card were swapped in
    /// without a pull), so an operation that changes the card can be timed again from the
    /// same state.
    pub fn restore(&self, file: CardFile) -> Result<()> {
        let card = PivCard::new(file)?;
        let mut shared = self.lock();
        if let Some(path) = &shared.path {
            card.file.save(path)?;
        }
        shared.card = card;
        Ok(())
    }

    /// The last error writing the card file, if any (a test should fail on it).
    pub fn save_error(&self) -> Option<String> {
        self.lock().save_error.clone()
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        {
            let mut shared = self.lock();
            shared.stopping = true;
            if let Some(connection) = shared.connection.take() {
                let _ = connection.shutdown(Shutdown::Both);
            }
        }
        self.shared.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningCard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock(mutex: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic elsewhere must not wedge the card: the state is still consistent per APDU.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run(shared: &Arc<(Mutex<Shared>, Condvar)>, port: u16) {
    let (mutex, condvar) = &**shared;
    loop {
        {
            let mut state = lock(mutex);
            while !state.inserted && !state.stopping {
                state = condvar
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if state.stopping {
                return;
            }
        }
        // vpcd listens once pcscd has loaded it; keep trying while the card is "inserted".
        let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
            let state = lock(mutex);
            let _ = condvar.wait_timeout(state, Duration::from_millis(100));
            continue;
        };
        let _ = stream.set_nodelay(true);
        {
            let mut state = lock(mutex);
            if state.stopping || !state.inserted {
                let _ = stream.shutdown(Shutdown::Both);
                continue;
            }
            state.connection = stream.try_clone().ok();
            state.card.reset();
        }
        let _ = serve(stream, mutex, condvar);
        let mut state = lock(mutex);
        state.connection = None;
        state.card.reset();
    }
}

/// Answers vpcd until the connection closes (removal, fault, pcscd gone).
fn serve(mut stream: TcpStream, mutex: &Mutex<Shared>, condvar: &Condvar) -> std::io::Result<()> {
    loop {
        let mut length = [0u8; 2];
        quickack(&stream);
        stream.read_exact(&mut length)?;
        quickack(&stream);
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut message)?;
        quickack(&stream);
        let reply = {
            let mut state = lock(mutex);
            if message.len() > 1 {
                state = hold_while_asked(state, condvar);
                if !state.inserted || state.stopping {
                    // Pulled (or stopped) while held: the APDU never ran, and the hold is over.
                    state.fault = None;
                    return Ok(());
                }
            }
            match message.as_slice() {
                [0x00] | [0x02] => {
                    state.card.reset();
                    None
                }
                [0x01] => None,
                [0x04] => Some(
                    state
                        .card
                        .file
                        .atr_bytes()
                        .unwrap_or_else(|| atr(state.card.file.pin_rule).to_vec()),
                ),
                apdu => match answer(&mut state, apdu) {
                    Some(reply) => Some(reply),
                    None => {
                        // Vanish mid-APDU: vpcd hands pcscd an empty response.
                        state.inserted = false;
                        state.connection = None;
                        let _ = stream.shutdown(Shutdown::Both);
                        return Ok(());
                    }
                },
            }
        };
        if let Some(reply) = reply {
            send(&mut stream, &reply)?;
        }
    }
}

/// Holds the APDU about to run while a [`Fault::HoldBefore`] for it is armed.
fn hold_while_asked<'a>(
    mut state: MutexGuard<'a, Shared>,
    condvar: &Condvar,
) -> MutexGuard<'a, Shared> {
    while matches!(state.fault, Some(Fault::HoldBefore { apdu }) if state.since_armed + 1 == apdu)
        && state.inserted
        && !state.stopping
    {
        if !state.holding {
            state.holding = true;
            condvar.notify_all();
        }
        state = condvar
            .wait(state)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    state.holding = false;
    state
}

/// Runs one APDU, honouring an armed fault; `None` means the card is pulled out now.
fn answer(state: &mut Shared, apdu: &[u8]) -> Option<Vec<u8>> {
    if let Some(recording) = &mut state.recording {
        recording.push(apdu.to_vec());
    }
    state.apdus += 1;
    state.since_armed = state.since_armed.saturating_add(1);
    let due = |n: u32| state.since_armed == n;
    let is = |ins: u8, p2: Option<u8>| {
        apdu.get(1) == Some(&ins) && p2.is_none_or(|p2| apdu.get(3) == Some(&p2))
    };
    match state.fault {
        Some(Fault::RemoveBefore { apdu: n }) if due(n) => {
            state.fault = None;
            return None;
        }
        Some(Fault::RemoveBeforeCommand { ins, p2 }) if is(ins, p2) => {
            state.fault = None;
            return None;
        }
        Some(Fault::StatusWord { apdu: n, sw }) if due(n) => {
            state.fault = None;
            return Some(sw.to_be_bytes().to_vec());
        }
        _ => {}
    }
    let (reply, changed) = state.card.process(apdu);
    if changed {
        if let Some(path) = &state.path {
            if let Err(error) = state.card.file.save(path) {
                state.save_error = Some(format!("{error:#}"));
            }
        }
    }
    match state.fault {
        Some(Fault::RemoveAfter { apdu: n }) if due(n) => {
            state.fault = None;
            None
        }
        Some(Fault::RemoveAfterCommand { ins, p2 }) if is(ins, p2) => {
            state.fault = None;
            None
        }
        _ => Some(reply),
    }
}

/// One write per frame: Debian 12's vpcd otherwise waits 40 ms for a delayed ACK.
fn send(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<()> {
    let length = u16::try_from(message.len())
        .map_err(|_| std::io::Error::other("response longer than a vpcd frame"))?;
    let mut frame = length.to_be_bytes().to_vec();
    frame.extend_from_slice(message);
    stream.write_all(&frame)
}

/// TCP_QUICKACK after every read: vpcd writes length and payload in two sends with Nagle on,
/// and without a quick ACK each APDU stalls for the 40 ms delayed-ACK timer.
#[cfg(target_os = "linux")]
fn quickack(stream: &TcpStream) {
    let socket = socket2::SockRef::from(stream);
    let _ = socket.set_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quickack(_stream: &TcpStream) {}

/// Loads a card file, settles a relative expiry, issues keys from the CA when missing, and
/// saves it back so later runs reuse them.
pub fn prepare_card(path: &std::path::Path, ca: &crate::ca::TestCa) -> Result<PivCard> {
    let mut file = CardFile::load(path)?;
    let today = time::OffsetDateTime::now_utc().date();
    let mut changed = file.settle_expiry(today)?;
    if file.keys.is_none() {
        file.keys = Some(ca.issue_card_keys(&file)?);
        changed = true;
    }
    if changed {
        file.save(path)?;
    }
    PivCard::new(file)
}
