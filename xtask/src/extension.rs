//! The extension: bundled for Chromium/Edge and Firefox by `extension/build.mjs` (esbuild),
//! type-checked in strict mode, linted with ESLint and web-ext, formatted by Prettier, packaged
//! by `dist`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use crate::cmd;

pub fn build() -> Result<()> {
    cmd::step("extension: node extension/build.mjs (esbuild, both browsers, unit tests)");
    cmd::run("node", &["extension/build.mjs"])
}

/// What Prettier formats: the extension's TypeScript and its build and lint scripts.
const PRETTIER_FILES: &[&str] = &[
    "extension/src/**/*.ts",
    "extension/test/**/*.ts",
    "extension/build.mjs",
    "eslint.config.mjs",
];

pub fn check() -> Result<()> {
    cmd::step("extension: tsc --strict (pages, background, bridge, tests)");
    cmd::run("node_modules/.bin/tsc", &["-p", "extension/tsconfig.json"])?;
    cmd::run(
        "node_modules/.bin/tsc",
        &["-p", "extension/tsconfig.test.json"],
    )?;
    cmd::step("extension: eslint (eslint.config.mjs: recommended, type-checked)");
    cmd::run(
        "node_modules/.bin/eslint",
        &["--max-warnings", "0", "extension", "eslint.config.mjs"],
    )?;
    cmd::step("extension: prettier --check (.prettierrc.json)");
    let mut prettier = vec!["--check"];
    prettier.extend_from_slice(PRETTIER_FILES);
    cmd::run("node_modules/.bin/prettier", &prettier)?;
    cmd::step("extension: web-ext lint (no errors, no warnings)");
    let report = cmd::output(
        "node_modules/.bin/web-ext",
        &[
            "lint",
            "--source-dir",
            "extension/dist/firefox",
            "--output",
            "json",
            "--no-input",
        ],
    )
    .unwrap_or_default();
    // `count` is errors + warnings + notices.
    if !report.contains("\"count\":0,") {
        cmd::run(
            "node_modules/.bin/web-ext",
            &[
                "lint",
                "--source-dir",
                "extension/dist/firefox",
                "--no-input",
            ],
        )?;
        bail!("web-ext lint reported problems");
    }
    Ok(())
}

/// The Chromium/Edge zip and the Firefox xpi, in `dist/`.
pub fn package(version: &str) -> Result<()> {
    package_into(version, &cmd::root().join("dist")).map(|_| ())
}

/// The Chromium/Edge zip and the Firefox xpi, in `dir`: (browser, file) for each.
pub fn package_into(version: &str, dir: &Path) -> Result<Vec<(&'static str, PathBuf)>> {
    let dir_arg = dir.to_str().context("non-UTF-8 path")?;
    let mut built = Vec::new();
    for (browser, file) in [
        (
            "chromium",
            format!("smartcard-selfservice-chromium-{version}.zip"),
        ),
        (
            "firefox",
            format!("smartcard-selfservice-firefox-{version}.xpi"),
        ),
    ] {
        cmd::step(&format!("extension: package {file}"));
        cmd::run(
            "node_modules/.bin/web-ext",
            &[
                "build",
                "--source-dir",
                &format!("extension/dist/{browser}"),
                "--artifacts-dir",
                dir_arg,
                "--filename",
                &file,
                "--overwrite-dest",
                "--no-input",
            ],
        )?;
        built.push((browser, dir.join(file)));
    }
    Ok(built)
}
