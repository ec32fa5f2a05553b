//! Sending APDUs through PC/SC. Response chaining (61xx, 6Cxx) and removal detection are
//! handled here, once, not at each call.

use super::{apdu, CardError};

/// One response APDU: data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    /// A response APDU as the card sent it: data, then SW1 SW2. A response too short to hold
    /// a status word is a removal: vpcd turns a lost connection into a 0-byte R-APDU.
    pub fn from_raw(raw: &[u8]) -> Result<Response, CardError> {
        let split = raw.len().checked_sub(2).ok_or(CardError::CardRemoved)?;
        let (data, sw) = raw.split_at(split);
        Ok(Response {
            data: data.to_vec(),
            sw: u16::from_be_bytes([sw[0], sw[1]]),
        })
    }
}

/// Anything that can carry an APDU to a card.
pub trait Transmit {
    fn transmit(&mut self, command: &[u8]) -> Result<Response, CardError>;
    /// Asks for the card to be reset when the current transaction ends (which clears any
    /// verified PIN); for cards that cannot log out by command.
    fn reset_when_done(&mut self) {}
}

/// Most GET RESPONSE rounds one object may take (a few KiB of certificate).
const MAX_CHAINED_RESPONSES: usize = 64;

/// A PC/SC card handle (or a transaction on one) as a transport.
pub struct PcscTransport<'a> {
    card: &'a pcsc::Card,
    saw_removal: bool,
    reset_when_done: bool,
}

impl<'a> PcscTransport<'a> {
    pub fn new(card: &'a pcsc::Card) -> Self {
        PcscTransport {
            card,
            saw_removal: false,
            reset_when_done: false,
        }
    }

    /// Whether the transaction should end with a card reset (see [`Transmit::reset_when_done`]).
    pub fn wants_reset(&self) -> bool {
        self.reset_when_done
    }

    /// Whether an APDU failed because the card went (the watcher is told: see `watcher`).
    pub fn saw_removal(&self) -> bool {
        self.saw_removal
    }

    fn exchange(&mut self, command: &[u8]) -> Result<Response, CardError> {
        let result = self.exchange_once(command);
        if matches!(result, Err(CardError::CardRemoved)) {
            self.saw_removal = true;
        }
        result
    }

    fn exchange_once(&self, command: &[u8]) -> Result<Response, CardError> {
        let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        let raw = self
            .card
            .transmit(command, &mut buffer)
            .map_err(map_pcsc_error)?;
        let received = raw.len();
        // A card pulled during an APDU can come back as success with an empty response.
        let response = Response::from_raw(raw);
        // The receive buffer saw nothing secret (cards do not return PINs), but keep it clean:
        // only what the card wrote (zeroizing all 64 KiB, a volatile write per byte, cost more
        // per APDU than the APDU's round trip to the card).
        zeroize::Zeroize::zeroize(&mut buffer[..received]);
        response
    }
}

impl Transmit for PcscTransport<'_> {
    fn reset_when_done(&mut self) {
        self.reset_when_done = true;
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Response, CardError> {
        follow_chaining(command, |c| self.exchange(c))
    }
}

/// Sends one command through `exchange` and follows the card's answer: `6Cxx` (wrong Le, sent
/// again with the length the card gave) and `61xx` (more data, fetched with GET RESPONSE).
pub fn follow_chaining(
    command: &[u8],
    mut exchange: impl FnMut(&[u8]) -> Result<Response, CardError>,
) -> Result<Response, CardError> {
    let mut response = exchange(command)?;
    // 6Cxx: wrong Le; the card says how many bytes it has.
    if response.sw >> 8 == apdu::sw::WRONG_LE_SW1 && command.len() >= 5 {
        let mut again = command.to_vec();
        if let Some(le) = again.last_mut() {
            *le = (response.sw & 0xFF) as u8;
        }
        response = exchange(&again)?;
    }
    let mut data = std::mem::take(&mut response.data);
    let mut rounds = 0;
    while response.sw >> 8 == apdu::sw::MORE_DATA_SW1 {
        rounds += 1;
        if rounds > MAX_CHAINED_RESPONSES {
            return Err(CardError::Malformed(
                "response chaining does not end".into(),
            ));
        }
        response = exchange(&apdu::get_response((response.sw & 0xFF) as u8))?;
        data.append(&mut response.data);
    }
    Ok(Response {
        data,
        sw: response.sw,
    })
}

/// PC/SC errors, as the user can act on them.
pub fn map_pcsc_error(error: pcsc::Error) -> CardError {
    use pcsc::Error as E;
    match error {
        E::NoService | E::ServiceStopped | E::CommError => CardError::ServiceUnavailable,
        E::NoReadersAvailable | E::UnknownReader | E::ReaderUnavailable => CardError::NoReader,
        // NOT_TRANSACTED comes back for a card pulled before pcscd's next presence poll.
        E::RemovedCard | E::ResetCard | E::NoSmartcard | E::NotTransacted | E::UnpoweredCard => {
            CardError::CardRemoved
        }
        E::SharingViolation => CardError::Busy,
        E::Timeout => CardError::Timeout,
        E::Cancelled => CardError::Cancelled,
        E::UnsupportedCard | E::CardUnsupported | E::UnresponsiveCard => {
            CardError::Unsupported(error.to_string())
        }
        other => CardError::Pcsc(other.to_string()),
    }
}
