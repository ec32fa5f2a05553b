//! Reader and card events, pushed as they happen: a thread blocked in SCardGetStatusChange on
//! every reader plus the PnP pseudo-reader (for readers plugged in or out), never polling.
//! When the PC/SC service goes away it says so, retries with backoff, and says when it is back.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pcsc::{Context, ReaderState, Scope, State};
use selfservice_rules::protocol::HostEvent;

use crate::readers::{lock, Pcsc};

pub struct Watcher {
    stopping: Arc<AtomicBool>,
    context: Arc<Mutex<Option<Context>>>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn spawn(pcsc: Arc<Pcsc>, emit: impl Fn(HostEvent) + Send + 'static) -> Watcher {
        let stopping = Arc::new(AtomicBool::new(false));
        let context = Arc::new(Mutex::new(None));
        let thread = {
            let (stopping, context) = (Arc::clone(&stopping), Arc::clone(&context));
            std::thread::spawn(move || watch(&pcsc, &emit, &stopping, &context))
        };
        Watcher {
            stopping,
            context,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(context) = lock(&self.context).as_ref() {
            let _ = context.cancel();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(
    pcsc: &Pcsc,
    emit: &dyn Fn(HostEvent),
    stopping: &AtomicBool,
    slot: &Mutex<Option<Context>>,
) {
    // reader -> card present; announced changes are against this.
    let mut known: BTreeMap<CString, bool> = BTreeMap::new();
    let mut service_up: Option<bool> = None;
    let mut backoff = Duration::from_millis(250);
    while !stopping.load(Ordering::SeqCst) {
        let context = match Context::establish(Scope::User) {
            Ok(context) => context,
            Err(_) => {
                if service_up != Some(false) {
                    forget_all(&mut known, emit);
                    emit(HostEvent::ServiceUnavailable);
                    service_up = Some(false);
                }
                // The service gives no signal when it comes back; retry, backing off.
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(250);
        if service_up == Some(false) {
            pcsc.forget_context();
            emit(HostEvent::ServiceAvailable);
        }
        let first = service_up.is_none();
        *lock(slot) = Some(context.clone());
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        match follow(&context, &mut known, emit, first, stopping) {
            Ok(()) => return,
            Err(_) => {
                forget_all(&mut known, emit);
                emit(HostEvent::ServiceUnavailable);
                service_up = Some(false);
            }
        }
    }
}

/// Follows one context until the service fails (`Err`) or we are told to stop (`Ok`).
fn follow(
    context: &Context,
    known: &mut BTreeMap<CString, bool>,
    emit: &dyn Fn(HostEvent),
    mut silent: bool,
    stopping: &AtomicBool,
) -> Result<(), pcsc::Error> {
    loop {
        let readers = readers(context)?;
        let mut states: Vec<ReaderState> = readers
            .iter()
            .map(|r| ReaderState::new(r.clone(), State::UNAWARE))
            .collect();
        states.push(ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE));
        match context.get_status_change(Duration::ZERO, &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => return Err(e),
        }
        let now: BTreeMap<CString, bool> = states
            .iter()
            .filter(|s| s.name() != pcsc::PNP_NOTIFICATION())
            .map(|s| {
                let e = s.event_state();
                (
                    s.name().to_owned(),
                    e.contains(State::PRESENT) && !e.contains(State::MUTE),
                )
            })
            .collect();
        if !silent {
            announce(known, &now, emit);
        }
        silent = false;
        *known = now;
        states.iter_mut().for_each(ReaderState::sync_current_state);
        if stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        match context.get_status_change(None, &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(pcsc::Error::Cancelled) if stopping.load(Ordering::SeqCst) => return Ok(()),
            Err(pcsc::Error::Cancelled) => {}
            Err(e) => return Err(e),
        }
    }
}

fn readers(context: &Context) -> Result<Vec<CString>, pcsc::Error> {
    let length = match context.list_readers_len() {
        Ok(length) => length,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut buffer = vec![0u8; length];
    match context.list_readers(&mut buffer) {
        Ok(names) => Ok(names.map(CStr::to_owned).collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn name(reader: &CStr) -> String {
    reader.to_string_lossy().into_owned()
}

fn announce(
    before: &BTreeMap<CString, bool>,
    now: &BTreeMap<CString, bool>,
    emit: &dyn Fn(HostEvent),
) {
    for (reader, had_card) in before {
        match now.get(reader) {
            None => {
                if *had_card {
                    emit(HostEvent::CardRemoved {
                        reader: name(reader),
                    });
                }
                emit(HostEvent::ReaderRemoved {
                    reader: name(reader),
                });
            }
            Some(true) if !had_card => emit(HostEvent::CardInserted {
                reader: name(reader),
            }),
            Some(false) if *had_card => emit(HostEvent::CardRemoved {
                reader: name(reader),
            }),
            _ => {}
        }
    }
    for (reader, has_card) in now {
        if !before.contains_key(reader) {
            emit(HostEvent::ReaderAdded {
                reader: name(reader),
            });
            if *has_card {
                emit(HostEvent::CardInserted {
                    reader: name(reader),
                });
            }
        }
    }
}

fn forget_all(known: &mut BTreeMap<CString, bool>, emit: &dyn Fn(HostEvent)) {
    announce(known, &BTreeMap::new(), emit);
    known.clear();
}
