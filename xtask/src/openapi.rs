//! `cargo xtask openapi`: the portal API's OpenAPI document, generated from the rules crate's
//! types (`selfservice_rules::openapi`), written to `docs/portal-api.openapi.json`. The check in
//! `cargo xtask test` fails when the committed file is not what the types produce, or
//! is not a valid OpenAPI 3.1 document (`xtask/js/validate-openapi.mjs`).

use anyhow::{ensure, Context, Result};

use crate::cmd;

pub const DOCUMENT: &str = "docs/portal-api.openapi.json";

pub fn write() -> Result<()> {
    let path = cmd::root().join(DOCUMENT);
    std::fs::write(&path, selfservice_rules::openapi::document_text())
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {DOCUMENT}");
    Ok(())
}

pub fn check() -> Result<()> {
    cmd::step("the OpenAPI document is current (docs/portal-api.openapi.json)");
    let path = cmd::root().join(DOCUMENT);
    let committed =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        committed == selfservice_rules::openapi::document_text(),
        "{DOCUMENT} is not what the rules crate's API types produce: run `cargo xtask openapi` and commit the file"
    );
    // Any OpenAPI tool must read it: checked against the OpenAPI 3.1 schema itself.
    cmd::run("node", &["xtask/js/validate-openapi.mjs", DOCUMENT])
}
