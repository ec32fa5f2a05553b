//! Shared by the fuzz targets of every crate (feature `fuzzing`, tests only): the committed
//! seed corpora and byte edits applied to a seed. `bolero` on the stable toolchain generates
//! inputs at random rather than guided by coverage, so random bytes alone rarely get past a
//! parser's first check; a seed (a valid frame, request, certificate, authorization) with a
//! few edits reaches the deeper paths.
//!
//! Where the inputs come from after the corpus ([`fuzz!`](crate::fuzz) and
//! [`fuzz_bytes!`](crate::fuzz_bytes)): under `cargo xtask fuzz`, bolero's fresh random seeds for
//! the time asked; in `cargo test` (and so CI), [`FIXED_INPUTS`] inputs generated from the seeds
//! 0, 1, 2, ... the same every run, so a test never fails by chance. A finding of `xtask fuzz`
//! becomes a committed seed.

use std::path::{Path, PathBuf};

/// One change to a seed. Positions wrap around the input's length.
#[derive(Debug, Clone, bolero::TypeGenerator)]
pub enum Edit {
    Set {
        at: u16,
        byte: u8,
    },
    Insert {
        at: u16,
        byte: u8,
    },
    Remove {
        at: u16,
    },
    Truncate {
        at: u16,
    },
    /// Repeats a stretch of the input (lengths, nesting, repeated fields).
    Repeat {
        at: u16,
        length: u8,
        times: u8,
    },
    /// Puts one of the interesting bytes for JSON, TLV and lengths at a position.
    Special {
        at: u16,
        which: u8,
    },
}

const SPECIAL: &[u8] = &[
    0x00, 0x7F, 0x80, 0x81, 0x82, 0x83, 0xFF, b'"', b'\\', b'{', b'}', b'[', b']', b',', b':',
    b'-', b'0', b'9', b'e', 0xC3, 0xE2, 0xF0,
];

/// The folder of a target's committed seeds, where bolero also finds and replays them:
/// `<crate>/src/fuzz/__fuzz__/fuzz__<target>/corpus` for the test `fuzz::<target>`.
pub fn corpus_dir(crate_dir: &str, target: &str) -> PathBuf {
    Path::new(crate_dir)
        .join("src/fuzz/__fuzz__")
        .join(format!("fuzz__{target}"))
        .join("corpus")
}

/// Every seed in a corpus folder, sorted by name. A target without seeds is a mistake.
pub fn seeds(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .filter_map(|path| std::fs::read(path).ok())
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// A seed with the edits applied.
pub fn mutate(seeds: &[Vec<u8>], pick: u16, edits: &[Edit]) -> Vec<u8> {
    let mut data = seeds[usize::from(pick) % seeds.len()].clone();
    let at = |data: &Vec<u8>, at: u16| usize::from(at) % (data.len() + 1);
    for edit in edits {
        match *edit {
            Edit::Set { at: i, byte } => {
                if !data.is_empty() {
                    let i = usize::from(i) % data.len();
                    data[i] = byte;
                }
            }
            Edit::Insert { at: i, byte } => {
                let i = at(&data, i);
                data.insert(i, byte);
            }
            Edit::Remove { at: i } => {
                if !data.is_empty() {
                    let i = usize::from(i) % data.len();
                    data.remove(i);
                }
            }
            Edit::Truncate { at: i } => {
                let i = at(&data, i);
                data.truncate(i);
            }
            Edit::Repeat {
                at: i,
                length,
                times,
            } => {
                let start = at(&data, i);
                let end = (start + usize::from(length)).min(data.len());
                let stretch = data[start..end].to_vec();
                for _ in 0..times.min(64) {
                    data.splice(end..end, stretch.iter().copied());
                }
                data.truncate(1 << 16);
            }
            Edit::Special { at: i, which } => {
                let i = at(&data, i);
                data.insert(i, SPECIAL[usize::from(which) % SPECIAL.len()]);
            }
        }
    }
    data
}

/// Set (by `cargo xtask fuzz`) to search with fresh random seeds instead of the fixed inputs.
pub const RANDOM_VARIABLE: &str = "SELFSERVICE_FUZZ_RANDOM";
/// The generated inputs each target tries in `cargo test`, after its corpus (a target whose
/// every input costs a signature check asks for fewer: `inputs = N`).
pub const FIXED_INPUTS: u64 = 3000;

/// Whether this run searches at random (`cargo xtask fuzz`).
pub fn random() -> bool {
    std::env::var_os(RANDOM_VARIABLE).is_some()
}

/// Runs `test` on the fixed inputs: input `n` is generated from seed `n`, so a failure names
/// the seed that reproduces it.
pub fn run_fixed<T, F>(inputs: u64, test: F)
where
    T: bolero::generator::TypeGenerator + std::fmt::Debug,
    F: Fn(&T),
{
    use bolero::generator::bolero_generator::driver::{Options, Rng};
    use rand_xoshiro::rand_core::SeedableRng;
    let options = Options::default();
    for seed in 0..inputs {
        let mut driver = Rng::new(
            rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed),
            &options,
        );
        let Some(input) = T::generate(&mut driver) else {
            continue;
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(&input))).is_err() {
            panic!("fixed input {seed} failed (see the panic above): {input:?}");
        }
    }
}

/// A fuzz target over a generated type: `fuzz!(Type, |value: &Type| ...)`. The corpus first, then
/// the fixed inputs, or bolero's random search under `cargo xtask fuzz`. A macro, so bolero
/// finds the corpus of the test it is written in.
#[macro_export]
macro_rules! fuzz {
    ($ty:ty, $test:expr) => {
        $crate::fuzz!($ty, inputs = $crate::fuzzing::FIXED_INPUTS, $test)
    };
    ($ty:ty, inputs = $inputs:expr, $test:expr) => {{
        let test = $test;
        if $crate::fuzzing::random() {
            ::bolero::check!().with_type::<$ty>().for_each(&test);
        } else {
            ::bolero::check!()
                .with_type::<$ty>()
                .with_iterations(0)
                .for_each(&test);
            $crate::fuzzing::run_fixed::<$ty, _>($inputs, &test);
        }
    }};
}

/// A fuzz target over raw bytes: `fuzz_bytes!(|bytes: &[u8]| ...)`, run as [`fuzz!`] runs.
#[macro_export]
macro_rules! fuzz_bytes {
    ($test:expr) => {
        $crate::fuzz_bytes!(inputs = $crate::fuzzing::FIXED_INPUTS, $test)
    };
    (inputs = $inputs:expr, $test:expr) => {{
        let test = $test;
        if $crate::fuzzing::random() {
            ::bolero::check!().for_each(&test);
        } else {
            ::bolero::check!().with_iterations(0).for_each(&test);
            $crate::fuzzing::run_fixed::<Vec<u8>, _>($inputs, |bytes: &Vec<u8>| {
                test(bytes.as_slice())
            });
        }
    }};
}
