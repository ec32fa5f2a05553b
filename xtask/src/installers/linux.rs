//! The .deb and .rpm: built from the release host, installed into a scratch root, checked.

use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};

use super::*;
use crate::cmd;

/// The browsers' folders the Chromium-family manifest is linked into on Linux.
const LINUX_LINKS: [&str; 3] = [
    "etc/opt/chrome/native-messaging-hosts",
    "etc/opt/edge/native-messaging-hosts",
    "etc/chromium/native-messaging-hosts",
];

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
            .env("SMARTCARD_SELFSERVICE_ROOT", &scratch)
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
