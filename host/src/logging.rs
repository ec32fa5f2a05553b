//! Logs go to stderr (browsers keep a host's stderr) and, when configured, to a file; never to
//! stdout, which carries frames only. Passcodes never reach a log: they travel as `Secret`,
//! whose Debug form is redacted, and request bodies are never logged.

use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::EnvFilter;

use crate::config::Overrides;

/// The log level and filter, e.g. `debug` or `smartcard_selfservice=trace`.
pub const LEVEL_VARIABLE: &str = "SMARTCARD_SELFSERVICE_LOG";
/// A file to log to as well, overriding the machine configuration's `logFile`.
pub const FILE_VARIABLE: &str = "SMARTCARD_SELFSERVICE_LOG_FILE";

/// Starts logging. The level and file variables are development overrides: honoured only
/// when `overrides` allows (see `config`).
pub fn init(configured_file: Option<&Path>, overrides: Overrides) {
    let filter = overrides
        .var(LEVEL_VARIABLE)
        .and_then(|level| EnvFilter::try_new(level.to_string_lossy()).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let file_path = overrides
        .var(FILE_VARIABLE)
        .map(std::path::PathBuf::from)
        .or_else(|| configured_file.map(Path::to_path_buf));
    let file = file_path.and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| {
                eprintln!(
                    "smartcard-selfservice: cannot open log file {}: {e}",
                    path.display()
                )
            })
            .ok()
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    let _ = match file {
        Some(file) => builder
            .with_writer(std::io::stderr.and(Mutex::new(file)))
            .try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
}
