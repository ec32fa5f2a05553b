//! What every bench of the world writes: figures (a median over runs, with their spread and
//! the target each is held to) into `target/bench/parts/<part>.json`, which `cargo xtask
//! bench` gathers into one summary, report and chart.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Whether a smaller or a larger value is the better one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Lower,
    Higher,
}

/// One figure: the median of its runs, with their spread and its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub target: Option<f64>,
    pub better: Better,
    pub runs: usize,
    pub min: f64,
    pub max: f64,
}

impl Figure {
    /// The median of `samples` (which must not be empty), with their min and max.
    pub fn of(name: &str, unit: &str, samples: &mut [f64]) -> Figure {
        assert!(!samples.is_empty(), "{name}: no samples");
        samples.sort_by(f64::total_cmp);
        Figure {
            name: name.into(),
            value: samples[samples.len() / 2],
            unit: unit.into(),
            target: None,
            better: Better::Lower,
            runs: samples.len(),
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }

    /// One value measured once (a size, a peak).
    pub fn single(name: &str, unit: &str, value: f64) -> Figure {
        Figure::of(name, unit, &mut [value])
    }

    /// A ratio of two medians from the same run, held to `target`.
    pub fn ratio(
        name: &str,
        numerator: &Figure,
        denominator: &Figure,
        target: f64,
        better: Better,
    ) -> Figure {
        let value = numerator.value / denominator.value;
        Figure {
            name: name.into(),
            value,
            unit: "x".into(),
            target: Some(target),
            better,
            runs: numerator.runs.min(denominator.runs),
            min: value,
            max: value,
        }
    }

    pub fn aiming(mut self, target: f64, better: Better) -> Figure {
        self.target = Some(target);
        self.better = better;
        self
    }

    /// Whether the target is met; `None` without a target.
    pub fn met(&self) -> Option<bool> {
        self.target.map(|t| match self.better {
            Better::Higher => self.value >= t,
            Better::Lower => self.value <= t,
        })
    }
}

/// One bench's figures and the notes that say what it could not measure here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
}

/// `target/bench` of the workspace `manifest_dir` belongs to.
pub fn out_dir(manifest_dir: &Path) -> PathBuf {
    let mut dir = manifest_dir;
    while !dir.join("Cargo.lock").exists() {
        match dir.parent() {
            Some(parent) => dir = parent,
            None => break,
        }
    }
    dir.join("target/bench")
}

/// Writes `part` as `target/bench/parts/<name>.json` and prints its figures.
pub fn write_part(manifest_dir: &Path, name: &str, part: &Part) -> std::io::Result<PathBuf> {
    let dir = out_dir(manifest_dir).join("parts");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(part)?)?;
    for f in &part.figures {
        println!(
            "{}: {:.3} {} (min {:.3}, max {:.3}, {} runs)",
            f.name, f.value, f.unit, f.min, f.max, f.runs
        );
    }
    for note in &part.notes {
        println!("note: {note}");
    }
    Ok(path)
}

/// Whether the bench was asked for its short run (`cargo xtask test`): a few rounds per
/// figure, enough to show it runs and computes its ratios.
pub fn short() -> bool {
    std::env::var_os("SMARTCARD_SELFSERVICE_BENCH_SHORT").is_some()
}
