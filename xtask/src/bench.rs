//! `cargo xtask bench`: every bench part in one run (the host against the Java anchor and the
//! pcsc floor; the portal's checks under load; the unlock in both browsers), the sizes, and
//! then one `target/bench/summary.json`, `report.md` and `ratios.svg`.
//!
//! Each part writes `target/bench/parts/<part>.json` (see `selfservice_vcard::bench`); this file
//! only builds what they need, runs them and gathers.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{cmd, extension, setup, wasm_pkg};

/// The parts, in the order they run: (package, bench target, what it measures).
const PARTS: [(&str, &str, &str); 3] = [
    (
        "smartcard-selfservice",
        "host",
        "the host against the Java anchor and the pcsc floor",
    ),
    (
        "selfservice-portal",
        "portal",
        "the portal's answer and code checks under concurrent flows",
    ),
    (
        "selfservice-e2e",
        "browser",
        "the whole unlock in headless Chromium and Firefox ESR",
    ),
];

/// A figure as the parts write it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Figure {
    name: String,
    value: f64,
    unit: String,
    target: Option<f64>,
    better: Better,
    runs: usize,
    min: f64,
    max: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Better {
    Lower,
    Higher,
}

impl Figure {
    fn size(name: &str, bytes: u64, target_kib: Option<f64>) -> Figure {
        let kib = bytes as f64 / 1024.0;
        Figure {
            name: name.into(),
            value: kib,
            unit: "KiB".into(),
            target: target_kib,
            better: Better::Lower,
            runs: 1,
            min: kib,
            max: kib,
        }
    }

    fn met(&self) -> Option<bool> {
        self.target.map(|t| match self.better {
            Better::Higher => self.value >= t,
            Better::Lower => self.value <= t,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
struct Part {
    figures: Vec<Figure>,
    notes: Vec<String>,
}

/// How much of the bench to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every part, many rounds a figure.
    Full,
    /// What `cargo xtask test` runs: a few rounds a figure, to check the parts run and compute
    /// their ratios (the wasm package and the extension are built by then).
    Short,
    /// Only gather the parts already in `target/bench/parts/` (each part can be run alone with
    /// `cargo bench -p <package> --bench <part>`).
    GatherOnly,
}

pub fn run(mode: Mode) -> Result<()> {
    let root = cmd::root();
    let out = root.join("target/bench");
    let parts_dir = out.join("parts");
    let short = mode == Mode::Short;
    let mut failed = Vec::new();
    if mode != Mode::GatherOnly {
        run_parts(&parts_dir, short, &mut failed)?;
    }
    gather(&root, &out, &parts_dir, short, &failed)
}

fn run_parts(parts_dir: &Path, short: bool, failed: &mut Vec<&'static str>) -> Result<()> {
    if !short {
        setup::run(setup::Need::Everything)?;
        wasm_pkg::build()?;
        extension::build()?;
        crate::windows::build_release_host()?;
    }
    cmd::step("cargo build --release --example pcsc_floor (the floor the host is held to)");
    cmd::cargo(&[
        "build",
        "--release",
        "--package",
        "smartcard-selfservice",
        "--example",
        "pcsc_floor",
    ])?;
    if parts_dir.exists() {
        std::fs::remove_dir_all(parts_dir).context("clearing target/bench/parts")?;
    }
    if short {
        std::env::set_var("SMARTCARD_SELFSERVICE_BENCH_SHORT", "1");
    }
    for (package, bench, what) in PARTS {
        cmd::step(&format!("bench {bench}: {what}"));
        if let Err(error) = cmd::cargo(&["bench", "--package", package, "--bench", bench]) {
            eprintln!("bench {bench} failed: {error:#}");
            failed.push(bench);
        }
    }
    std::env::remove_var("SMARTCARD_SELFSERVICE_BENCH_SHORT");
    Ok(())
}

fn gather(root: &Path, out: &Path, parts_dir: &Path, short: bool, failed: &[&str]) -> Result<()> {
    let mut parts: Vec<(String, Part)> = Vec::new();
    for (_, bench, _) in PARTS {
        let path = parts_dir.join(format!("{bench}.json"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            let part: Part = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", path.display()))?;
            parts.push((bench.to_string(), part));
        }
    }
    parts.push(("sizes".into(), sizes(root, out)?));
    let figures: Vec<&Figure> = parts.iter().flat_map(|(_, p)| &p.figures).collect();
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&figures)?,
    )?;
    let report = report(&parts, short);
    std::fs::write(out.join("report.md"), &report)?;
    chart(&figures, &out.join("ratios.svg"))?;
    print!("{report}");
    cmd::step(&format!(
        "written: {} (and report.md, ratios.svg)",
        out.join("summary.json").display()
    ));
    if !failed.is_empty() {
        bail!("bench parts failed: {}", failed.join(", "));
    }
    Ok(())
}

fn gzip_len(bytes: &[u8]) -> Result<u64> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len() as u64)
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// The sizes a download or an installation carries.
fn sizes(root: &Path, out: &Path) -> Result<Part> {
    let mut part = Part::default();
    let host = root.join("target/release/smartcard-selfservice");
    let stripped = out.join("smartcard-selfservice.stripped");
    match file_len(&host) {
        Some(len) => {
            part.figures.push(Figure::size(
                "host binary: Linux release, as built",
                len,
                None,
            ));
            cmd::run("strip", &["-o", path_str(&stripped)?, path_str(&host)?])?;
            if let Some(len) = file_len(&stripped) {
                part.figures.push(Figure::size(
                    "host binary: Linux release, stripped",
                    len,
                    None,
                ));
            }
        }
        None => part.notes.push("No release host binary to measure.".into()),
    }
    let windows = root.join(format!(
        "target/{}/release/smartcard-selfservice.exe",
        setup::WINDOWS_TARGET
    ));
    match file_len(&windows) {
        Some(len) => part.figures.push(Figure::size(
            "host binary: Windows release (.exe)",
            len,
            None,
        )),
        None => part.notes.push(
            "No Windows host built (cargo xtask bench builds it; the short run does not).".into(),
        ),
    }
    let wasm = root
        .join(wasm_pkg::PKG_DIR)
        .join("selfservice_rules_bg.wasm");
    match std::fs::read(&wasm) {
        Ok(bytes) => {
            part.figures
                .push(Figure::size("wasm module: raw", bytes.len() as u64, None));
            part.figures.push(Figure::size(
                "wasm module: gzip -9",
                gzip_len(&bytes)?,
                Some(100.0),
            ));
        }
        Err(_) => part.notes.push("No wasm package to measure.".into()),
    }
    let packages = out.join("packages");
    let version = env!("CARGO_PKG_VERSION");
    match extension::package_into(version, &packages) {
        Ok(files) => {
            for (browser, file) in files {
                if let Some(len) = file_len(&file) {
                    part.figures.push(Figure::size(
                        &format!("extension package: {browser}"),
                        len,
                        None,
                    ));
                }
            }
        }
        Err(error) => part.notes.push(format!(
            "The extension packages could not be built: {error:#}"
        )),
    }
    Ok(part)
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("non-UTF-8 path")
}

fn report(parts: &[(String, Part)], short: bool) -> String {
    let mut report = String::new();
    if short {
        report.push_str("Short mode: a few runs per figure, to check the bench runs.\n\n");
    }
    for (name, part) in parts {
        report.push_str(&format!(
            "### {name}\n\n| figure | median | min | max | runs | target | met |\n|---|---|---|---|---|---|---|\n"
        ));
        for f in &part.figures {
            let target = f.target.map_or(String::from("-"), |t| {
                format!(
                    "{} {t}",
                    if f.better == Better::Higher {
                        ">="
                    } else {
                        "<="
                    }
                )
            });
            let met = f.met().map_or("-", |m| if m { "yes" } else { "NO" });
            report.push_str(&format!(
                "| {} | {:.2} {} | {:.2} | {:.2} | {} | {target} | {met} |\n",
                f.name, f.value, f.unit, f.min, f.max, f.runs
            ));
        }
        for note in &part.notes {
            report.push_str(&format!("\n{note}\n"));
        }
        report.push('\n');
    }
    report
}

/// The ratios (and every other figure with a target) as bars of "how far from the target":
/// 1 is the target exactly, more is better, on a log scale.
fn chart(figures: &[&Figure], path: &PathBuf) -> Result<()> {
    use plotters::prelude::*;
    let held: Vec<(&str, f64, bool)> = figures
        .iter()
        .filter_map(|f| {
            let target = f.target?;
            let standing = match f.better {
                Better::Higher => f.value / target,
                Better::Lower => target / f.value,
            };
            Some((f.name.as_str(), standing, standing >= 1.0))
        })
        .collect();
    register_font()?;
    let height = 80 + 28 * held.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    // Room to the right of the longest bar for its value.
    let max = held.iter().map(|h| h.1).fold(4.0_f64, f64::max) * 4.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Each figure against its target (1 = target; right of 1 = met)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(330)
        .build_cartesian_2d((0.1_f64..max).log_scale(), (0..held.len()).into_segmented())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(held.len())
        .y_label_formatter(&|at| match at {
            SegmentValue::CenterOf(i) => held.get(*i).map(|h| h.0.to_string()).unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("target / value (value / target where higher is better); log scale")
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(held.iter().enumerate().map(|(i, (_, standing, met))| {
            let colour = if *met { GREEN.mix(0.7) } else { RED.mix(0.7) };
            let mut bar = Rectangle::new(
                [
                    (0.1, SegmentValue::Exact(i)),
                    (*standing, SegmentValue::Exact(i + 1)),
                ],
                colour.filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))
        .map_err(plot_error)?;
    chart
        .draw_series(held.iter().enumerate().map(|(i, (_, standing, _))| {
            Text::new(
                format!("{standing:.2}"),
                (standing * 1.05, SegmentValue::CenterOf(i)),
                ("sans-serif", 12),
            )
        }))
        .map_err(plot_error)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![
                (1.0, SegmentValue::Exact(0)),
                (1.0, SegmentValue::Exact(held.len())),
            ],
            BLACK.stroke_width(2),
        )))
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

fn plot_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {error}")
}

/// plotters measures text with a real font: Debian's DejaVu Sans (fonts-dejavu-core, which
/// `cargo xtask setup` installs).
fn register_font() -> Result<()> {
    const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let bytes = std::fs::read(DEJAVU).with_context(|| format!("reading {DEJAVU}"))?;
    // The registry keeps the font for the life of the program.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{DEJAVU} is not a font plotters can read"))
}
