//! `cargo xtask fuzz --seconds N`: every fuzz target (bolero, on the stable toolchain) for N
//! seconds each, then a table of inputs tried per target. The targets live next to what they
//! test (`wasm/src/fuzz`, `host/src/fuzz`) and also run in `cargo test`, on their corpus and a
//! fixed list of generated inputs (the same every run).

use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};

use crate::cmd;

/// The crates with fuzz targets, and the cargo arguments that select them.
const SUITES: &[(&str, &[&str])] = &[
    (
        "selfservice-rules",
        &["--package", "selfservice-rules", "--lib"],
    ),
    (
        "smartcard-selfservice",
        &[
            "--package",
            "smartcard-selfservice",
            "--bin",
            "smartcard-selfservice",
        ],
    ),
];

pub fn run(seconds: u64) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut rows = Vec::new();
    for (name, select) in SUITES {
        cmd::step(&format!("fuzz: {name}, {seconds} s per target"));
        let mut args = vec!["test", "--release"];
        args.extend_from_slice(select);
        // One target at a time, so each gets the whole machine for its seconds.
        args.extend_from_slice(&["fuzz::", "--", "--test-threads", "1", "--nocapture"]);
        let output = Command::new(&cargo)
            .args(&args)
            .current_dir(cmd::root())
            .env("BOLERO_RANDOM_TEST_TIME_MS", (seconds * 1000).to_string())
            // Fresh random seeds here; `cargo test` runs the fixed inputs (wasm/src/fuzzing.rs).
            .env("SELFSERVICE_FUZZ_RANDOM", "1")
            .stdin(Stdio::null())
            .output()
            .context("cargo test")?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        print!("{}", String::from_utf8_lossy(&output.stdout));
        if !output.status.success() {
            eprint!("{stderr}");
            bail!("a fuzz target of {name} failed: the input is in the output above; add it to the target's corpus as a regression seed once fixed");
        }
        rows.extend(stderr.lines().filter_map(parse_outcome));
    }
    println!("\n| target | run time | inputs/s | seeds replayed | generated inputs |");
    println!("|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            row.target, row.run_time, row.rate, row.corpus, row.generated
        );
    }
    if rows.is_empty() {
        bail!("no fuzz target reported its figures");
    }
    Ok(())
}

struct Row {
    target: String,
    run_time: String,
    rate: String,
    corpus: String,
    generated: String,
}

/// bolero's closing line: `test fuzz::x ...\trun time: 1.0s | iterations/s: 123 | corpus
/// inputs: 7 | rng inputs: 1234 | exit reason: ...`.
fn parse_outcome(line: &str) -> Option<Row> {
    let rest = line.strip_prefix("test ")?;
    let (target, figures) = rest.split_once(" ...")?;
    let field = |label: &str| {
        figures
            .split('|')
            .map(str::trim)
            .find_map(|part| part.strip_prefix(label).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| "0".to_string())
    };
    Some(Row {
        target: target.trim().to_string(),
        run_time: field("run time:"),
        rate: field("iterations/s:"),
        corpus: field("corpus inputs:"),
        generated: field("rng inputs:"),
    })
}
