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

/// What Prettier formats: the extension's and the page library's TypeScript, their tests, and
/// the build, lint and check scripts.
const PRETTIER_FILES: &[&str] = &[
    "extension/src/**/*.ts",
    "extension/test/**/*.ts",
    "extension/build.mjs",
    "eslint.config.mjs",
    "page-library/src/**/*.ts",
    "page-library/test/**/*.mjs",
    "xtask/js/*.mjs",
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
        &[
            "--max-warnings",
            "0",
            "extension",
            "page-library",
            "xtask/js",
            "eslint.config.mjs",
        ],
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
    check_icons()
}

/// The icon sizes the browsers and their stores ask for (16 and 32 for the toolbar, 48 for
/// the extensions page, 128 for the store and installation), each a PNG of its stated size.
fn check_icons() -> Result<()> {
    cmd::step("extension: icons at 16, 32, 48 and 128 px, each of its stated size");
    for browser in ["chromium", "firefox"] {
        let dist = cmd::root().join("extension/dist").join(browser);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json"))?)?;
        for size in [16u32, 32, 48, 128] {
            let path = manifest["icons"][size.to_string()]
                .as_str()
                .with_context(|| format!("{browser}: the manifest has no {size} px icon"))?;
            let png = std::fs::read(dist.join(path))?;
            // A PNG's IHDR chunk holds the width and height at bytes 16..24.
            let dimension = |at: usize| {
                png.get(at..at + 4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            };
            if !png.starts_with(b"\x89PNG\r\n\x1a\n")
                || dimension(16) != Some(size)
                || dimension(20) != Some(size)
            {
                bail!("{browser}: {path} is not a {size}x{size} PNG");
            }
        }
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
