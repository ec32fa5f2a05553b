//! PC/SC access: the context (re-established after the service restarts), reader snapshots,
//! waiting for a card, claiming a reader for one operation, and connections that always
//! disconnect with LeaveCard.

use std::collections::{BTreeSet, HashSet};
use std::ffi::{CStr, CString};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};

use crate::piv::transport::map_pcsc_error;
use crate::piv::CardError;

mod cancel;
pub use cancel::Cancel;

/// One reader as pcscd sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderSnapshot {
    pub name: CString,
    pub present: bool,
    pub atr: Vec<u8>,
}

impl ReaderSnapshot {
    pub fn display_name(&self) -> String {
        self.name.to_string_lossy().into_owned()
    }
}

/// Locks a mutex even if a panicking thread poisoned it (the data stays usable).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Shared PC/SC state of one host process.
#[derive(Default)]
pub struct Pcsc {
    context: Mutex<Option<Context>>,
    claimed: Mutex<HashSet<CString>>,
    /// Readers whose card an operation saw vanish, for the watcher's next look.
    removals: Mutex<BTreeSet<CString>>,
    /// The watcher's context, so a noted removal (or the end) can wake its wait.
    watcher: Mutex<Option<Context>>,
}

/// A new PC/SC context. Not getting one means the service cannot be used, whatever the error
/// says (Windows and Wine answer more than NO_SERVICE, e.g. an internal error), so `status` and
/// `doctor` say what the watcher says: unavailable.
pub fn establish() -> Result<Context, CardError> {
    Context::establish(Scope::User).map_err(no_context)
}

fn no_context(error: pcsc::Error) -> CardError {
    tracing::debug!(%error, "no PC/SC context");
    CardError::ServiceUnavailable
}

/// How often a card wait looks for a PC/SC service that is not there.
const SERVICE_RETRY: Duration = Duration::from_millis(250);

impl Pcsc {
    /// The context, established on first use and again after the service went away.
    pub fn context(&self) -> Result<Context, CardError> {
        let mut cached = lock(&self.context);
        if let Some(context) = cached.as_ref() {
            if context.is_valid().is_ok() {
                return Ok(context.clone());
            }
        }
        let context = establish()?;
        *cached = Some(context.clone());
        Ok(context)
    }

    /// Forgets the context: after pcscd restarts an old context answers NO_SERVICE for good.
    pub fn forget_context(&self) {
        *lock(&self.context) = None;
    }

    /// An operation saw the card in `reader` vanish (its APDU failed). The service may not
    /// notice if the card is back before its next poll, so the watcher is told directly.
    pub fn note_removed(&self, reader: &CStr) {
        lock(&self.removals).insert(reader.to_owned());
        self.wake_watcher();
    }

    pub fn take_removals(&self) -> BTreeSet<CString> {
        std::mem::take(&mut *lock(&self.removals))
    }

    pub fn has_removals(&self) -> bool {
        !lock(&self.removals).is_empty()
    }

    pub fn set_watcher_context(&self, context: Option<Context>) {
        *lock(&self.watcher) = context;
    }

    /// Ends the watcher's current wait (it then looks again, or stops if told to).
    pub fn wake_watcher(&self) {
        if let Some(context) = lock(&self.watcher).as_ref() {
            let _ = context.cancel();
        }
    }

    /// Runs `f` with the context, re-establishing it once if the service was restarted.
    fn with_context<T>(
        &self,
        f: impl Fn(&Context) -> Result<T, CardError>,
    ) -> Result<T, CardError> {
        match f(&self.context()?) {
            Err(CardError::ServiceUnavailable) => {
                self.forget_context();
                f(&self.context()?)
            }
            other => other,
        }
    }

    /// Every reader with whether a card is in it, without waiting.
    pub fn snapshot(&self) -> Result<Vec<ReaderSnapshot>, CardError> {
        self.with_context(|context| {
            let names = list_readers(context)?;
            if names.is_empty() {
                return Ok(Vec::new());
            }
            let mut states: Vec<ReaderState> = names
                .iter()
                .map(|n| ReaderState::new(n.clone(), State::UNAWARE))
                .collect();
            look_now(context, &mut states).map_err(map_pcsc_error)?;
            Ok(states
                .iter()
                .map(|s| {
                    let state = s.event_state();
                    ReaderSnapshot {
                        name: s.name().to_owned(),
                        present: state.contains(State::PRESENT) && !state.contains(State::MUTE),
                        atr: s.atr().to_vec(),
                    }
                })
                .collect())
        })
    }

    /// The reader to work with: the one asked for, or the only one holding a card. Waits up
    /// to `wait` for a card when there is none (event-driven; `cancel` ends the wait).
    pub fn choose(
        &self,
        requested: Option<&str>,
        wait: Option<Duration>,
        cancel: &Cancel,
    ) -> Result<ReaderSnapshot, CardError> {
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            let readers = match (self.snapshot(), deadline) {
                // Windows stops its Smart Card service while no reader is plugged in and
                // starts it when one is: a card wait waits through that, looking again a few
                // times a second (the service gives no signal when it comes back).
                (Err(CardError::ServiceUnavailable), Some(deadline)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(CardError::ServiceUnavailable);
                    }
                    std::thread::sleep(left.min(SERVICE_RETRY));
                    if cancel.is_cancelled() {
                        return Err(CardError::Cancelled);
                    }
                    continue;
                }
                (readers, _) => readers?,
            };
            let candidates: Vec<&ReaderSnapshot> = match requested {
                Some(name) => {
                    let found: Vec<_> = readers
                        .iter()
                        .filter(|r| r.display_name() == name)
                        .collect();
                    if found.is_empty() {
                        return Err(CardError::NoReader);
                    }
                    found
                }
                None => readers.iter().collect(),
            };
            if readers.is_empty() && deadline.is_none() {
                return Err(CardError::NoReader);
            }
            let with_card: Vec<&ReaderSnapshot> =
                candidates.iter().copied().filter(|r| r.present).collect();
            match with_card.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                _ => return Err(CardError::MultipleCards),
            }
            let Some(deadline) = deadline else {
                return Err(if readers.is_empty() {
                    CardError::NoReader
                } else {
                    CardError::NoCard
                });
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CardError::Timeout);
            }
            cancel.wait_for_change(&readers, left)?;
        }
    }

    /// Marks a reader as in use for one operation; a second operation on it gets `busy`.
    pub fn claim(self: &Arc<Self>, reader: &CStr) -> Result<Claim, CardError> {
        let mut claimed = lock(&self.claimed);
        if !claimed.insert(reader.to_owned()) {
            return Err(CardError::Busy);
        }
        Ok(Claim {
            pcsc: Arc::clone(self),
            reader: reader.to_owned(),
        })
    }

    /// Whether an operation of this host already holds the reader a request would use (the
    /// named one, or any when none is named). Checked before any PC/SC call: calls on one
    /// PC/SC context wait for each other, so a second operation that looked at the readers
    /// first would wait for the first one's APDU in flight instead of being told `busy`.
    pub fn busy_for(&self, requested: Option<&str>) -> bool {
        let claimed = lock(&self.claimed);
        match requested {
            None => !claimed.is_empty(),
            Some(name) => claimed.iter().any(|r| r.to_string_lossy() == name),
        }
    }

    pub fn is_claimed(&self, reader: &CStr) -> bool {
        lock(&self.claimed).contains(reader)
    }

    pub fn connect(self: &Arc<Self>, reader: &CStr) -> Result<Connection, CardError> {
        self.with_context(|context| {
            context
                .connect(reader, ShareMode::Shared, Protocols::ANY)
                .map(|card| Connection {
                    card: Some(card),
                    reader: reader.to_owned(),
                    pcsc: Arc::clone(self),
                })
                .map_err(map_pcsc_error)
        })
    }
}

/// The readers' states now, without waiting (SCardGetStatusChange with no timeout; its
/// "timed out" answer only means nothing changed since `states`).
pub fn look_now(context: &Context, states: &mut [ReaderState]) -> Result<(), pcsc::Error> {
    match context.get_status_change(Duration::ZERO, states) {
        Ok(()) | Err(pcsc::Error::Timeout) => Ok(()),
        Err(e) => Err(e),
    }
}

fn list_readers(context: &Context) -> Result<Vec<CString>, CardError> {
    let length = match context.list_readers_len() {
        Ok(length) => length,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(e) => return Err(map_pcsc_error(e)),
    };
    let mut buffer = vec![0u8; length];
    match context.list_readers(&mut buffer) {
        Ok(names) => Ok(names.map(CStr::to_owned).collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(map_pcsc_error(e)),
    }
}

/// A reader claimed for one operation; released when dropped.
pub struct Claim {
    pcsc: Arc<Pcsc>,
    reader: CString,
}

impl Drop for Claim {
    fn drop(&mut self) {
        lock(&self.pcsc.claimed).remove(&self.reader);
    }
}

/// A card connection that disconnects with LeaveCard: the `pcsc` crate's own Drop resets
/// the card, which would throw away the state an operation just set up.
pub struct Connection {
    card: Option<pcsc::Card>,
    reader: CString,
    pcsc: Arc<Pcsc>,
}

impl Connection {
    /// Runs `f` inside one PC/SC transaction, so nothing else talks to the card in between.
    pub fn transaction<T, E: From<CardError>>(
        &mut self,
        f: impl FnOnce(&mut crate::piv::transport::PcscTransport<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let card = self.card.as_mut().ok_or(CardError::CardRemoved)?;
        let transaction = card.transaction().map_err(map_pcsc_error)?;
        let mut transport = crate::piv::transport::PcscTransport::new(&transaction);
        let result = f(&mut transport);
        if transport.saw_removal() {
            self.pcsc.note_removed(&self.reader);
        }
        // Ending may fail when the card has gone; the operation's own result says more.
        let disposition = if transport.wants_reset() {
            Disposition::ResetCard
        } else {
            Disposition::LeaveCard
        };
        let _ = transaction.end(disposition);
        result
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(card) = self.card.take() {
            if let Err((card, _)) = card.disconnect(Disposition::LeaveCard) {
                // Dropping it would reset the card; leak the handle instead (the card is
                // gone or the service is down, and this process is short-lived).
                std::mem::forget(card);
            }
        }
    }
}

#[cfg(test)]
mod establish_tests;
