//! The minimum supported Rust version (`rust-version` in the workspace manifest), checked with
//! what this machine has: no older toolchain can be fetched here (rustup's servers are out of
//! reach), so `cargo +<msrv> check` cannot run. Instead:
//! - every crate in the dependency graph, on every platform, declares a `rust-version` no newer
//!   than ours (a dependency update that needs a newer compiler fails here, not on a user's
//!   machine);
//! - clippy's `incompatible_msrv` lint (on by default, `-D warnings` in `cargo xtask test`)
//!   refuses standard-library items stabilised after our `rust-version`.
//!
//! Language features newer than the MSRV are not caught by either; a machine with the MSRV
//! toolchain installed can run `cargo +<msrv> check --workspace` for that.

use anyhow::{bail, Context, Result};

use crate::cmd;

pub fn check() -> Result<()> {
    cmd::step("MSRV: every dependency's rust-version is within the workspace's");
    let text = cmd::output("cargo", &["metadata", "--format-version", "1", "--locked"])
        .context("cargo metadata")?;
    let metadata: serde_json::Value = serde_json::from_str(&text)?;
    let ours = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "xtask")
        .and_then(|p| p["rust_version"].as_str())
        .and_then(version)
        .context("the workspace's rust-version")?;
    let too_new: Vec<String> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let needs = version(p["rust_version"].as_str()?)?;
            (needs > ours).then(|| format!("{} {} needs Rust {needs:?}", p["name"], p["version"]))
        })
        .collect();
    if !too_new.is_empty() {
        bail!(
            "dependencies need a newer Rust than rust-version {ours:?}: {}",
            too_new.join("; ")
        );
    }
    println!(
        "MSRV {}.{}.{}: every crate in the graph fits",
        ours.0, ours.1, ours.2
    );
    Ok(())
}

/// "1.89" or "1.88.0" as (major, minor, patch).
fn version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next().unwrap_or(Some(0))?,
        parts.next().unwrap_or(Some(0))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::version;

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(version("1.89"), Some((1, 89, 0)));
        assert!(version("1.88.0") < version("1.89"));
        assert!(version("1.100") > version("1.89"));
        assert_eq!(version("x"), None);
    }
}
