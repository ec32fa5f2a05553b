//! The wasm package the extension imports: `selfservice-rules` for wasm32, wasm-bindgen
//! `--target web` with TypeScript definitions, then `wasm-opt -Oz` from npm's binaryen
//! (Debian's binaryen 108 breaks the externref table).

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

use crate::cmd;

pub const PKG_DIR: &str = "wasm/pkg";
const MODULE: &str = "selfservice_rules";

pub fn build() -> Result<()> {
    let root = cmd::root();
    cmd::step("wasm package: cargo build --target wasm32-unknown-unknown --profile wasm");
    cmd::cargo(&[
        "build",
        "--package",
        "selfservice-rules",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm",
    ])?;
    let built = root.join(format!("target/wasm32-unknown-unknown/wasm/{MODULE}.wasm"));
    let pkg = root.join(PKG_DIR);
    if pkg.exists() {
        std::fs::remove_dir_all(&pkg).context("clearing wasm/pkg")?;
    }
    cmd::step("wasm package: wasm-bindgen --target web");
    cmd::run(
        "wasm-bindgen",
        &[
            "--target",
            "web",
            "--out-dir",
            PKG_DIR,
            built.to_str().context("non-UTF-8 path")?,
        ],
    )?;
    let module = pkg.join(format!("{MODULE}_bg.wasm"));
    let unoptimised = std::fs::read(&module)?.len();
    cmd::step("wasm package: wasm-opt -Oz");
    let module_arg = module.to_str().context("non-UTF-8 path")?;
    cmd::run(
        "node_modules/.bin/wasm-opt",
        &[
            "-Oz",
            // The features rustc 1.95 enables for wasm32 by default.
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-reference-types",
            "--enable-sign-ext",
            "--enable-multivalue",
            "--enable-mutable-globals",
            "-o",
            module_arg,
            module_arg,
        ],
    )?;
    write_names(&pkg)?;
    report_sizes(&pkg, unoptimised)
}

/// `wasm/pkg/names.json`: every name and id the extension's manifests and constants need, the
/// protocol version and the workspace's version, from the rules crate itself (so `extension/build.mjs` never reads Rust
/// source).
fn write_names(pkg: &Path) -> Result<()> {
    use selfservice_rules::api::paths;
    use selfservice_rules::names;
    let generated = serde_json::json!({
        "PRODUCT_NAME": names::PRODUCT_NAME,
        "NATIVE_HOST_NAME": names::NATIVE_HOST_NAME,
        "FIREFOX_ADDON_ID": names::FIREFOX_ADDON_ID,
        "CHROMIUM_EXTENSION_ID": names::CHROMIUM_EXTENSION_ID,
        "CHROMIUM_EXTENSION_PUBLIC_KEY": names::CHROMIUM_EXTENSION_PUBLIC_KEY,
        "PAGE_MESSAGE_SOURCE": names::PAGE_MESSAGE_SOURCE,
        "EXTENSION_MESSAGE_SOURCE": names::EXTENSION_MESSAGE_SOURCE,
        "BRIDGE_VERSION": names::BRIDGE_VERSION,
        "PROTOCOL_VERSION": selfservice_rules::protocol::PROTOCOL_VERSION,
        // The workspace's version (every crate carries it), which the extension carries too.
        "VERSION": env!("CARGO_PKG_VERSION"),
        // The portal API's paths: the extension names no path of its own.
        "API_PATHS": paths::ALL
            .into_iter()
            .map(|(name, path)| (name.to_string(), serde_json::Value::from(path)))
            .collect::<serde_json::Map<_, _>>(),
    });
    std::fs::write(
        pkg.join("names.json"),
        serde_json::to_string_pretty(&generated)?,
    )
    .context("writing wasm/pkg/names.json")
}

fn gzip_size(bytes: &[u8]) -> Result<usize> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

fn report_sizes(pkg: &Path, unoptimised: usize) -> Result<()> {
    let wasm = std::fs::read(pkg.join(format!("{MODULE}_bg.wasm")))?;
    let glue = std::fs::read(pkg.join(format!("{MODULE}.js")))?;
    let report = format!(
        "wasm package sizes (bytes): module {} raw / {} gzip -9 (before wasm-opt {}); JS glue {} raw / {} gzip -9\n",
        wasm.len(),
        gzip_size(&wasm)?,
        unoptimised,
        glue.len(),
        gzip_size(&glue)?,
    );
    eprint!("{report}");
    std::fs::write(pkg.join("SIZES.txt"), report)?;
    Ok(())
}
