//! `selfservice-rules`: every rule of the Smartcard Self-Service journeys and every message
//! type, in one crate compiled natively into the host and the portal and to wasm for the
//! extension pages, so the three can never disagree.
//!
//! - [`passcode`]: the effective passcode rule (the staff guides' rule, card, organisation) and its checks
//! - [`email`]: approved email domains
//! - [`questions`]: the 20 security questions, the choice rule, answer normalisation
//! - [`codes`]: emailed codes, their 15-minute life, question attempt counting
//! - [`protocol`]: native messaging between the extension and the host
//! - [`api`]: the portal's HTTP API
//! - [`authorization`]: the portal's signed unblock authorization
//! - [`proof`]: the card's proof of presence (purpose, algorithm, the proof itself) and the
//!   digest that binds its signature to an origin, a challenge, a purpose and a host key
//! - [`secret`]: passcodes, PUKs and temporary PINs in transit (zeroized, never printed)
//! - [`origin`]: the web-origin check (https, or http on loopback) the host and portal apply
//! - [`certificate`]: what the host and the portal read of a card certificate (feature `x509`)
//! - [`seal`]: HPKE sealing of the card's secrets to the host (native builds, feature `seal`)
//! - [`json_reader`]: JSON into typed values with field-naming errors (host requests, portal bodies)
//! - `openapi` (feature `openapi`, xtask): the API above as the OpenAPI 3.1 document
//! - [`names`]: product, host and extension names and ids
//! - [`nfkc`]: Unicode NFKC (natively a crate; in the wasm build, the browser's)
//! - [`verdict`]: the one shape every check returns to JavaScript and to the shared vectors
//! - `fuzzing` (feature `fuzzing`, tests only): seeds and edits for every crate's fuzz targets

pub mod api;
pub mod authorization;
#[cfg(feature = "x509")]
pub mod certificate;
pub mod codes;
pub mod email;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod json_reader;
pub mod names;
pub mod nfkc;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod origin;
pub mod passcode;
pub mod proof;
pub mod protocol;
pub mod questions;
#[cfg(feature = "seal")]
pub mod seal;
pub mod secret;
pub mod verdict;

#[cfg(target_arch = "wasm32")]
mod wasm_api;

#[cfg(test)]
mod fuzz;
