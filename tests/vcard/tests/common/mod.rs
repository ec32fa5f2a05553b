//! The test world shared by one test binary: a private pcscd (libpcsclite reads
//! PCSCLITE_CSOCK_NAME once per process, so one pcscd per binary), a test CA, and fresh cards
//! put into its two slots. Tests take the world's lock so that they run one at a time.
#![allow(dead_code)]

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use selfservice_vcard::ca::TestCa;
use selfservice_vcard::card_file::{CardFile, Quirk};
use selfservice_vcard::pcscd::{reader_name, Lifetime, Pcscd};
use selfservice_vcard::runner::{prepare_card, Fault, RunningCard};
use selfservice_vcard::world::resolve_card;

pub struct World {
    pub pcscd: Pcscd,
    pub dir: PathBuf,
    pub ca: TestCa,
    pub context: Context,
    next_card: u32,
}

static WORLD: OnceLock<Mutex<World>> = OnceLock::new();

/// The world, locked for the calling test.
pub fn world() -> MutexGuard<'static, World> {
    let world = WORLD.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("vct-")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        let pcscd = Pcscd::start(&dir, Lifetime::ThisProcess { remove_dir: true })
            .expect("private pcscd starts");
        // Before the first PC/SC call of this process: libpcsclite caches it.
        std::env::set_var("PCSCLITE_CSOCK_NAME", &pcscd.socket);
        let ca = TestCa::load_or_create(&dir.join("ca")).expect("test CA");
        let context = Context::establish(Scope::User).expect("PC/SC context");
        Mutex::new(World {
            pcscd,
            dir,
            ca,
            context,
            next_card: 0,
        })
    });
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A card in a slot for the length of a test; pulled out when dropped.
pub struct TestCard {
    pub running: Option<RunningCard>,
    pub path: PathBuf,
    pub reader: CString,
    pub slot: u8,
}

impl World {
    /// A fresh copy of a template card, inserted in `slot` and seen present by pcscd.
    pub fn insert(&mut self, template: &str, slot: u8) -> TestCard {
        self.insert_quirky(template, slot, &[])
    }

    /// A fresh copy of a template card with other PIV cards' habits.
    pub fn insert_quirky(&mut self, template: &str, slot: u8, quirks: &[Quirk]) -> TestCard {
        let quirks = quirks.to_vec();
        self.insert_changed(template, slot, move |file| file.quirks = quirks)
    }

    /// A fresh copy of a template card with `change` applied to its file first.
    pub fn insert_changed(
        &mut self,
        template: &str,
        slot: u8,
        change: impl FnOnce(&mut CardFile),
    ) -> TestCard {
        self.next_card += 1;
        let path = self
            .dir
            .join(format!("card-{}-{template}.toml", self.next_card));
        let mut file = CardFile::load(&resolve_card(template).expect("template")).expect("load");
        change(&mut file);
        file.save(&path).expect("copy card");
        let card = prepare_card(&path, &self.ca).expect("card prepared");
        let running = RunningCard::start(
            card,
            Some(path.clone()),
            self.pcscd.port + u16::from(slot),
            true,
        );
        let reader = CString::new(reader_name(slot)).expect("reader name");
        let card = TestCard {
            running: Some(running),
            path,
            reader,
            slot,
        };
        self.wait_for(&card.reader, true);
        card
    }

    /// Waits, event-driven, until pcscd sees the reader's card present (or absent).
    pub fn wait_for(&self, reader: &CString, present: bool) {
        wait_for(&self.context, reader, present);
    }

    pub fn connect(&self, card: &TestCard) -> pcsc::Card {
        self.context
            .connect(&card.reader, ShareMode::Shared, Protocols::ANY)
            .expect("connect to the card")
    }
}

/// Waits, event-driven, until pcscd sees the reader's card present (or absent).
pub fn wait_for(context: &Context, reader: &CString, present: bool) {
    let mut states = [ReaderState::new(reader.clone(), State::UNAWARE)];
    for _ in 0..20 {
        let _ = context.get_status_change(Duration::from_millis(500), &mut states);
        let seen = states[0].event_state();
        if seen.contains(State::PRESENT) == present && !seen.contains(State::MUTE) {
            return;
        }
        states[0].sync_current_state();
    }
    panic!(
        "{reader:?} did not become {}",
        if present { "present" } else { "empty" }
    );
}

impl TestCard {
    pub fn file(&self) -> CardFile {
        CardFile::load(&self.path).expect("card file readable")
    }

    pub fn running(&self) -> &RunningCard {
        self.running.as_ref().expect("card running")
    }

    pub fn fault(&self, fault: Fault) {
        self.running().set_fault(Some(fault));
    }
}

impl Drop for TestCard {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let save_error = running.save_error();
            running.stop();
            // The next test must not meet this card's ghost: pcscd notices a removal only at
            // its next 400 ms poll.
            if let Ok(context) = Context::establish(Scope::User) {
                wait_for(&context, &self.reader, false);
            }
            assert_eq!(save_error, None, "the card could not save its state");
        }
    }
}

/// Sends one APDU and follows 61xx with GET RESPONSE, as the host does. Returns data and SW.
pub fn transmit(card: &pcsc::Card, apdu: &[u8]) -> (Vec<u8>, u16) {
    let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let mut data = Vec::new();
    let mut command = apdu.to_vec();
    loop {
        let response = card.transmit(&command, &mut buffer).expect("transmit");
        assert!(
            response.len() >= 2,
            "response shorter than a status word: {response:02X?}"
        );
        let (body, sw) = response.split_at(response.len() - 2);
        data.extend_from_slice(body);
        let sw = u16::from_be_bytes([sw[0], sw[1]]);
        if sw >> 8 == 0x61 {
            command = vec![0x00, 0xC0, 0x00, 0x00, (sw & 0xFF) as u8];
            continue;
        }
        return (data, sw);
    }
}

pub fn sw_of(card: &pcsc::Card, apdu: &[u8]) -> u16 {
    transmit(card, apdu).1
}

pub fn disconnect(card: pcsc::Card) {
    // Explicitly LeaveCard: the pcsc crate's Drop resets the card.
    let _ = card.disconnect(Disposition::LeaveCard);
}

pub const SELECT_PIV: &[u8] = &[
    0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00,
];
pub const VERIFY_STATUS: &[u8] = &[0x00, 0x20, 0x00, 0x80];

pub fn block(value: &str) -> Vec<u8> {
    selfservice_vcard::piv::padded(value).to_vec()
}

pub fn verify(pin: &str) -> Vec<u8> {
    [&[0x00, 0x20, 0x00, 0x80, 0x08][..], &block(pin)].concat()
}

pub fn change(reference: u8, old: &str, new: &str) -> Vec<u8> {
    [
        &[0x00, 0x24, 0x00, reference, 0x10][..],
        &block(old),
        &block(new),
    ]
    .concat()
}

pub fn reset_retry_counter(puk: &str, new_pin: &str) -> Vec<u8> {
    [
        &[0x00, 0x2C, 0x00, 0x80, 0x10][..],
        &block(puk),
        &block(new_pin),
    ]
    .concat()
}

pub fn get_data(tag: &[u8]) -> Vec<u8> {
    let mut apdu = vec![
        0x00,
        0xCB,
        0x3F,
        0xFF,
        (tag.len() + 2) as u8,
        0x5C,
        tag.len() as u8,
    ];
    apdu.extend_from_slice(tag);
    apdu.push(0x00);
    apdu
}

pub fn sign(slot: u8, digest: &[u8; 32]) -> Vec<u8> {
    let mut template = vec![0x7C, 0x24, 0x82, 0x00, 0x81, 0x20];
    template.extend_from_slice(digest);
    let mut apdu = vec![0x00, 0x87, 0x11, slot, template.len() as u8];
    apdu.extend(template);
    apdu.push(0x00);
    apdu
}

/// Every quirk alone, all of them together, and none: the profiles fidelity is checked for.
pub fn quirk_profiles() -> Vec<Vec<Quirk>> {
    let all = vec![
        Quirk::BlockedAs63c0,
        Quirk::FailureWithoutCounter,
        Quirk::KeepsVerificationAcrossSelect,
        Quirk::PlaceholderChuidExpiry,
        Quirk::NoDiscoveryObject,
        Quirk::NoPrintedInformation,
    ];
    let mut profiles = vec![Vec::new()];
    profiles.extend(all.iter().map(|quirk| vec![*quirk]));
    profiles.push(all);
    profiles
}
