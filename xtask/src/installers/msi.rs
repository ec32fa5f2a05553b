//! The Windows MSI: built with wixl from the WiX source; its tables checked against the
//! reviewed golden file.

use anyhow::{bail, Context, Result};
use std::path::Path;

use super::*;
use crate::cmd;

const WXS: &str = "installers/windows/smartcard-selfservice.wxs";

const GOLDEN: &str = "installers/windows/msi-tables.golden";

/// Builds the MSI from a Windows host executable.
pub fn build_msi(version: &str, exe: &Path, native_host: &Path, out: &Path) -> Result<()> {
    cmd::step(&format!("installers: MSI {}", out.display()));
    let staging = root().join("target/msi-staging");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    std::fs::copy(exe, staging.join(format!("{HOST}.exe")))
        .with_context(|| format!("copying {}", exe.display()))?;
    // On Windows the manifest may name the program relative to itself: no rewriting at install.
    write_manifests(native_host, &staging, &format!("{HOST}.exe"))?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out_s = out.to_str().context("path")?;
    cmd::run(
        "wixl",
        &[
            "--arch",
            "x64",
            "-D",
            &format!("ProductVersion={version}"),
            "-D",
            // Relative to the workspace (where wixl runs): wixl 0.101 cannot open files given
            // by an absolute SourceDir.
            "SourceDir=target/msi-staging",
            "-o",
            out_s,
            WXS,
        ],
    )?;
    // wixl drops Property/@Secure: without this, /qn installs would not pass the properties
    // to the elevated part of the installation.
    cmd::run(
        "msibuild",
        &[
            out_s,
            "-q",
            "UPDATE Property SET Value='WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;PORTALORIGINS;PORTALPUBLICKEY' WHERE Property='SecureCustomProperties'",
        ],
    )
}

/// The MSI's tables as reviewed text: what is installed where, for which feature. Values that
/// change every build (ProductCode, file sizes and versions) are left out.
pub fn msi_tables(msi: &Path) -> Result<String> {
    let msi = msi.to_str().context("path")?;
    let mut text = String::new();
    for table in [
        "Property",
        "Feature",
        "Component",
        "FeatureComponents",
        "File",
        "Registry",
        "Upgrade",
        // Remembering PORTALORIGINS / PORTALPUBLICKEY across upgrades and repairs.
        "AppSearch",
        "RegLocator",
        "CustomAction",
        "InstallExecuteSequence",
    ] {
        let export = cmd::output("msiinfo", &["export", msi, table])
            .with_context(|| format!("msiinfo export {table}"))?;
        let mut rows: Vec<String> = export
            .lines()
            .skip(3)
            .filter(|l| !l.starts_with("ProductCode\t"))
            .map(|line| {
                if table == "File" {
                    // File, Component_, FileName, FileSize, Version, Language, Attributes, Sequence
                    let c: Vec<&str> = line.split('\t').collect();
                    [c.first(), c.get(1), c.get(2), c.get(6), c.get(7)]
                        .iter()
                        .map(|v| v.copied().unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join("\t")
                } else {
                    line.to_string()
                }
            })
            .collect();
        rows.sort();
        text.push_str(&format!("[{table}]\n{}\n\n", rows.join("\n")));
    }
    Ok(text)
}

/// Compares the MSI with the reviewed golden file. Nothing here rewrites it: that is
/// `cargo xtask update-golden`, run by a person who then reviews the diff.
pub fn check_msi(msi: &Path) -> Result<()> {
    cmd::step("installers: MSI tables against the reviewed golden file");
    let tables = msi_tables(msi)?;
    let golden = root().join(GOLDEN);
    let expected = std::fs::read_to_string(&golden)
        .context("the golden file is missing (cargo xtask update-golden)")?;
    if expected != tables {
        let actual = root().join("target/msi-tables.actual");
        std::fs::write(&actual, &tables)?;
        bail!(
            "the MSI differs from {}; see {} (review, then cargo xtask update-golden)",
            golden.display(),
            actual.display()
        );
    }
    Ok(())
}

/// Rewrites the golden file from this MSI: for `cargo xtask update-golden` only.
pub fn write_golden(msi: &Path) -> Result<()> {
    let golden = root().join(GOLDEN);
    std::fs::write(&golden, msi_tables(msi)?)?;
    eprintln!(
        "wrote {}; review it with git diff before committing",
        golden.display()
    );
    Ok(())
}
