//! Reader and card events, pushed as they happen: a thread blocked in SCardGetStatusChange on
//! every reader plus the PnP pseudo-reader (for readers plugged in or out). The wait is cut
//! short at least every [`LOOK_AT_LEAST_EVERY`], for one reason only: an operation's "the card
//! went" note wakes the wait with SCardCancel, and a cancel sent while the thread is between
//! two waits is not kept by the service. Without the bound that note could sit unseen while
//! the card, put back before pcscd's next poll, never showed the service a change, and the
//! page waited for an insertion that was never announced (a pull and an immediate put-back
//! mid-unlock; seen under load, 4 runs in 15).
//! When the PC/SC service goes away it says so, retries with backoff, and says when it is back.
//!
//! What is announced is decided by [`Tracker`], which compares each look at the readers with
//! the last one by presence *and* by the service's per-reader event counter, so a card pulled
//! and put back between two looks still gives both events.
//!
//! One case the service itself cannot see: a reader driver that polls for the card (pcscd
//! asks such drivers every 400 ms) misses a card pulled and put back between two polls. If
//! that happens during an operation, the operation saw the card go (its APDU failed) and tells
//! the watcher through [`Pcsc::note_removed`]; the watcher announces the removal at once and
//! the insertion once the service has had time to poll and still finds a card. Without this,
//! a card pulled mid-unlock and put back quickly was never announced as back, and the unlock
//! page waited for an insertion that never came (the root cause of the "reinsert never
//! finishes" failure).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcsc::{Context, ReaderState, State};
use selfservice_rules::protocol::HostEvent;

use crate::readers::Pcsc;

/// How long after an operation saw its card vanish the watcher waits for the service to
/// notice before believing a card it still reports: more than two of pcscd's 400 ms polls.
pub const CONFIRM_REINSERTED_AFTER: Duration = Duration::from_millis(1000);

/// The longest the watcher waits without looking, in case a wake-up was lost (see above).
pub const LOOK_AT_LEAST_EVERY: Duration = Duration::from_millis(500);

pub struct Watcher {
    stopping: Arc<AtomicBool>,
    pcsc: Arc<Pcsc>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn spawn(pcsc: Arc<Pcsc>, emit: impl Fn(HostEvent) + Send + 'static) -> Watcher {
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stopping, pcsc) = (Arc::clone(&stopping), Arc::clone(&pcsc));
            std::thread::spawn(move || watch(&pcsc, &emit, &stopping))
        };
        Watcher {
            stopping,
            pcsc,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.pcsc.wake_watcher();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(pcsc: &Pcsc, emit: &dyn Fn(HostEvent), stopping: &AtomicBool) {
    let mut tracker = Tracker::default();
    let mut service_up: Option<bool> = None;
    let mut backoff = Duration::from_millis(250);
    while !stopping.load(Ordering::SeqCst) {
        let context = match crate::readers::establish() {
            Ok(context) => context,
            Err(_) => {
                if service_up != Some(false) {
                    tracker.forget_all().into_iter().for_each(emit);
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
        pcsc.set_watcher_context(Some(context.clone()));
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let outcome = follow(pcsc, &context, &mut tracker, emit, first, stopping);
        pcsc.set_watcher_context(None);
        match outcome {
            Ok(()) => return,
            Err(_) => {
                tracker.forget_all().into_iter().for_each(emit);
                emit(HostEvent::ServiceUnavailable);
                service_up = Some(false);
            }
        }
    }
}

/// Follows one context until the service fails (`Err`) or we are told to stop (`Ok`).
fn follow(
    pcsc: &Pcsc,
    context: &Context,
    tracker: &mut Tracker,
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
        crate::readers::look_now(context, &mut states)?;
        let now: BTreeMap<CString, Seen> = states
            .iter()
            .filter(|s| s.name() != pcsc::PNP_NOTIFICATION())
            .map(|s| (s.name().to_owned(), Seen::of(s)))
            .collect();
        let noted = pcsc.take_removals();
        let look = tracker.look(now, &noted, Instant::now());
        if !silent {
            look.events.into_iter().for_each(emit);
        }
        silent = false;
        // Name each card now, off the request path: the name comes from a half-megabyte list
        // read once per ATR, and the first `status` (asked as soon as the host starts) would
        // otherwise wait for it. Cached, so later looks cost nothing.
        for state in &states {
            if state.event_state().contains(State::PRESENT) && !state.atr().is_empty() {
                let _ = crate::piv::known_cards::name_for(state.atr());
            }
        }
        states.iter_mut().for_each(ReaderState::sync_current_state);
        if stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        // A removal noted since this look began would otherwise wait for the next event
        // (a cancel that lands before the wait starts is not kept by the service).
        if pcsc.has_removals() {
            continue;
        }
        let wait = look
            .look_again_in
            .map_or(LOOK_AT_LEAST_EVERY, |d| d.min(LOOK_AT_LEAST_EVERY));
        match context.get_status_change(Some(wait), &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            // Cancelled: told to stop, or an operation noted a removal.
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

/// One reader at one look: whether a usable card is in it, and the service's count of card
/// insertions and removals in that reader so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub present: bool,
    pub events: u32,
}

impl Seen {
    fn of(state: &ReaderState) -> Seen {
        let e = state.event_state();
        Seen {
            present: e.contains(State::PRESENT) && !e.contains(State::MUTE),
            events: state.event_count(),
        }
    }
}

/// What one look at the readers says, and when to look again without being woken.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Look {
    pub events: Vec<HostEvent>,
    /// `None`: wait for the service to report a change.
    pub look_again_in: Option<Duration>,
}

/// A reader whose card an operation saw vanish while the service still reported it.
#[derive(Debug, Clone, Copy)]
struct Unconfirmed {
    events: u32,
    since: Instant,
}

/// The watcher's memory between looks: what was announced per reader, and which readers an
/// operation reported emptied before the service noticed.
#[derive(Debug, Default)]
pub struct Tracker {
    /// What was last announced: the reader's card present or not, and its event count.
    announced: BTreeMap<CString, Seen>,
    unconfirmed: BTreeMap<CString, Unconfirmed>,
}

impl Tracker {
    /// Compares a new look with what was announced. `noted` are readers whose card an
    /// operation saw vanish since the last look; `at` is when this look was taken.
    pub fn look(
        &mut self,
        now: BTreeMap<CString, Seen>,
        noted: &BTreeSet<CString>,
        at: Instant,
    ) -> Look {
        let mut events = Vec::new();
        for (reader, before) in &self.announced {
            if !now.contains_key(reader) {
                if before.present {
                    events.push(HostEvent::CardRemoved {
                        reader: name(reader),
                    });
                }
                events.push(HostEvent::ReaderRemoved {
                    reader: name(reader),
                });
            }
        }
        self.unconfirmed
            .retain(|reader, _| now.contains_key(reader));
        let mut look_again_in: Option<Duration> = None;
        for (reader, seen) in &now {
            let Some(before) = self.announced.get(reader).copied() else {
                events.push(HostEvent::ReaderAdded {
                    reader: name(reader),
                });
                if seen.present {
                    events.push(HostEvent::CardInserted {
                        reader: name(reader),
                    });
                }
                continue;
            };
            let (inserted, removed) = (
                HostEvent::CardInserted {
                    reader: name(reader),
                },
                HostEvent::CardRemoved {
                    reader: name(reader),
                },
            );
            let unchanged = seen.present && seen.events == before.events;
            if noted.contains(reader) && before.present && unchanged {
                // The operation knows better than the service's last poll: the card went.
                events.push(removed);
                self.unconfirmed.insert(
                    reader.clone(),
                    Unconfirmed {
                        events: seen.events,
                        since: at,
                    },
                );
                look_again_in = earliest(look_again_in, CONFIRM_REINSERTED_AFTER);
                continue;
            }
            if let Some(pending) = self.unconfirmed.get(reader).copied() {
                if seen.events == pending.events && seen.present {
                    let waited = at.saturating_duration_since(pending.since);
                    if waited < CONFIRM_REINSERTED_AFTER {
                        look_again_in = earliest(look_again_in, CONFIRM_REINSERTED_AFTER - waited);
                        continue;
                    }
                    // The service has polled since and still finds a card: it is back.
                }
                self.unconfirmed.remove(reader);
                if seen.present {
                    events.push(inserted);
                }
                continue;
            }
            match (before.present, seen.present) {
                (true, false) => events.push(removed),
                (false, true) => events.push(inserted),
                // Pulled and put back between two looks: the counter moved.
                (true, true) if seen.events != before.events => {
                    events.push(removed);
                    events.push(inserted);
                }
                _ => {}
            }
        }
        self.announced = now;
        for (reader, pending) in &self.unconfirmed {
            // Announced as gone; remembered so, until confirmed back.
            self.announced.insert(
                reader.clone(),
                Seen {
                    present: false,
                    events: pending.events,
                },
            );
        }
        Look {
            events,
            look_again_in,
        }
    }

    /// Everything announced so far goes (the service went away).
    pub fn forget_all(&mut self) -> Vec<HostEvent> {
        let look = self.look(BTreeMap::new(), &BTreeSet::new(), Instant::now());
        self.unconfirmed.clear();
        look.events
    }
}

fn earliest(current: Option<Duration>, candidate: Duration) -> Option<Duration> {
    Some(current.map_or(candidate, |c| c.min(candidate)))
}

fn name(reader: &CStr) -> String {
    reader.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests;
