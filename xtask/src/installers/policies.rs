//! The policy templates (ADMX/ADML) and the per-browser policy examples.

use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};

use super::*;
use crate::cmd;

/// The policy templates and examples: every file parses, every ADMX setting is a key of the
/// extension's managed schema, every ADMX string and presentation has its ADML entry, and the
/// examples configure only schema keys.
pub fn check_policies() -> Result<()> {
    cmd::step("installers: policy templates against the extension's managed schema");
    let base = root().join("installers");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        root().join("extension/static/managed_schema.json"),
    )?)?;
    let keys: Vec<String> = schema["properties"]
        .as_object()
        .context("schema properties")?
        .keys()
        .cloned()
        .collect();
    let mut files = Vec::new();
    collect(&base, &mut files);
    for file in &files {
        let name = file.to_string_lossy();
        if name.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(file)?)
                .with_context(|| format!("{name} is not valid JSON"))?;
        } else if [".admx", ".adml", ".xml", ".mobileconfig", ".wxs"]
            .iter()
            .any(|e| name.ends_with(e))
        {
            cmd::run("xmllint", &["--noout", &name])?;
        }
    }
    let admx = std::fs::read_to_string(base.join("policies/windows/SmartcardSelfService.admx"))?;
    let adml =
        std::fs::read_to_string(base.join("policies/windows/en-US/SmartcardSelfService.adml"))?;
    let between = |text: &str, start: &str, end: char| -> Vec<String> {
        text.split(start)
            .skip(1)
            .filter_map(|rest| rest.split(end).next())
            .map(str::to_string)
            .collect()
    };
    let mut settings = between(&admx, "valueName=\"", '"');
    // A list element writes its values under a key named after the setting.
    settings.extend(between(&admx, "<list id=\"", '"'));
    ensure!(!settings.is_empty(), "the ADMX defines no setting");
    for setting in &settings {
        ensure!(
            keys.contains(setting),
            "ADMX setting {setting} is not in the managed schema ({keys:?})"
        );
    }
    for key in &keys {
        ensure!(
            settings.contains(key),
            "managed schema key {key} has no ADMX setting"
        );
    }
    for id in between(&admx, "$(string.", ')') {
        ensure!(
            adml.contains(&format!("<string id=\"{id}\">")),
            "ADMX string {id} has no ADML entry"
        );
    }
    for id in between(&admx, "$(presentation.", ')') {
        ensure!(
            adml.contains(&format!("<presentation id=\"{id}\">")),
            "ADMX presentation {id} has no ADML entry"
        );
    }
    // The examples configure only what the extension reads.
    let linux: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        base.join("policies/linux/managed-policy.json"),
    )?)?;
    let firefox: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        base.join("policies/firefox/policies.json"),
    )?)?;
    for block in [
        linux["3rdparty"]["extensions"].as_object(),
        firefox["policies"]["3rdparty"]["Extensions"].as_object(),
    ] {
        let block = block.context("a 3rdparty block")?;
        for settings in block.values() {
            for key in settings.as_object().context("settings")?.keys() {
                ensure!(
                    keys.contains(key),
                    "example sets {key}, which the extension does not read"
                );
            }
        }
    }
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
