//! A small SMTP server on loopback that keeps every message it receives: the tests' and the
//! world's mail sink, so the portal's real SMTP delivery is exercised end to end.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, as sent.
    pub data: String,
}

impl Mail {
    pub fn subject(&self) -> Option<&str> {
        self.data.lines().find_map(|l| l.strip_prefix("Subject: "))
    }

    /// The message body as a mail client shows it: after the headers, quoted-printable decoded.
    pub fn body(&self) -> String {
        let (headers, body) = self
            .data
            .split_once("\r\n\r\n")
            .or_else(|| self.data.split_once("\n\n"))
            .unwrap_or(("", ""));
        if headers
            .to_ascii_lowercase()
            .contains("content-transfer-encoding: quoted-printable")
        {
            decode_quoted_printable(body)
        } else {
            body.to_string()
        }
    }

    /// The first run of exactly six digits in the body (the emailed code).
    pub fn code(&self) -> Option<String> {
        self.body()
            .split(|c: char| !c.is_ascii_digit())
            .find(|run| run.len() == 6)
            .map(str::to_string)
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    refusing: Arc<std::sync::atomic::AtomicBool>,
    slow: Arc<Slow>,
}

/// A relay that takes a message and then keeps the sender waiting for its answer, for as long
/// as the test says (not for a time): `held` counts the messages waiting.
#[derive(Default)]
struct Slow {
    state: Mutex<SlowState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct SlowState {
    holding: bool,
    held: usize,
}

impl SmtpSink {
    /// Listens on 127.0.0.1 on a free port, serving each connection on a thread.
    pub fn start() -> std::io::Result<SmtpSink> {
        Self::start_on(0, None)
    }

    /// Listens on `port` (0: any free one); with `dir`, also writes each message there as
    /// `NNNN.eml`.
    pub fn start_on(port: u16, dir: Option<std::path::PathBuf>) -> std::io::Result<SmtpSink> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let refusing: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let slow: Arc<Slow> = Arc::default();
        let (sink, refuse, slowness) =
            (Arc::clone(&mails), Arc::clone(&refusing), Arc::clone(&slow));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (sink, dir, slowness) = (Arc::clone(&sink), dir.clone(), Arc::clone(&slowness));
                let refuse = refuse.load(std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = session(stream, &sink, dir.as_deref(), refuse, &slowness);
                });
            }
        });
        Ok(SmtpSink {
            port,
            mails,
            refusing,
            slow,
        })
    }

    /// Slow from now on: each message is taken, and its "queued" answer kept back until
    /// `slow(false)`.
    pub fn slow(&self, slow: bool) {
        if let Ok(mut state) = self.slow.state.lock() {
            state.holding = slow;
        }
        self.slow.changed.notify_all();
    }

    /// Waits until `n` messages are held by a slow relay.
    pub fn wait_until_held(&self, n: usize) {
        let Ok(mut state) = self.slow.state.lock() else {
            return;
        };
        while state.held < n {
            match self.slow.changed.wait(state) {
                Ok(next) => state = next,
                Err(_) => return,
            }
        }
    }

    /// From the next connection on, refuse every message (a mail relay that is down).
    pub fn refuse(&self, refuse: bool) {
        self.refusing
            .store(refuse, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits (up to `timeout`) for the `n`th message (1-based) and returns it.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Option<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mail) = self.mails().get(n - 1) {
                return Some(mail.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn session(
    stream: TcpStream,
    sink: &Mutex<Vec<Mail>>,
    dir: Option<&std::path::Path>,
    refuse: bool,
    slow: &Slow,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    if refuse {
        return writer.write_all(b"554 no service here\r\n");
    }
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink ESMTP\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            writer.write_all(b"250-sink\r\n250 8BITMIME\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().trim_matches(['<', '>']).to_string();
            writer.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().trim_matches(['<', '>']).to_string());
            writer.write_all(b"250 OK\r\n")?;
        } else if upper == "DATA" {
            writer.write_all(b"354 go ahead\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                // Undo dot-stuffing.
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            if let Ok(mut mails) = sink.lock() {
                if let Some(dir) = dir {
                    std::fs::write(dir.join(format!("{:04}.eml", mails.len() + 1)), &data)?;
                }
                mails.push(Mail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
            }
            hold_while_slow(slow);
            writer.write_all(b"250 OK queued\r\n")?;
        } else if upper == "QUIT" {
            writer.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            // RSET, NOOP and anything else.
            writer.write_all(b"250 OK\r\n")?;
        }
    }
}

fn hold_while_slow(slow: &Slow) {
    let Ok(mut state) = slow.state.lock() else {
        return;
    };
    if !state.holding {
        return;
    }
    state.held += 1;
    slow.changed.notify_all();
    while state.holding {
        match slow.changed.wait(state) {
            Ok(next) => state = next,
            Err(_) => return,
        }
    }
    state.held -= 1;
}
