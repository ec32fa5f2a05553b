//! Installers (installers/README.md): the Windows MSI (wixl), the .deb (cargo-deb) and .rpm
//! (cargo-generate-rpm), the macOS payload, and the checks `cargo xtask test` runs on them.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};

use crate::cmd;

const HOST: &str = "smartcard-selfservice";
const NAME: &str = "smartcard_selfservice";
const WXS: &str = "installers/windows/smartcard-selfservice.wxs";
const GOLDEN: &str = "installers/windows/msi-tables.golden";
/// The browsers' folders the Chromium-family manifest is linked into on Linux.
const LINUX_LINKS: [&str; 3] = [
    "etc/opt/chrome/native-messaging-hosts",
    "etc/opt/edge/native-messaging-hosts",
    "etc/chromium/native-messaging-hosts",
];

fn root() -> PathBuf {
    cmd::root()
}

/// Both manifests, made by the host itself from the one source of names and ids.
fn write_manifests(host: &Path, dir: &Path, program: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for (browser, file) in [
        ("chromium", format!("{NAME}.chromium.json")),
        ("firefox", format!("{NAME}.firefox.json")),
    ] {
        let json = cmd::output(
            host.to_str().context("path")?,
            &["manifest", "--browser", browser, "--program", program],
        )
        .context("smartcard-selfservice manifest")?;
        std::fs::write(dir.join(file), json)?;
    }
    Ok(())
}

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

/// The .deb and .rpm from the release host binary.
pub fn build_linux_packages(out: &Path) -> Result<(PathBuf, PathBuf)> {
    let host = root().join("target/release").join(HOST);
    write_manifests(
        &host,
        &root().join("target/linux-staging"),
        &format!("/usr/bin/{HOST}"),
    )?;
    cmd::step("installers: .deb (cargo-deb)");
    let out_s = out.to_str().context("path")?;
    cmd::cargo(&[
        "deb",
        "--package",
        HOST,
        "--no-build",
        "--quiet",
        "--output",
        out_s,
    ])?;
    cmd::step("installers: .rpm (cargo-generate-rpm)");
    cmd::cargo(&["generate-rpm", "--package", "host", "--output", out_s])?;
    let find = |ext: &str| -> Result<PathBuf> {
        std::fs::read_dir(out)?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(ext) && p.to_string_lossy().contains(HOST))
            .with_context(|| format!("no {ext} in {}", out.display()))
    };
    Ok((find(".deb")?, find(".rpm")?))
}

fn files_under(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path
                .strip_prefix(base)
                .map(|p| p.starts_with("var"))
                .unwrap_or(false)
            {
                continue;
            }
            if path.is_dir() && !path.is_symlink() {
                walk(&path, base, out);
            } else if let Ok(relative) = path.strip_prefix(base) {
                out.push(relative.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn check_installed(root_dir: &Path, lib64: bool) -> Result<()> {
    let manifest = |path: &Path| -> Result<String> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("{} missing", path.display()))?;
        Ok(text)
    };
    ensure!(
        root_dir.join("usr/bin").join(HOST).exists(),
        "the host binary is installed"
    );
    let mut firefox = vec!["usr/lib/mozilla/native-messaging-hosts"];
    if lib64 {
        firefox.push("usr/lib64/mozilla/native-messaging-hosts");
    }
    for dir in firefox {
        let text = manifest(&root_dir.join(dir).join(format!("{NAME}.json")))?;
        ensure!(
            text.contains(&format!("\"path\": \"/usr/bin/{HOST}\""))
                && text.contains("allowed_extensions"),
            "{dir}: {text}"
        );
    }
    for dir in LINUX_LINKS {
        let link = root_dir.join(dir).join(format!("{NAME}.json"));
        let target = std::fs::read_link(&link)
            .with_context(|| format!("{} is not a link", link.display()))?;
        let text = manifest(&root_dir.join(target.strip_prefix("/").unwrap_or(&target)))?;
        ensure!(
            text.contains(&format!("\"path\": \"/usr/bin/{HOST}\""))
                && text.contains("allowed_origins"),
            "{dir}: {text}"
        );
    }
    Ok(())
}

/// Installs the .deb into a scratch root, checks every manifest, removes it, checks nothing is left.
pub fn check_deb(deb: &Path) -> Result<()> {
    cmd::step("installers: .deb installed into and removed from a scratch root (dpkg --root)");
    let scratch = tempdir("deb")?;
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(scratch.join(dir))?;
    }
    std::fs::write(scratch.join("var/lib/dpkg/status"), "")?;
    let root_arg = format!("--root={}", scratch.display());
    let deb_s = deb.to_str().context("path")?;
    // pcscd is not in the scratch root's package database: the dependency is checked by the
    // control file test below instead.
    cmd::run(
        "dpkg",
        &[
            &root_arg,
            // A scratch root needs no root privileges.
            "--force-not-root",
            "--force-script-chrootless",
            "--force-depends",
            "--log=/dev/null",
            "-i",
            deb_s,
        ],
    )?;
    check_installed(&scratch, false)?;
    cmd::run(
        "dpkg",
        &[
            &root_arg,
            "--force-not-root",
            "--force-script-chrootless",
            "--log=/dev/null",
            "--purge",
            HOST,
        ],
    )?;
    let left = files_under(&scratch);
    ensure!(left.is_empty(), "left after removal: {left:?}");
    let control =
        cmd::output("dpkg-deb", &["-f", deb_s, "Depends"]).context("dpkg-deb -f failed")?;
    ensure!(
        control.contains("pcscd"),
        "the .deb depends on pcscd: {control}"
    );
    // `dpkg-deb -I deb conffiles` fails when there is none, as it would for a broken package:
    // list the control members instead, which must succeed.
    let members = cmd::output("dpkg-deb", &["-I", deb_s]).context("dpkg-deb -I failed")?;
    ensure!(
        members.contains(" control"),
        "dpkg-deb -I listed no control file: {members}"
    );
    ensure!(
        !members.contains(" conffiles"),
        "no conffiles (nothing under /etc is packaged): {members}"
    );
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Installs the .rpm into a scratch root, checks it, erases it, checks nothing is left.
pub fn check_rpm(rpm: &Path) -> Result<()> {
    cmd::step("installers: .rpm installed into and erased from a scratch root (rpm --root)");
    let scratch = tempdir("rpm")?;
    let rpm_s = rpm.to_str().context("path")?;
    let root_s = scratch.to_str().context("path")?;
    // Keep rpm's database in the scratch root's /var, whatever the user's rpm macros say.
    cmd::run(
        "rpm",
        &["--root", root_s, "--dbpath", "/var/lib/rpm", "--initdb"],
    )?;
    // The scriptlets would run chrooted in an empty root (no shell there): install without
    // them, check the payload, then run the post-install script against the root by hand.
    cmd::run(
        "rpm",
        &["--root", root_s, "-i", "--nodeps", "--noscripts", rpm_s],
    )?;
    let scripts_dir = root().join("installers/linux");
    let run_script = |name: &str, arg: &str| -> Result<()> {
        let status = std::process::Command::new("sh")
            .arg(scripts_dir.join(name))
            .arg(arg)
            .env("SSS_ROOT", &scratch)
            .status()?;
        ensure!(status.success(), "{name} failed");
        Ok(())
    };
    run_script("rpm-post-install.sh", "1")?;
    check_installed(&scratch, true)?;
    cmd::run(
        "rpm",
        &["--root", root_s, "-e", "--nodeps", "--noscripts", HOST],
    )?;
    run_script("rpm-post-uninstall.sh", "0")?;
    let left: Vec<String> = files_under(&scratch)
        .into_iter()
        // The rpm database itself lives in the scratch root too.
        .filter(|f| {
            !f.starts_with("usr/lib/sysimage")
                && !f.starts_with("var/")
                && !f.starts_with("root/.rpmdb")
        })
        .collect();
    ensure!(left.is_empty(), "left after erase: {left:?}");
    let requires = cmd::output("rpm", &["-qp", "--requires", rpm_s]).unwrap_or_default();
    ensure!(
        requires.contains("pcsc-lite"),
        "the .rpm requires pcsc-lite: {requires}"
    );
    let scripts = cmd::output("rpm", &["-qp", "--scripts", rpm_s]).unwrap_or_default();
    ensure!(
        scripts.contains("ln -sf") && scripts.contains("rm -f"),
        "the .rpm links and unlinks the manifests"
    );
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn tempdir(what: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sss-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

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

/// The macOS payload staged here (with the Linux binary standing in for the Mac one): paths,
/// modes, and manifests that are valid and point at the installed program.
pub fn check_macos_payload(host: &Path) -> Result<()> {
    cmd::step("installers: macOS payload staged and checked");
    let out = root().join("target/macos-stage");
    cmd::run(
        "sh",
        &[
            "installers/macos/stage-payload.sh",
            host.to_str().context("path")?,
            out.to_str().context("path")?,
        ],
    )?;
    let payload = out.join("payload");
    let program = "/Library/Application Support/Smartcard Self-Service/smartcard-selfservice";
    let mode = |p: &Path| -> Result<u32> {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
    };
    ensure!(
        mode(&payload.join(program.trim_start_matches('/')))? == 0o755,
        "the program is 0755"
    );
    for (dir, key) in [
        (
            "Library/Google/Chrome/NativeMessagingHosts",
            "allowed_origins",
        ),
        (
            "Library/Microsoft/Edge/NativeMessagingHosts",
            "allowed_origins",
        ),
        (
            "Library/Application Support/Chromium/NativeMessagingHosts",
            "allowed_origins",
        ),
        (
            "Library/Application Support/Mozilla/NativeMessagingHosts",
            "allowed_extensions",
        ),
    ] {
        let path = payload.join(dir).join(format!("{NAME}.json"));
        ensure!(mode(&path)? == 0o644, "{} is 0644", path.display());
        let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        ensure!(
            manifest["path"] == program,
            "{dir}: path {}",
            manifest["path"]
        );
        ensure!(
            manifest["name"] == NAME && manifest.get(key).is_some(),
            "{dir}: {manifest}"
        );
    }
    ensure!(
        mode(&out.join("scripts/postinstall"))? == 0o755,
        "postinstall is executable"
    );
    let staged = files_under(&payload);
    ensure!(
        staged.len() == 5,
        "exactly the program and four manifests: {staged:?}"
    );
    // The uninstall script removes exactly what was staged.
    let uninstall = std::fs::read_to_string(root().join("installers/macos/uninstall.sh"))?;
    for file in &staged {
        let target = format!("/{file}");
        ensure!(
            uninstall.contains(&target)
                || target.starts_with("/Library/Application Support/Smartcard Self-Service/"),
            "uninstall.sh does not remove {target}"
        );
    }
    Ok(())
}
