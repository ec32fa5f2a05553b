//! Cancelling a request that waits for a card: the wait runs on its own PC/SC context, which
//! the cancel ends (SCardCancel), so one request's cancel never disturbs another's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pcsc::{Context, ReaderState, State};

use super::{establish, lock, ReaderSnapshot};
use crate::piv::transport::map_pcsc_error;
use crate::piv::CardError;

/// A request's cancellation: ends a card wait early through its own PC/SC context.
#[derive(Default, Clone)]
pub struct Cancel {
    cancelled: Arc<AtomicBool>,
    waiting: Arc<Mutex<Option<Context>>>,
}

impl Cancel {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(context) = lock(&self.waiting).as_ref() {
            let _ = context.cancel();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Blocks until a reader's state changes, the time runs out, or the request is cancelled.
    pub(super) fn wait_for_change(
        &self,
        readers: &[ReaderSnapshot],
        timeout: Duration,
    ) -> Result<(), CardError> {
        if self.is_cancelled() {
            return Err(CardError::Cancelled);
        }
        let context = establish()?;
        *lock(&self.waiting) = Some(context.clone());
        if self.is_cancelled() {
            return Err(CardError::Cancelled);
        }
        let mut states: Vec<ReaderState> = readers
            .iter()
            .map(|r| ReaderState::new(r.name.clone(), State::UNAWARE))
            .collect();
        // The PnP pseudo-reader wakes us when a reader is plugged in.
        states.push(ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE));
        // First learn the current states (returns at once), then wait for a change from them.
        let outcome = super::look_now(&context, &mut states).and_then(|()| {
            // A change between the snapshot and now: no need to wait.
            let changed = readers.iter().zip(&states).any(|(r, s)| {
                s.event_state().contains(State::PRESENT) != r.present
                    || s.event_state().contains(State::UNKNOWN)
            });
            if changed {
                return Ok(());
            }
            states.iter_mut().for_each(ReaderState::sync_current_state);
            context.get_status_change(timeout, &mut states)
        });
        *lock(&self.waiting) = None;
        match outcome {
            Ok(()) | Err(pcsc::Error::Timeout) => Ok(()),
            Err(pcsc::Error::Cancelled) => Err(CardError::Cancelled),
            Err(e) => Err(map_pcsc_error(e)),
        }
    }
}
