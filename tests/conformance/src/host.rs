//! The real native-messaging host, started as a browser starts it, spoken to in its frames.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Host {
    child: Child,
    next: u32,
}

impl Host {
    /// `config` is the host's machine configuration (portal origins and key); `pcscd` the
    /// world's PC/SC socket.
    pub fn start(program: &Path, pcscd: &Path, config: &Path, state: &Path) -> Result<Host> {
        let mut child = Command::new(program)
            .arg(selfservice_rules::names::chromium_extension_origin())
            .env("PCSCLITE_CSOCK_NAME", pcscd)
            .env("SMARTCARD_SELFSERVICE_CONFIG", config)
            .env("SMARTCARD_SELFSERVICE_STATE_DIR", state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(state.join("host-stderr.log"))?)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let hello = read_frame(&mut child)?;
        if hello["type"] != "hello" {
            bail!("the host did not say hello: {hello}");
        }
        Ok(Host { child, next: 1 })
    }

    /// A request's reply (`result` or `error`), skipping events.
    pub fn request(&mut self, mut request: Value) -> Result<Value> {
        let id = self.next;
        self.next += 1;
        request["id"] = json!(id);
        let body = request.to_string();
        let stdin = self.child.stdin.as_mut().context("host stdin")?;
        let length = u32::try_from(body.len())?;
        stdin.write_all(&length.to_ne_bytes())?;
        stdin.write_all(body.as_bytes())?;
        stdin.flush()?;
        loop {
            let frame = read_frame(&mut self.child)?;
            if frame["id"] == json!(id) {
                return Ok(frame);
            }
        }
    }

    pub fn result(&mut self, request: Value) -> Result<Value> {
        let reply = self.request(request)?;
        match reply.get("result") {
            Some(result) => Ok(result.clone()),
            None => bail!("the host refused: {reply}"),
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.child.stdin.take();
        let _ = self.child.wait();
    }
}

fn read_frame(child: &mut Child) -> Result<Value> {
    let stdout = child.stdout.as_mut().context("host stdout")?;
    let mut header = [0u8; 4];
    stdout.read_exact(&mut header).context("the host closed")?;
    let mut body = vec![0u8; u32::from_ne_bytes(header) as usize];
    stdout.read_exact(&mut body)?;
    Ok(serde_json::from_slice(&body)?)
}
