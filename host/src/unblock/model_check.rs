//! The model check of the PUK guarantee (docs/DESIGN.md §4.3.2) with the person in it.
//!
//! Against the virtual card's PIV logic in this process, every sequence of up to three runs
//! cut off (before or after each command of the run), with any of these between two runs:
//! nothing; the person logs on with the new passcode; the person types a wrong passcode once
//! or twice; the card is taken to the other computer (whose record is its own); the card's
//! PUK changes so that the portal's record names PUKs the card does not hold. Then one run to
//! the end. States reached twice are explored once (the card, both records, the portal and the
//! counts so far are the state), and the number of sequences is counted over the paths.
//!
//! Asserted for every sequence:
//! - the PUK is never blocked;
//! - at most one wrong PUK try when at most two commands carrying a PUK were cut off and the
//!   portal's record was right;
//! - it ends unlocked (new passcode, fresh PUK, PUK counter full) or with the typed "contact
//!   your Registration Authority" refusal, and the latter only when no PUK was safe to send.

use std::collections::HashMap;

use super::*;
use crate::piv::transport::Response;
use selfservice_rules::secret::Secret;
use selfservice_vcard::card_file::CardFile;
use selfservice_vcard::piv::PivCard;

pub const NEW_PASSCODE: &str = "860245";
const WRONG_PASSCODE: &str = "111222";
pub const OLD_PUK: &str = "19283746";
pub const FRESH_PUK: &str = "55443322";
/// A PUK the portal never heard of (the Registration Authority set it, or the portal's
/// record was restored from an old backup).
const UNKNOWN_PUK: &str = "24681357";

const INS_VERIFY: u8 = 0x20;
const INS_CHANGE_REFERENCE_DATA: u8 = 0x24;
const INS_RESET_RETRY_COUNTER: u8 = 0x2C;
const KEY_PIN: u8 = 0x80;
const KEY_PUK: u8 = 0x81;
/// RESET RETRY COUNTER, for [`World::cut_at`].
pub const RESET: (u8, u8) = (INS_RESET_RETRY_COUNTER, KEY_PIN);
/// CHANGE REFERENCE DATA PUK.
pub const CHANGE_PUK: (u8, u8) = (INS_CHANGE_REFERENCE_DATA, KEY_PUK);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cut {
    /// The APDU of the run (from 1) that is cut.
    pub at: usize,
    /// Whether the card ran it before the cut.
    pub ran: bool,
}

/// What a person (or the world) does between two runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Between {
    Nothing,
    LogsOn,
    MistypesOnce,
    MistypesTwice,
    OtherComputer,
    PortalRecordWrong,
}

const EVERY_ACTION: [Between; 6] = [
    Between::Nothing,
    Between::LogsOn,
    Between::MistypesOnce,
    Between::MistypesTwice,
    Between::OtherComputer,
    Between::PortalRecordWrong,
];

/// The card in a reader that can be pulled at a chosen APDU.
#[derive(Clone)]
pub struct Reader {
    pub card: PivCard,
    sent: usize,
    cut: Option<Cut>,
    gone: bool,
    /// Whether the cut command carried a PUK.
    cut_carried_puk: bool,
    /// The instruction and P2 of each command of the run, in order.
    pub commands: Vec<(u8, u8)>,
}

impl Reader {
    pub fn new(card: PivCard) -> Reader {
        Reader {
            card,
            sent: 0,
            cut: None,
            gone: false,
            cut_carried_puk: false,
            commands: Vec::new(),
        }
    }

    /// Taken out and put back: powered up afresh, nothing verified, PIV selected.
    fn reinsert(&mut self) {
        self.card.reset();
        self.gone = false;
        self.cut = None;
        self.card.process(&crate::piv::apdu::select_piv());
        self.sent = 0;
        self.commands.clear();
    }

    /// A second PC/SC client (the operating system's logon) verifying a passcode.
    fn verify(&mut self, passcode: &str) {
        self.reinsert();
        let _ = self.card.process(&verify_command(passcode));
        self.reinsert();
    }
}

impl Transmit for Reader {
    fn transmit(&mut self, command: &[u8]) -> Result<Response, CardError> {
        if self.gone {
            return Err(CardError::CardRemoved);
        }
        self.sent += 1;
        self.commands.push((
            command.get(1).copied().unwrap_or(0),
            command.get(3).copied().unwrap_or(0),
        ));
        let cut_here = self.cut.filter(|c| c.at == self.sent);
        if cut_here.is_some() {
            self.cut_carried_puk = carries_puk(command);
        }
        if cut_here.is_some_and(|c| !c.ran) {
            self.gone = true;
            return Err(CardError::CardRemoved);
        }
        let (raw, _) = self.card.process(command);
        if cut_here.is_some() {
            self.gone = true;
            return Err(CardError::CardRemoved);
        }
        Response::from_raw(&raw)
    }
}

/// VERIFY of the PIV PIN with `passcode`.
pub fn verify_command(passcode: &str) -> Vec<u8> {
    let mut command = vec![0x00, INS_VERIFY, 0x00, KEY_PIN, 0x08];
    command.extend_from_slice(&selfservice_vcard::piv::padded(passcode));
    command
}

fn carries_puk(command: &[u8]) -> bool {
    matches!(
        command,
        [_, INS_RESET_RETRY_COUNTER, ..] | [_, INS_CHANGE_REFERENCE_DATA, _, KEY_PUK, ..]
    )
}

/// A computer's record of unlock attempts.
#[derive(Default, Clone)]
pub struct Memory(pub PukKnowledge);

impl KnowledgeStore for Memory {
    fn load(&mut self) -> Result<PukKnowledge, StoreError> {
        Ok(self.0.clone())
    }
    fn save(&mut self, knowledge: &PukKnowledge) -> Result<(), StoreError> {
        self.0 = knowledge.clone();
        Ok(())
    }
}

fn candidate(id: &str, puk: &str) -> PukCandidate {
    PukCandidate {
        id: id.into(),
        puk: Secret::new(puk.into()),
    }
}

/// The world one sequence runs in.
#[derive(Clone)]
pub struct World {
    pub reader: Reader,
    pub records: [Memory; 2],
    /// Which computer the card is in.
    pub here: usize,
    /// Whether the portal has authorized an unlock (and so names the fresh PUK too).
    pub authorized: bool,
    /// Whether the portal's record was made wrong.
    pub portal_wrong: bool,
    /// Commands carrying a PUK cut off so far.
    pub puk_cuts: usize,
    /// Of those, RESET RETRY COUNTERs.
    pub reset_cuts: usize,
    /// Moves to the other computer so far.
    pub moves: usize,
    pub runs: usize,
    /// A temporary PIN the portal seals instead of a good one (to make the card refuse).
    pub temporary_pin_override: Option<String>,
    /// The APDUs the last run sent.
    last_apdus: usize,
    /// Their instructions and P2s.
    pub last_commands: Vec<(u8, u8)>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Unlocked,
    ContactRa,
    /// Anything else: a defect.
    Other(String),
}

impl World {
    pub fn new(card: &CardFile) -> World {
        let mut reader = Reader::new(PivCard::new(card.clone()).expect("card"));
        reader.reinsert();
        World {
            reader,
            records: [Memory::default(), Memory::default()],
            here: 0,
            authorized: false,
            portal_wrong: false,
            puk_cuts: 0,
            reset_cuts: 0,
            moves: 0,
            runs: 0,
            temporary_pin_override: None,
            last_apdus: 0,
            last_commands: Vec::new(),
        }
    }

    /// What the portal seals: before any authorization it knows one PUK; from then on (no
    /// receipt yet) both, with the same fresh one.
    fn secrets(&self) -> UnlockSecrets {
        let puks = if self.authorized {
            vec![candidate("old", OLD_PUK), candidate("fresh", FRESH_PUK)]
        } else {
            vec![candidate("old", OLD_PUK)]
        };
        UnlockSecrets {
            puks,
            fresh_puk: candidate("fresh", FRESH_PUK),
            temporary_pin: Secret::new(
                self.temporary_pin_override
                    .clone()
                    .unwrap_or_else(|| format!("{:08}", 31_415_926 + self.runs)),
            ),
        }
    }

    /// One run of the unblock, cut at `cut` if given.
    pub fn run(&mut self, cut: Option<Cut>) -> Result<String, UnblockError> {
        let secrets = self.secrets();
        self.authorized = true;
        self.runs += 1;
        self.reader.reinsert();
        self.reader.cut = cut;
        self.reader.cut_carried_puk = false;
        let mut state = UnlockState {
            unblocked: false,
            passcode_set: false,
            puk_rotated: false,
        };
        let outcome = unblock(
            &mut self.reader,
            &secrets,
            NEW_PASSCODE,
            &mut self.records[self.here],
            &mut state,
        );
        if self.reader.cut_carried_puk {
            self.puk_cuts += 1;
            if self.reader.commands.last().is_some_and(|c| *c == RESET) {
                self.reset_cuts += 1;
            }
        }
        self.last_apdus = self.reader.sent;
        self.last_commands = std::mem::take(&mut self.reader.commands);
        self.reader.reinsert();
        outcome
    }

    /// The APDUs an uncut run from here sends.
    fn apdus_of_a_run(&self) -> usize {
        let mut copy = self.clone();
        let _ = copy.run(None);
        copy.last_apdus
    }

    /// The cut at the `nth` (from 1) command of an uncut run from here with this instruction
    /// and P2 (`0x2C, 0x80`: RESET RETRY COUNTER; `0x24, 0x81`: CHANGE PUK).
    pub fn cut_at(&self, command: (u8, u8), nth: usize, ran: bool) -> Cut {
        let mut copy = self.clone();
        let _ = copy.run(None);
        let at = copy
            .last_commands
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == command)
            .nth(nth - 1)
            .map(|(i, _)| i + 1)
            .unwrap_or_else(|| panic!("no command {command:02X?} in {:02X?}", copy.last_commands));
        Cut { at, ran }
    }

    pub fn apply(&mut self, action: Between) {
        match action {
            Between::Nothing => {}
            Between::LogsOn => self.reader.verify(NEW_PASSCODE),
            Between::MistypesOnce => self.reader.verify(WRONG_PASSCODE),
            Between::MistypesTwice => {
                self.reader.verify(WRONG_PASSCODE);
                self.reader.verify(WRONG_PASSCODE);
            }
            Between::OtherComputer => {
                self.here = 1 - self.here;
                self.moves += 1;
            }
            Between::PortalRecordWrong => {
                self.reader.card.file.puk = UNKNOWN_PUK.into();
                self.portal_wrong = true;
            }
        }
    }

    pub fn ending(&self, outcome: &Result<String, UnblockError>) -> Ending {
        let file = &self.reader.card.file;
        match outcome {
            Ok(id)
                if id == "fresh"
                    && file.pin == NEW_PASSCODE
                    && file.puk == FRESH_PUK
                    && file.puk_retries_left == file.puk_retry_limit =>
            {
                Ending::Unlocked
            }
            Err(error) if is_contact_ra(error) => Ending::ContactRa,
            other => Ending::Other(format!("{other:?}")),
        }
    }

    pub fn wrong_puk_tries(&self) -> u32 {
        self.reader.card.file.history.wrong_puk_tries
    }

    pub fn puk_blocked(&self) -> bool {
        self.reader.card.file.puk_retries_left == 0
    }

    /// The state, as far as what happens next depends on it: temporary PINs are all alike
    /// (the host never uses an earlier run's), so they are one value here.
    fn key(&self, cuts_left: usize) -> String {
        let file = &self.reader.card.file;
        let pin = if file.history.reset_pins.contains(&file.pin) {
            "temporary"
        } else {
            file.pin.as_str()
        };
        format!(
            "{pin}/{}/{}/{}/{}|{:?}|{:?}|{}|{}|{}|{}|{cuts_left}",
            file.pin_retries_left,
            file.puk,
            file.puk_retries_left,
            file.history.wrong_puk_tries,
            self.records[0].0,
            self.records[1].0,
            self.here,
            self.authorized,
            self.portal_wrong,
            self.puk_cuts.min(3),
        ) + &format!("|{}|{}", self.reset_cuts, self.moves.min(2))
    }
}

fn is_contact_ra(error: &UnblockError) -> bool {
    matches!(error, UnblockError::NoSafePuk(_))
}

/// One step of a sequence, for the report of a counterexample.
#[derive(Clone, Debug)]
pub enum Step {
    Run(Cut),
    Then(Between),
}

/// What the search found.
#[derive(Default, Debug)]
pub struct Report {
    /// Sequences explored (paths, counting those that share a state).
    pub sequences: u64,
    /// Distinct states explored.
    pub states: usize,
    pub unlocked: u64,
    pub contact_ra: u64,
    /// Counterexamples: the sequence and what went wrong (the first few).
    pub violations: Vec<(Vec<Step>, String)>,
    pub violation_count: u64,
    /// The most wrong PUK tries, by whether the card moved and the portal's record was right.
    pub worst_by_kind: std::collections::BTreeMap<&'static str, u32>,
    /// Sequences that block the PUK and that no host can prevent: the portal's record wrong and
    /// the card moved to a computer that cannot know the tries spent on this one.
    pub residual: u64,
    pub residuals: Vec<Vec<Step>>,
    pub worst_wrong_tries: u32,
}

/// Searches every sequence of up to `max_cuts` cut-off runs from `card`.
pub fn search(card: &CardFile, max_cuts: usize) -> Report {
    let mut report = Report::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let world = World::new(card);
    let mut path = Vec::new();
    explore(world, max_cuts, &mut path, &mut seen, &mut report);
    report.states = seen.len();
    report
}

/// Explores from `world`; returns the number of sequences from here.
fn explore(
    world: World,
    cuts_left: usize,
    path: &mut Vec<Step>,
    seen: &mut HashMap<String, u64>,
    report: &mut Report,
) -> u64 {
    let key = world.key(cuts_left);
    if let Some(count) = seen.get(&key) {
        report.sequences += count;
        return *count;
    }
    let mut count = 0;
    // The run to the end.
    {
        let mut end = world.clone();
        let outcome = end.run(None);
        judge(&end, &end.ending(&outcome), path, report);
        count += 1;
        report.sequences += 1;
    }
    if cuts_left > 0 {
        let apdus = world.apdus_of_a_run();
        for at in 1..=apdus {
            for ran in [false, true] {
                let cut = Cut { at, ran };
                let mut next = world.clone();
                let outcome = next.run(Some(cut));
                path.push(Step::Run(cut));
                if !matches!(outcome, Err(UnblockError::Card(CardError::CardRemoved))) {
                    // The run ended before the cut (refused): that is its end.
                    judge(&next, &next.ending(&outcome), path, report);
                    count += 1;
                    report.sequences += 1;
                } else if next.puk_blocked() {
                    judge(&next, &Ending::Other("PUK blocked".into()), path, report);
                    count += 1;
                    report.sequences += 1;
                } else {
                    for action in EVERY_ACTION {
                        let mut after = next.clone();
                        after.apply(action);
                        path.push(Step::Then(action));
                        count += explore(after, cuts_left - 1, path, seen, report);
                        path.pop();
                    }
                }
                path.pop();
            }
        }
    }
    seen.insert(key, count);
    count
}

fn judge(world: &World, ending: &Ending, path: &[Step], report: &mut Report) {
    let wrong = world.wrong_puk_tries();
    report.worst_wrong_tries = report.worst_wrong_tries.max(wrong);
    let kind = match (world.portal_wrong, world.moves > 0) {
        (false, false) => "one computer, portal right",
        (false, true) => "card moved, portal right",
        (true, false) => "one computer, portal wrong",
        (true, true) => "card moved, portal wrong",
    };
    let worst = report.worst_by_kind.entry(kind).or_default();
    *worst = (*worst).max(wrong);
    if world.puk_blocked() && kind == "card moved, portal wrong" {
        // The other computer cannot know the tries this one spent (docs/DESIGN.md §4.3.2).
        report.residual += 1;
        if report.residuals.len() < 3 {
            report.residuals.push(path.to_vec());
        }
        return;
    }
    let mut problems = Vec::new();
    if world.puk_blocked() {
        problems.push("the PUK is blocked".to_string());
    }
    if !world.portal_wrong && world.moves == 0 && world.puk_cuts <= 2 && wrong > 1 {
        problems.push(format!(
            "{wrong} wrong PUK tries with {} PUK commands cut off",
            world.puk_cuts
        ));
    }
    match ending {
        Ending::Unlocked => report.unlocked += 1,
        Ending::ContactRa => report.contact_ra += 1,
        Ending::Other(what) => problems.push(format!("ended with {what}")),
    }
    if !problems.is_empty() {
        report.violation_count += 1;
        if report.violations.len() < 20 {
            report.violations.push((path.to_vec(), problems.join("; ")));
        }
    }
}

pub fn locked_card() -> CardFile {
    let dir = tempfile::tempdir().expect("dir");
    let ca = selfservice_vcard::ca::TestCa::load_or_create(dir.path()).expect("ca");
    let path = dir.path().join("card.toml");
    std::fs::copy(
        selfservice_vcard::world::resolve_card("locked").expect("template"),
        &path,
    )
    .expect("copy");
    selfservice_vcard::runner::prepare_card(&path, &ca)
        .expect("card")
        .file
}

/// Runs one given sequence (runs cut as given, actions between), then a run to the end.

#[test]
fn the_person_between_runs_never_costs_the_puk() {
    let report = search(&locked_card(), 3);
    eprintln!(
        "model check: {} sequences explored ({} distinct states): {} unlocked, {} told to contact the RA; worst {} wrong PUK tries; {} violations",
        report.sequences,
        report.states,
        report.unlocked,
        report.contact_ra,
        report.worst_wrong_tries,
        report.violation_count
    );
    eprintln!("worst wrong PUK tries by kind: {:?}", report.worst_by_kind);
    eprintln!(
        "blocked with the portal's record wrong and the card moved: {} sequences, e.g. {:?}",
        report.residual,
        report.residuals.first()
    );
    for (path, what) in report.violations.iter().take(8) {
        eprintln!("  {what}: {path:?}");
    }
    assert_eq!(report.violation_count, 0, "{:#?}", report.violations);
    assert!(report.sequences > 300_000, "{}", report.sequences);
    assert_eq!(
        report.residual, 119,
        "the residual changed: read docs/DESIGN.md §4.3.2"
    );
}
