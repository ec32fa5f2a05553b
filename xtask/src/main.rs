//! `cargo xtask`: the project's automation, in Rust so that it runs wherever cargo does.
//!
//! - `demo`: the main job; see `demo.rs`.
//! - `setup`: installs what is missing (Debian packages as root, the wasm target, pinned tools,
//!   npm packages); safe to run again.
//! - `build`: the workspace in release mode and the wasm package the extension imports.
//! - `test`: setup, format and lint checks with warnings as errors, then every test suite.
//! - `openapi`: writes the portal API's OpenAPI document from the rules crate's types.
//! - `page-library`: writes the page library's generated constants and compiles its `dist/`.
//! - `conformance`: a portal checked against the API contract (the reference portal by default).
//! - `bench`: the host's speed and memory targets, measured.
//! - `world up|status|down`: a private pcscd with vpcd and virtual cards, for a shell.

mod bench;
mod cmd;
mod crx;
mod demo;
mod extension;
mod fuzz;
mod installers;
mod msrv;
mod openapi;
mod page_library;
mod rollout_packages;
mod setup;
mod test;
mod wasm_pkg;
mod windows;
mod wine10;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Smartcard Self-Service project automation"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// The main job: both journeys end to end (headless without a display, with screenshots;
    /// with a display, the browser on the portal and the control page, for a person to drive).
    Demo {
        /// With a display: open Firefox ESR instead of Chromium.
        #[arg(long)]
        firefox: bool,
        /// Run the journeys headless even when there is a display.
        #[arg(long)]
        headless: bool,
        /// Run the headless journeys this many times in a row; fails unless every run passes.
        #[arg(long, default_value_t = 1)]
        runs: u32,
    },
    /// Install what the build and tests need, if it is missing.
    Setup,
    /// Write docs/portal-api.openapi.json from the rules crate's API types (`test` checks it
    /// is current).
    Openapi,
    /// Write page-library/src/protocol.ts from the rules crate and compile page-library/dist
    /// (`test` checks both are current).
    PageLibrary,
    /// Check a portal against the API contract: registration, unlock and the abuse cases over
    /// HTTP with the virtual card and the real host; a pass/fail table. Without --portal,
    /// against the reference portal (tests/conformance/README.md).
    Conformance {
        /// Your portal's base URL.
        #[arg(long, requires = "hooks")]
        portal: Option<String>,
        /// The origin card proofs are bound to (default: the portal URL's origin).
        #[arg(long, requires = "portal")]
        origin: Option<String>,
        /// Your test-mode hooks command (`COMMAND HOOK`, JSON in and out).
        #[arg(long, requires = "portal")]
        hooks: Option<String>,
        /// Issue the virtual card from the CA in this folder (made on first use), so your test
        /// portal trusts its `ca.pem` once.
        #[arg(long, requires = "portal")]
        ca_dir: Option<String>,
    },
    /// Build everything, including the wasm package in wasm/pkg.
    Build,
    /// Run setup, the format and lint checks, and every test suite.
    Test,
    /// The deliverables in dist/: the extension's zip, CRX and updates.xml, and xpi, the MSI,
    /// the .deb and the .rpm.
    Dist,
    /// Only the Chromium/Edge CRX and its updates.xml, from the built extension (key:
    /// SMARTCARD_SELFSERVICE_CRX_KEY; without it a throwaway key, for tests).
    Crx {
        /// Where to write them.
        #[arg(long, default_value = "dist")]
        out: std::path::PathBuf,
        /// The URL the CRX and updates.xml are published under, ending in '/' (default:
        /// SMARTCARD_SELFSERVICE_UPDATE_BASE, else the example URL the policy examples name).
        #[arg(long)]
        update_base: Option<String>,
    },
    /// The packages the rollout tests install by policy, in target/rollout/ (part of `test`;
    /// run it before `cargo test -p selfservice-e2e --test rollout` by hand).
    RolloutPackages,
    /// Build the installers from the current build and check them (part of `test`).
    Installers,
    /// Rewrite installers/windows/msi-tables.golden from the current MSI, for review with
    /// `git diff` (never part of `test`).
    UpdateGolden,
    /// The Windows build of the host and the MSI under Wine (part of `test`; needs the
    /// Windows and Linux debug builds).
    Windows,
    /// The Windows build's card suites under Wine 10 in a Debian 13 root (part of `test`;
    /// needs root; the root is made once, in /var/cache/smartcard-selfservice/wine10).
    Wine10,
    /// Every fuzz target for a while, then the inputs tried per target (each also replays its
    /// corpus and fixed inputs in `test`).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Speed, memory and size figures against their targets, in one run: target/bench/
    /// summary.json, report.md, ratios.svg.
    Bench {
        /// A few rounds per figure (what `cargo xtask test` runs): does it run, are the ratios
        /// computed.
        #[arg(long)]
        short: bool,
        /// Only gather the parts already in target/bench/parts/ into the summary, report and
        /// chart (a part alone: `cargo bench -p <package> --bench host|portal|browser`).
        #[arg(long, conflicts_with = "short")]
        gather_only: bool,
    },
    /// A private pcscd with vpcd and virtual cards: `eval "$(cargo xtask world up)"`,
    /// `cargo xtask world status`, `cargo xtask world down`.
    World {
        /// up [--slot0 CARD] [--slot1 CARD] | status | down
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.task {
        Task::Demo {
            firefox,
            headless,
            runs,
        } => demo::run(demo::Options {
            firefox,
            headless,
            runs,
        }),
        Task::Setup => setup::run(setup::Need::Everything),
        Task::Openapi => openapi::write(),
        Task::PageLibrary => page_library::write(),
        Task::Conformance {
            portal,
            origin,
            hooks,
            ca_dir,
        } => conformance(portal, origin, hooks, ca_dir),
        Task::Build => build(),
        Task::Test => test::run(),
        Task::World { args } => world(&args),
        Task::Bench { short, gather_only } => bench::run(if gather_only {
            bench::Mode::GatherOnly
        } else if short {
            bench::Mode::Short
        } else {
            bench::Mode::Full
        }),
        Task::Fuzz { seconds } => fuzz::run(seconds),
        Task::Dist => dist(),
        Task::Crx { out, update_base } => crx_only(&out, update_base),
        Task::RolloutPackages => rollout_packages(),
        Task::Installers => test::installers_check(),
        Task::UpdateGolden => test::update_golden(),
        // On its own, the stage builds what it runs (within `test`, the build before it has).
        Task::Windows => test::build_windows_host().and_then(|()| windows::run()),
        Task::Wine10 => test::build_windows_host().and_then(|()| wine10::run()),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn build() -> anyhow::Result<()> {
    setup::run(setup::Need::Everything)?;
    cmd::step("cargo build --workspace --release");
    cmd::cargo(&["build", "--workspace", "--release"])?;
    wasm_pkg::build()?;
    extension::build()?;
    Ok(())
}

fn rollout_packages() -> anyhow::Result<()> {
    wasm_pkg::build()?;
    extension::build()?;
    rollout_packages::packages(env!("CARGO_PKG_VERSION"))
}

fn dist() -> anyhow::Result<()> {
    build()?;
    extension::check()?;
    let version = env!("CARGO_PKG_VERSION");
    extension::package(version)?;
    let root = cmd::root();
    crx_only(&root.join("dist"), None)?;
    let windows_host = windows::build_release_host()?;
    let dist = root.join("dist");
    installers::build_msi(
        version,
        &windows_host,
        &root.join("target/release/smartcard-selfservice"),
        &dist.join(format!("smartcard-selfservice-{version}-x64.msi")),
    )?;
    installers::build_linux_packages(&dist)?;
    installers::check_policies()?;
    cmd::step(&format!("deliverables in {}", dist.display()));
    Ok(())
}

fn crx_only(out: &std::path::Path, update_base: Option<String>) -> anyhow::Result<()> {
    let update_base = update_base
        .or_else(|| std::env::var(crx::UPDATE_BASE_VARIABLE).ok())
        .unwrap_or_else(|| crx::DEFAULT_UPDATE_BASE.to_string());
    let packed = crx::pack(env!("CARGO_PKG_VERSION"), out, &update_base)?;
    if packed.throwaway {
        eprintln!(
            "note: {} was signed with a throwaway key (id {}): set {} to the release key's \
             PEM file for the published id {}",
            packed.crx.display(),
            packed.id,
            crx::KEY_VARIABLE,
            selfservice_rules::names::CHROMIUM_EXTENSION_ID
        );
    }
    eprintln!(
        "{} and {}",
        packed.crx.display(),
        packed.updates_xml.display()
    );
    Ok(())
}

/// Builds the virtual card and hands the arguments to its `world` command, so the world's
/// `export` lines reach the caller's stdout untouched.
fn conformance(
    portal: Option<String>,
    origin: Option<String>,
    hooks: Option<String>,
    ca_dir: Option<String>,
) -> anyhow::Result<()> {
    setup::run(setup::Need::Demo)?;
    cmd::step("build the conformance suite, the host, the virtual card and the reference portal");
    cmd::cargo(&[
        "build",
        "--quiet",
        "--package",
        "selfservice-conformance",
        "--package",
        "smartcard-selfservice",
        "--package",
        "selfservice-vcard",
        "--package",
        "selfservice-portal",
    ])?;
    let program = cmd::root().join("target/debug/selfservice-conformance");
    let program = program.to_string_lossy().into_owned();
    match (portal, hooks) {
        (Some(portal), Some(hooks)) => {
            let mut args = vec!["run", "--portal", &portal, "--hooks", &hooks];
            if let Some(origin) = origin.as_deref() {
                args.extend(["--origin", origin]);
            }
            if let Some(dir) = ca_dir.as_deref() {
                args.extend(["--ca-dir", dir]);
            }
            cmd::run(&program, &args)
        }
        _ => cmd::run(&program, &["reference"]),
    }
}

fn world(args: &[String]) -> anyhow::Result<()> {
    cmd::cargo(&[
        "build",
        "--quiet",
        "--package",
        "selfservice-vcard",
        "--package",
        "selfservice-portal",
    ])?;
    let program = cmd::root().join("target/debug/selfservice-vcard");
    let mut full = vec!["world"];
    full.extend(args.iter().map(String::as_str));
    cmd::run(program.to_str().unwrap_or("selfservice-vcard"), &full)
}
