//! This computer's record of unlock attempts: per card, what the host knows of the PUK it
//! holds, by the portal's PUK ids (never a PUK, a PIN or a passcode). See [`crate::unblock`]
//! for why it exists.
//!
//! One JSON file in the user's state folder. Every read-modify-write holds an exclusive lock
//! on a lock file beside it, so host processes (two browsers, a killed host and its successor)
//! never lose each other's entries; each write goes to a temporary file that is synced and
//! renamed over the old one. A record that exists but cannot be read is never taken as empty:
//! the unlock stops (fails closed) and `doctor` names the file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use crate::unblock::{KnowledgeStore, PukKnowledge, StoreError};

const FILE_NAME: &str = "unlock-record.json";
const LOCK_NAME: &str = "unlock-record.lock";
/// Cards remembered at most (the longest unused are forgotten first).
const MAX_CARDS: usize = 64;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecordFile {
    version: u32,
    /// Card GUID -> what is known of its PUK.
    cards: BTreeMap<String, CardEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CardEntry {
    #[serde(flatten)]
    knowledge: PukKnowledge,
    /// Unix seconds of the last change.
    updated_at: i64,
}

/// The record in one folder.
#[derive(Debug, Clone)]
pub struct PukJournal {
    dir: PathBuf,
}

impl PukJournal {
    pub fn in_dir(dir: PathBuf) -> PukJournal {
        PukJournal { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The store for one card, for the unblock sequence.
    pub fn card(&self, guid: &str) -> CardJournal<'_> {
        CardJournal {
            journal: self,
            guid: guid.to_ascii_lowercase(),
        }
    }

    /// Whether the record can be read (for `doctor`): `Ok(cards)` or why not. Looking
    /// creates nothing.
    pub fn check(&self) -> Result<usize, StoreError> {
        if !self.path().exists() {
            return Ok(0);
        }
        let _lock = self.lock()?;
        Ok(self.read()?.cards.len())
    }

    fn error(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError {
            place: self.path().display().to_string(),
            reason: reason.to_string(),
        }
    }

    fn lock(&self) -> Result<File, StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.error(e))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(LOCK_NAME))
            .map_err(|e| self.error(e))?;
        file.lock().map_err(|e| self.error(e))?;
        Ok(file)
    }

    /// Under the lock.
    fn read(&self) -> Result<RecordFile, StoreError> {
        match std::fs::read(self.path()) {
            Ok(bytes) => {
                let file: RecordFile = serde_json::from_slice(&bytes)
                    .map_err(|e| self.error(format!("it is damaged ({e})")))?;
                if file.version != 1 {
                    return Err(self.error(format!("unknown version {}", file.version)));
                }
                Ok(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RecordFile {
                version: 1,
                cards: BTreeMap::new(),
            }),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Under the lock.
    fn write(&self, file: &RecordFile) -> Result<(), StoreError> {
        let temporary = self.dir.join(format!("{FILE_NAME}.tmp"));
        let bytes = serde_json::to_vec_pretty(file).map_err(|e| self.error(e))?;
        let mut out = File::create(&temporary).map_err(|e| self.error(e))?;
        out.write_all(&bytes).map_err(|e| self.error(e))?;
        out.sync_all().map_err(|e| self.error(e))?;
        std::fs::rename(&temporary, self.path()).map_err(|e| self.error(e))
    }
}

/// One card's entry.
pub struct CardJournal<'a> {
    journal: &'a PukJournal,
    guid: String,
}

impl KnowledgeStore for CardJournal<'_> {
    fn load(&mut self) -> Result<PukKnowledge, StoreError> {
        let _lock = self.journal.lock()?;
        Ok(self
            .journal
            .read()?
            .cards
            .get(&self.guid)
            .map(|entry| entry.knowledge.clone())
            .unwrap_or_default())
    }

    fn save(&mut self, knowledge: &PukKnowledge) -> Result<(), StoreError> {
        let _lock = self.journal.lock()?;
        let mut file = self.journal.read()?;
        // Unix seconds (not `commands::now`: the record sits below the commands).
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if *knowledge == PukKnowledge::default() {
            file.cards.remove(&self.guid);
        } else {
            file.cards.insert(
                self.guid.clone(),
                CardEntry {
                    knowledge: knowledge.clone(),
                    updated_at: now,
                },
            );
        }
        while file.cards.len() > MAX_CARDS {
            let oldest = file
                .cards
                .iter()
                .filter(|(guid, _)| **guid != self.guid)
                .min_by_key(|(_, entry)| entry.updated_at)
                .map(|(guid, _)| guid.clone());
            match oldest {
                Some(guid) => file.cards.remove(&guid),
                None => break,
            };
        }
        self.journal.write(&file)
    }
}

/// The per-user state folder for this platform.
pub fn default_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA")
            .map(PathBuf::from)
            .unwrap_or(home)
            .join("Smartcard Self-Service")
    } else if cfg!(target_os = "macos") {
        home.join("Library/Application Support/Smartcard Self-Service")
    } else {
        std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".local/state"))
            .join("smartcard-selfservice")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unblock::InFlight;

    fn knowledge(holds: &str) -> PukKnowledge {
        PukKnowledge {
            holds: Some(holds.into()),
            in_flight: Some(InFlight::Change {
                from: "a".into(),
                to: "b".into(),
            }),
            ..PukKnowledge::default()
        }
    }

    #[test]
    fn entries_are_kept_per_card_across_handles() {
        let dir = tempfile::tempdir().expect("dir");
        let journal = PukJournal::in_dir(dir.path().to_path_buf());
        journal.card("AA").save(&knowledge("a")).expect("save");
        journal.card("bb").save(&knowledge("b")).expect("save");
        let again = PukJournal::in_dir(dir.path().to_path_buf());
        assert_eq!(again.card("aa").load().expect("load"), knowledge("a"));
        assert_eq!(again.card("bb").load().expect("load"), knowledge("b"));
        assert_eq!(
            again.card("cc").load().expect("load"),
            PukKnowledge::default()
        );
        again
            .card("aa")
            .save(&PukKnowledge::default())
            .expect("save");
        assert_eq!(again.check(), Ok(1));
    }

    #[test]
    fn a_damaged_record_fails_closed() {
        let dir = tempfile::tempdir().expect("dir");
        let journal = PukJournal::in_dir(dir.path().to_path_buf());
        std::fs::write(journal.path(), "{ not json").expect("write");
        let error = journal.card("aa").load().expect_err("refused");
        assert!(error.reason.contains("damaged"), "{error}");
        assert!(journal.card("aa").save(&knowledge("a")).is_err());
        assert!(journal.check().is_err());
        // Nothing was written over it.
        assert_eq!(
            std::fs::read_to_string(journal.path()).expect("read"),
            "{ not json"
        );
    }

    #[test]
    fn parallel_writers_lose_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let threads: Vec<_> = (0..8)
            .map(|n| {
                let journal = PukJournal::in_dir(dir.path().to_path_buf());
                std::thread::spawn(move || {
                    for round in 0..10 {
                        journal
                            .card(&format!("card{n}"))
                            .save(&knowledge(&format!("p{round}")))
                            .expect("save");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        let journal = PukJournal::in_dir(dir.path().to_path_buf());
        assert_eq!(journal.check(), Ok(8));
        assert_eq!(journal.card("card3").load().expect("load"), knowledge("p9"));
    }
}
