//! `selfservice-vcard`: a PIV smartcard (NIST SP 800-73) that plugs into the real PC/SC stack
//! through the vsmartcard `vpcd` reader driver, so the host is tested on its real PC/SC path.
//!
//! - [`piv`]: the card application: SELECT, GET DATA, VERIFY, CHANGE REFERENCE DATA, RESET
//!   RETRY COUNTER, GENERAL AUTHENTICATE, GET RESPONSE chaining
//! - [`apdu`]: command APDU parsing, status words, BER-TLV
//! - [`bench`]: the figures every bench of the world writes for `cargo xtask bench`
//! - [`card_file`]: the TOML card description and its atomic write-back
//! - [`ca`]: the test CA that issues the cards' certificates
//! - [`runner`]: the vpcd connection, insertion, removal and fault injection
//! - [`control`]: the control socket of a card run as a process
//! - [`control_page`]: the world's page for driving the demo by hand
//! - [`pcscd`]: a private pcscd with vpcd
//! - [`smtp_sink`]: the world's loopback SMTP server, keeping every message as NNNN.eml
//! - [`world`]: `world up|down|status`

pub mod apdu;
pub mod bench;
pub mod ca;
pub mod card_file;
pub mod control;
pub mod control_page;
pub mod pcscd;
pub mod piv;
pub mod runner;
pub mod smtp_sink;
pub mod world;
