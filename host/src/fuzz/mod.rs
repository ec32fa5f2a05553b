//! Fuzz targets for what the host reads from outside: frames from the browser, the portal's
//! authorization (signature, version, origin, times, and the sealed box), and every answer a
//! card can give (BER-TLV, certificates, status words) through the real PIV code paths, plus
//! BER-TLV on its own.
//! `cargo xtask fuzz --seconds N` runs each for N seconds; `cargo test` runs each for
//! bolero's default second after replaying the seeds in `__fuzz__/<target>/corpus`.

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use selfservice_rules::authorization::{
    seal_aad, SealedBox, SignedAuthorization, UnblockAuthorization, UnlockSecrets,
};
use selfservice_rules::fuzzing::{corpus_dir, mutate, seeds, Edit};
use selfservice_rules::protocol::MAX_REQUEST_BYTES;
use selfservice_rules::seal::{seal, HostKeyPair};
use selfservice_rules::secret::Secret;

use crate::framing::{read_frame, Inbound};
use crate::piv::transport::{follow_chaining, Response, Transmit};
use crate::piv::{apdu::Slot, CardError, KeyKind, Piv};
use selfservice_vcard::card_file::CardFile;
use selfservice_vcard::piv::PivCard;

fn target_seeds(target: &str) -> Vec<Vec<u8>> {
    seeds(&corpus_dir(env!("CARGO_MANIFEST_DIR"), target))
}

/// Reads frames until the input ends or a frame ends the session, as the session does.
fn decode_frames(runtime: &tokio::runtime::Runtime, input: &[u8]) {
    runtime.block_on(async {
        let mut reader = input;
        for _ in 0..=input.len() {
            match read_frame(&mut reader).await {
                Ok(Inbound::Frame(body)) => {
                    assert!(!body.is_empty() && body.len() <= MAX_REQUEST_BYTES as usize);
                }
                Ok(Inbound::Empty) => {}
                Ok(Inbound::Oversize(length)) => {
                    assert!(length > MAX_REQUEST_BYTES);
                    return;
                }
                Ok(Inbound::End { .. }) | Err(_) => return,
            }
        }
        panic!("the decoder read more frames than there were bytes");
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

#[test]
fn frame_decoder() {
    let runtime = runtime();
    selfservice_rules::fuzz_bytes!(|input: &[u8]| decode_frames(&runtime, input));
}

#[test]
fn frame_decoder_from_seeds() {
    let runtime = runtime();
    let seeds = target_seeds("frame_decoder");
    selfservice_rules::fuzz!((u16, Vec<Edit>), |(pick, edits): &(u16, Vec<Edit>)| {
        decode_frames(&runtime, &mutate(&seeds, *pick, edits))
    });
}

const NOW: i64 = 1_790_000_000;
const ORIGIN: &str = "https://portal.example.nhs.uk";

/// The portal's key, the session's key, and a valid payload sealed to it: the seed every
/// mutation starts from (it cannot be a committed file, as the session key is new each run).
struct PortalAndSession {
    portal: SigningKey,
    pair: HostKeyPair,
}

impl PortalAndSession {
    fn new() -> PortalAndSession {
        PortalAndSession {
            portal: SigningKey::from_bytes(&[7; 32]),
            pair: HostKeyPair::generate(),
        }
    }

    fn valid_payload(&self) -> Vec<u8> {
        let secrets = UnlockSecrets {
            puks: vec![selfservice_rules::authorization::PukCandidate {
                id: "enrolled".into(),
                puk: Secret::new("19283746".into()),
            }],
            fresh_puk: selfservice_rules::authorization::PukCandidate {
                id: "fresh".into(),
                puk: Secret::new("55443322".into()),
            },
            temporary_pin: Secret::new("90817263".into()),
        };
        let (id, guid) = ("a-1", "3e1f2a9c4b5d6e7f8091a2b3c4d5e6f7");
        let sealed: SealedBox =
            seal(&self.pair.public_base64(), &secrets, &seal_aad(id, guid)).expect("seal");
        serde_json::to_vec(&UnblockAuthorization {
            version: 2,
            authorization_id: id.into(),
            card_guid: guid.into(),
            origin: ORIGIN.into(),
            flow_id: "f-1".into(),
            issued_at: NOW - 10,
            expires_at: NOW + 290,
            host_key: self.pair.public_base64(),
            sealed,
        })
        .expect("json")
    }

    /// Signs the payload as the portal would, then checks it as `unlock` does: what is
    /// accepted is a current version 2 authorization for this origin that opens.
    fn check(&self, payload: &[u8], signed_by_portal: bool) {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let key = if signed_by_portal {
            self.portal.clone()
        } else {
            SigningKey::from_bytes(&[8; 32])
        };
        let signed = SignedAuthorization {
            payload: b64.encode(payload),
            signature: b64.encode(key.sign(payload).to_bytes()),
        };
        let opened = crate::authorization::open(&signed, &self.portal.verifying_key(), ORIGIN, NOW);
        let Ok(opened) = opened else { return };
        assert!(signed_by_portal, "accepted a signature by another key");
        let a = &opened.authorization;
        assert_eq!(a.version, 2);
        assert!(a.expires_at > NOW && a.issued_at <= NOW + 300);
        assert_eq!(&*opened.payload, payload);
        let _ = self
            .pair
            .open(&a.sealed, &seal_aad(&a.authorization_id, &a.card_guid));
    }
}

#[test]
fn authorization_verifier() {
    let signer = PortalAndSession::new();
    signer.check(&signer.valid_payload(), true);
    // A signature check and a sealed box per input: fewer fixed inputs.
    selfservice_rules::fuzz_bytes!(inputs = 100, |payload: &[u8]| signer.check(payload, true));
}

#[test]
fn authorization_verifier_from_seeds() {
    let signer = PortalAndSession::new();
    let mut seeds = target_seeds("authorization_verifier");
    seeds.push(signer.valid_payload());
    selfservice_rules::fuzz!((u16, Vec<Edit>, bool), inputs = 100, |(
        pick,
        edits,
        portal,
    ): &(
        u16,
        Vec<Edit>,
        bool
    )| {
        signer.check(&mutate(&seeds, *pick, edits), *portal);
    });
}

/// A virtual card whose answers are edited on the way back: the APDU number (from 1) and the
/// edits to its answer (data and status word as one byte string).
struct EditedCard {
    card: PivCard,
    sent: usize,
    edits: Vec<(u8, Edit)>,
}

impl EditedCard {
    fn exchange(&mut self, command: &[u8]) -> Result<Response, CardError> {
        self.sent += 1;
        if self.sent > 256 {
            return Err(CardError::Malformed(
                "more APDUs than any operation sends".into(),
            ));
        }
        let (mut raw, _) = self.card.process(command);
        let mine: Vec<Edit> = self
            .edits
            .iter()
            .filter(|(at, _)| usize::from(*at % 24) + 1 == self.sent)
            .map(|(_, edit)| edit.clone())
            .collect();
        if !mine.is_empty() {
            raw = mutate(&[raw], 0, &mine);
        }
        // Read as the PC/SC transport reads it (too short to hold a status word: removed).
        Response::from_raw(&raw)
    }
}

impl Transmit for EditedCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Response, CardError> {
        // The same chaining as over PC/SC, so edited 61xx and 6Cxx answers are followed too.
        follow_chaining(command, |c| self.exchange(c))
    }
}

fn card(template: &str, change: impl FnOnce(&mut CardFile)) -> CardFile {
    let dir = tempfile::tempdir().expect("dir");
    let ca = selfservice_vcard::ca::TestCa::load_or_create(dir.path()).expect("ca");
    let path = dir.path().join("card.toml");
    let mut file =
        CardFile::load(&selfservice_vcard::world::resolve_card(template).expect("template"))
            .expect("load");
    change(&mut file);
    file.save(&path).expect("save");
    selfservice_vcard::runner::prepare_card(&path, &ca)
        .expect("card")
        .file
}

/// Every read the host makes of a card, then a proof and a passcode check, on edited answers:
/// each ends in a value or a typed error, never a panic.
fn read_everything(card: &mut EditedCard) {
    if Piv::select(card).is_err() {
        return;
    }
    let _ = Piv::read_identity(card);
    let _ = Piv::pin_state(card);
    for slot in [Slot::Authentication, Slot::CardAuthentication] {
        if let Ok(der) = Piv::read_certificate(card, slot) {
            if let Ok(kind) = KeyKind::of_certificate(&der) {
                let _ = Piv::sign(card, slot, kind, &[0x5A; 32]);
            }
        }
    }
    let _ = Piv::verify(card, "583920");
    let _ = Piv::logout(card);
}

#[test]
fn card_answers() {
    // P-256 and RSA-2048 keys, a usable and a blocked PIN.
    let templates = [
        card("unlocked", |_| {}),
        card("locked", |_| {}),
        card("quirky", |_| {}),
        card("unlocked", |file| {
            file.key_algorithm = selfservice_vcard::card_file::KeyAlgorithm::Rsa2048;
        }),
    ];
    for file in &templates {
        // Unedited, every read works: the edits are what the target varies.
        let mut card = EditedCard {
            card: PivCard::new(file.clone()).expect("card"),
            sent: 0,
            edits: Vec::new(),
        };
        Piv::select(&mut card).expect("select");
        Piv::read_identity(&mut card).expect("identity");
        let der = Piv::read_certificate(&mut card, Slot::CardAuthentication).expect("9E");
        let kind = KeyKind::of_certificate(&der).expect("key kind");
        Piv::sign(&mut card, Slot::CardAuthentication, kind, &[0x5A; 32]).expect("9E signs");
    }
    selfservice_rules::fuzz!((u8, Vec<(u8, Edit)>), |(which, edits): &(
        u8,
        Vec<(u8, Edit)>
    )| {
        let mut card = EditedCard {
            card: PivCard::new(templates[usize::from(*which) % templates.len()].clone())
                .expect("card"),
            sent: 0,
            edits: edits.clone(),
        };
        read_everything(&mut card);
    });
}

/// BER-TLV as the host reads PIV objects: whatever the bytes, a value found is a piece of
/// the input that ends within it, and finding never panics.
#[test]
fn ber_tlv() {
    selfservice_rules::fuzz!((Vec<u8>, Vec<u8>), |(data, tag): &(Vec<u8>, Vec<u8>)| {
        if let Some(value) = crate::piv::tlv::find(data, tag) {
            let start = value.as_ptr() as usize - data.as_ptr() as usize;
            assert!(start + value.len() <= data.len());
        }
    });
}

/// Not random: every status word for every kind of check, which is few enough to try all.
/// Only 9000 succeeds, a spent try is only ever reported for a PIN or PUK check, and the
/// retries a card reports are never more than its 4-bit field holds.
#[test]
fn status_words_every_value() {
    use crate::piv::apdu::{check, Checked};
    let mut tried = 0u32;
    for sw in 0..=u16::MAX {
        for checked in [Checked::Nothing, Checked::Pin, Checked::Puk] {
            tried += 1;
            match check(sw, checked) {
                Ok(()) => assert_eq!(sw, 0x9000),
                Err(CardError::WrongPin { retries_left }) => {
                    assert_eq!(checked, Checked::Pin, "{sw:04X}");
                    assert!(retries_left.is_none_or(|n| (1..=15).contains(&n)));
                }
                Err(CardError::WrongPuk { retries_left }) => {
                    assert_eq!(checked, Checked::Puk, "{sw:04X}");
                    assert!(retries_left.is_none_or(|n| (1..=15).contains(&n)));
                }
                Err(CardError::PinBlocked) => assert_eq!(checked, Checked::Pin, "{sw:04X}"),
                Err(CardError::PukBlocked) => assert_eq!(checked, Checked::Puk, "{sw:04X}"),
                Err(_) => {}
            }
        }
    }
    assert_eq!(tried, 3 * 65_536);
}
