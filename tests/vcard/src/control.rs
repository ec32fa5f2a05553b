//! The control socket of a running `selfservice-vcard run`: one line in, one JSON line out.
//!
//! Commands: `insert`, `remove`, `status`, `fault remove-before N`, `fault remove-after N`,
//! `fault remove-before-ins XX[:P2]`, `fault remove-after-ins XX[:P2]` (the first command with
//! that INS, and that P2 if given),
//! `fault sw N XXXX`, `fault clear`, `stop`.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use crate::runner::{Fault, RunningCard};

/// Parses one control command. `Ok(None)` is `stop`.
pub fn parse(line: &str) -> Result<Option<Request>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let number = |w: &str| -> Result<u32> {
        w.parse()
            .with_context(|| format!("'{w}' is not an APDU number"))
    };
    Ok(Some(match words.as_slice() {
        ["insert"] => Request::Insert,
        ["remove"] => Request::Remove,
        ["status"] => Request::Status,
        ["stop"] => return Ok(None),
        ["fault", "clear"] => Request::Fault(None),
        ["fault", "remove-before", n] => {
            Request::Fault(Some(Fault::RemoveBefore { apdu: number(n)? }))
        }
        ["fault", "remove-after", n] => {
            Request::Fault(Some(Fault::RemoveAfter { apdu: number(n)? }))
        }
        ["fault", "remove-before-ins", command] => {
            let (ins, p2) = instruction(command)?;
            Request::Fault(Some(Fault::RemoveBeforeCommand { ins, p2 }))
        }
        ["fault", "remove-after-ins", command] => {
            let (ins, p2) = instruction(command)?;
            Request::Fault(Some(Fault::RemoveAfterCommand { ins, p2 }))
        }
        ["fault", "sw", n, sw] => Request::Fault(Some(Fault::StatusWord {
            apdu: number(n)?,
            sw: u16::from_str_radix(sw, 16)
                .with_context(|| format!("'{sw}' is not a hex status word"))?,
        })),
        _ => bail!("unknown command '{line}'"),
    }))
}

/// `XX` or `XX:P2`, in hex.
fn instruction(text: &str) -> Result<(u8, Option<u8>)> {
    let byte =
        |b: &str| u8::from_str_radix(b, 16).with_context(|| format!("'{b}' is not a hex byte"));
    match text.split_once(':') {
        Some((ins, p2)) => Ok((byte(ins)?, Some(byte(p2)?))),
        None => Ok((byte(text)?, None)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Insert,
    Remove,
    Status,
    Fault(Option<Fault>),
}

/// Serves the control socket until `stop`.
pub fn serve(card: &RunningCard, socket: &Path) -> Result<()> {
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("binding control socket {}", socket.display()))?;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let mut writer = stream.try_clone()?;
        let mut line = String::new();
        if BufReader::new(stream).read_line(&mut line).is_err() {
            continue;
        }
        let reply = match parse(line.trim()) {
            Ok(None) => {
                let _ = writeln!(writer, "{{\"ok\":true}}");
                break;
            }
            Ok(Some(request)) => {
                match request {
                    Request::Insert => card.insert(),
                    Request::Remove => card.remove(),
                    Request::Fault(fault) => card.set_fault(fault),
                    Request::Status => {}
                }
                serde_json::json!({"ok": true, "status": card.status()})
            }
            Err(error) => serde_json::json!({"ok": false, "error": format!("{error:#}")}),
        };
        let _ = writeln!(writer, "{reply}");
    }
    let _ = std::fs::remove_file(socket);
    Ok(())
}

/// Sends one command to a running card and returns its JSON reply.
pub fn send(socket: &Path, command: &str) -> Result<serde_json::Value> {
    let mut stream = UnixStream::connect(socket).with_context(|| {
        format!(
            "connecting to the card's control socket {}",
            socket.display()
        )
    })?;
    writeln!(stream, "{command}")?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    let reply: serde_json::Value =
        serde_json::from_str(&line).context("reading the card's reply")?;
    if reply["ok"] != serde_json::Value::Bool(true) {
        bail!(
            "{}",
            reply["error"]
                .as_str()
                .unwrap_or("the card refused the command")
        );
    }
    Ok(reply)
}
