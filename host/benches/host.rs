//! `cargo xtask bench` (or `cargo bench -p smartcard-selfservice` after building the floor with
//! `cargo build --release --example pcsc_floor`): the host measured in the same run as what it
//! replaces (a Java program on javax.smartcardio, `benches/anchor/CardStatus.java`, as the
//! applet was) and as the floor (`examples/pcsc_floor.rs`, the same APDUs straight through the
//! `pcsc` crate), against the real pcscd and the virtual card. Ratios from one run hold on a
//! shared machine where absolute times move. Writes `target/bench/summary.json` and
//! `target/bench/report.md`.
//!
//! With `SMARTCARD_SELFSERVICE_BENCH_SHORT=1` (what `cargo xtask test` may use) each figure is
//! measured a few times only: it checks the bench runs and its ratios are computed.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One figure: the median of its runs, with their spread and the target it is held to.
struct Figure {
    name: &'static str,
    value: f64,
    unit: &'static str,
    target: Option<f64>,
    better: &'static str,
    runs: usize,
    min: f64,
    max: f64,
}

impl Figure {
    fn of(name: &'static str, unit: &'static str, samples: &mut [f64]) -> Figure {
        assert!(!samples.is_empty(), "{name}: no samples");
        samples.sort_by(f64::total_cmp);
        Figure {
            name,
            value: samples[samples.len() / 2],
            unit,
            target: None,
            better: "lower",
            runs: samples.len(),
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }

    fn ratio(name: &'static str, value: f64, target: f64, better: &'static str) -> Figure {
        Figure {
            name,
            value,
            unit: "x",
            target: Some(target),
            better,
            runs: 1,
            min: value,
            max: value,
        }
    }

    fn aiming(mut self, target: f64) -> Figure {
        self.target = Some(target);
        self
    }

    fn met(&self) -> Option<bool> {
        self.target.map(|t| match self.better {
            "higher" => self.value >= t,
            _ => self.value <= t,
        })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The peak resident set of a running process, in MiB (VmHWM: a high-water mark).
fn peak_mib(pid: u32) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
}

/// Runs a program to its end: wall time from spawn to exit, and its peak RSS as last read
/// while it ran (read every 200 µs; the mark only rises, so the last read is the peak but
/// for what the final moments added).
fn run_to_end(command: &mut Command) -> (Duration, f64) {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut peak: f64 = 0.0;
    loop {
        if let Some(p) = peak_mib(child.id()) {
            peak = peak.max(p);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            let elapsed = started.elapsed();
            assert!(status.success(), "{command:?} failed: {status}");
            return (elapsed, peak);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// Compiles the Java anchor once; `None` when there is no JDK (said in the report).
fn java_anchor(out: &Path) -> Option<PathBuf> {
    let classes = out.join("java");
    std::fs::create_dir_all(&classes).ok()?;
    let compiled = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(root().join("host/benches/anchor/CardStatus.java"))
        .status()
        .ok()?;
    compiled.success().then_some(classes)
}

/// What `status` asks of PC/SC and the card, made straight with the `pcsc` crate.
fn direct_status(world: &World, rounds: usize) -> Vec<f64> {
    const SELECT_PIV: &[u8] = &[
        0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00,
    ];
    const GET_CHUID: &[u8] = &[
        0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x03, 0x5F, 0xC1, 0x02, 0x00,
    ];
    const GET_9E: &[u8] = &[
        0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x03, 0x5F, 0xC1, 0x01, 0x00,
    ];
    const VERIFY_STATUS: &[u8] = &[0x00, 0x20, 0x00, 0x80];
    std::env::set_var("PCSCLITE_CSOCK_NAME", world.socket());
    let context = pcsc::Context::establish(pcsc::Scope::User).expect("context");
    let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let mut times = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let readers = context.list_readers_owned().expect("readers");
        let mut states: Vec<pcsc::ReaderState> = readers
            .iter()
            .map(|r| pcsc::ReaderState::new(r.clone(), pcsc::State::UNAWARE))
            .collect();
        let _ = context.get_status_change(Duration::ZERO, &mut states);
        let mut card = context
            .connect(&readers[0], pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .expect("connect");
        {
            let transaction = card.transaction().expect("transaction");
            for command in [SELECT_PIV, GET_CHUID, GET_9E, VERIFY_STATUS] {
                let mut answer = transaction
                    .transmit(command, &mut buffer)
                    .expect("apdu")
                    .to_vec();
                while answer.len() >= 2 && answer[answer.len() - 2] == 0x61 {
                    let more = [0x00, 0xC0, 0x00, 0x00, answer[answer.len() - 1]];
                    answer = transaction
                        .transmit(&more, &mut buffer)
                        .expect("apdu")
                        .to_vec();
                }
            }
            let _ = transaction.end(pcsc::Disposition::LeaveCard);
        }
        let _ = card.disconnect(pcsc::Disposition::LeaveCard);
        times.push(ms(started.elapsed()));
    }
    times
}

/// Pulls and puts back the card `rounds` times each; for each change, the time from a plain
/// PC/SC client's wake-up to the host's event frame.
fn event_latencies(world: &World, rounds: usize) -> Vec<f64> {
    let reader = std::ffi::CString::new("Virtual PCD 00 00").expect("name");
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    // Set before the client's thread starts (libpcsclite reads it when establishing).
    std::env::set_var("PCSCLITE_CSOCK_NAME", world.socket());
    let (noticed, notices) = std::sync::mpsc::channel::<Instant>();
    let (ready, is_ready) = std::sync::mpsc::channel::<()>();
    let watcher = std::thread::spawn(move || {
        let context = pcsc::Context::establish(pcsc::Scope::User).expect("context");
        let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
        context
            .get_status_change(Duration::ZERO, &mut states)
            .or_else(|e| {
                if e == pcsc::Error::Timeout {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .expect("first look");
        for _ in 0..rounds * 2 {
            states[0].sync_current_state();
            let _ = ready.send(());
            context
                .get_status_change(None, &mut states)
                .expect("status change");
            if noticed.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    let card = &world.card(0).running;
    let mut latencies = Vec::new();
    for round in 0..rounds * 2 {
        is_ready.recv().expect("the client waits");
        let event = if round % 2 == 0 {
            card.remove();
            "card-removed"
        } else {
            card.insert();
            "card-inserted"
        };
        let frame = host.expect(Duration::from_secs(10), |f| f["event"] == event);
        let framed = Instant::now();
        let pcscd = notices.recv().expect("the client woke");
        assert!(frame["reader"] == "Virtual PCD 00 00");
        latencies.push(ms(framed.saturating_duration_since(pcscd)));
    }
    let _ = watcher.join();
    latencies
}

/// The host started as a browser would, but in a private mount namespace whose /etc carries
/// the world's configuration (an overlay; the machine's /etc is untouched).
fn host_with_system_config(world: &World, out: &Path) -> Option<Host> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| o.stdout.starts_with(b"0\n"));
    if !is_root {
        return None;
    }
    let layers = out.join("etc-overlay");
    let _ = std::fs::remove_dir_all(&layers);
    for dir in ["upper/smartcard-selfservice", "work"] {
        std::fs::create_dir_all(layers.join(dir)).ok()?;
    }
    std::fs::copy(
        world.dir.path().join("config.json"),
        layers.join("upper/smartcard-selfservice/config.json"),
    )
    .ok()?;
    let script = format!(
        "mount -t overlay overlay -o lowerdir=/etc,upperdir={u},workdir={w} /etc && exec \"$0\" \"$@\"",
        u = layers.join("upper").display(),
        w = layers.join("work").display(),
    );
    // Try the namespace and the overlay first: where either is refused (a container without
    // CAP_SYS_ADMIN, no overlayfs) the bench says so instead of failing.
    let works = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .args(["test", "-f", "/etc/smartcard-selfservice/config.json"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        return None;
    }
    let mut command = Command::new("unshare");
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            PROGRAM,
        ])
        .arg(selfservice_rules::names::chromium_extension_origin())
        .env("PCSCLITE_CSOCK_NAME", world.socket())
        .env("SMARTCARD_SELFSERVICE_STATE_DIR", world.state_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Some(Host::spawn(command))
}

fn main() {
    // `cargo bench` passes --bench; this harness takes no options.
    let short = std::env::var_os("SMARTCARD_SELFSERVICE_BENCH_SHORT").is_some();
    let rounds = if short { 3 } else { 30 };
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    let mut world = World::new();
    world.insert("unlocked", 0);
    let mut figures: Vec<Figure> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    // The service has seen the card before anything is timed.
    world.host().wait_for_card(0);

    // 1. Cold start: spawned as a browser does, until `status` is answered with the card.
    let (mut cold, mut hello) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let mut host = world.host();
        host.hello();
        hello.push(ms(started.elapsed()));
        let reply = host.request(json!({"type": "status"}));
        cold.push(ms(started.elapsed()));
        assert!(
            reply["result"]["readers"][0].get("card").is_some(),
            "{reply}"
        );
    }
    let host_cold = Figure::of("host: spawn to status with a card", "ms", &mut cold);
    figures.push(Figure::of("host: spawn to hello", "ms", &mut hello));

    let floor_program = root().join("target/release/examples/pcsc_floor");
    let mut floor = Command::new(&floor_program);
    floor.env("PCSCLITE_CSOCK_NAME", world.socket());
    let (mut floor_wall, mut floor_rss) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (wall, rss) = run_to_end(&mut floor);
        floor_wall.push(ms(wall));
        floor_rss.push(rss);
    }
    let floor_cold = Figure::of("floor (pcsc crate): start to exit", "ms", &mut floor_wall);

    let java = java_anchor(&out).map(|classes| {
        let mut java = Command::new("java");
        java.arg("-cp")
            .arg(classes)
            .arg("CardStatus")
            .env("PCSCLITE_CSOCK_NAME", world.socket());
        let (mut wall, mut rss) = (Vec::new(), Vec::new());
        for _ in 0..rounds.min(15) {
            let (w, r) = run_to_end(&mut java);
            wall.push(ms(w));
            rss.push(r);
        }
        (
            Figure::of("Java (javax.smartcardio): start to exit", "ms", &mut wall),
            Figure::of("Java: peak RSS", "MiB", &mut rss),
        )
    });
    if java.is_none() {
        notes.push("No JDK (javac) on this machine: the Java figures are missing.".into());
    }

    // 4. Memory: the host's peak across a full unlock. A release host reads its portal origins
    // and key only from the system place, so it runs in a private mount namespace whose /etc
    // has the world's configuration on top (root only; otherwise the status-only peak).
    let (mut host, across) = match host_with_system_config(&world, &out) {
        Some(host) => (host, "across a full unlock"),
        None => {
            notes.push(
                "No private mount namespace with an overlay on /etc here (not root?): the host's peak RSS is for answering status only."
                    .into(),
            );
            (world.host(), "answering status")
        }
    };
    host.hello();
    host.wait_for_card(0);
    if across == "across a full unlock" {
        let authorization = world.authorization(&mut host, 0, "bench-unlock", "55443322");
        let started = Instant::now();
        let reply = host.request(json!({"type": "unlock", "origin": ORIGIN,
            "authorization": authorization, "newPasscode": "860245"}));
        let unlock = ms(started.elapsed());
        assert!(reply.get("result").is_some(), "{reply}");
        figures.push(Figure::of("host: the unlock command", "ms", &mut [unlock]));
    }
    let host_rss = peak_mib(host.child.id()).expect("the host's VmHWM");
    let host_rss = Figure::of(
        if across == "answering status" {
            "host: peak RSS, answering status"
        } else {
            "host: peak RSS across a full unlock"
        },
        "MiB",
        &mut [host_rss],
    )
    .aiming(6.0);
    let floor_rss = Figure::of("floor: peak RSS", "MiB", &mut floor_rss);

    figures.push(Figure::ratio(
        "cold start: host / floor",
        host_cold.value / floor_cold.value,
        1.5,
        "lower",
    ));
    if let Some((java_cold, java_rss)) = &java {
        figures.push(Figure::ratio(
            "cold start: Java / host",
            java_cold.value / host_cold.value,
            30.0,
            "higher",
        ));
        figures.push(Figure::ratio(
            "peak RSS: Java / host",
            java_rss.value / host_rss.value,
            7.0,
            "higher",
        ));
    }

    // 2. A card operation through the host against the same PC/SC calls and APDUs made
    // straight (list, status change, connect, transaction, SELECT, GET DATA CHUID and 9E
    // certificate with GET RESPONSE, VERIFY status, end, disconnect).
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    let mut through_host = Vec::new();
    for _ in 0..rounds * 3 {
        let started = Instant::now();
        let reply = host.request(json!({"type": "status"}));
        through_host.push(ms(started.elapsed()));
        assert!(reply["result"]["readers"][0].get("card").is_some());
    }
    drop(host);
    let mut straight = direct_status(&world, rounds * 3);
    let through_host = Figure::of("status: through the host (warm)", "ms", &mut through_host);
    let straight = Figure::of(
        "status: the same calls straight (pcsc)",
        "ms",
        &mut straight,
    );
    figures.push(Figure::ratio(
        "card operation: host / straight",
        through_host.value / straight.value,
        1.10,
        "lower",
    ));
    figures.extend([through_host, straight]);

    // 3. Event latency: from pcscd telling a second client (blocked in SCardGetStatusChange)
    // that the card went or came, to the host's event frame.
    let mut latency = event_latencies(&world, rounds.min(20));
    figures.push(
        Figure::of(
            "card event: pcscd's notice to the host's frame",
            "ms",
            &mut latency,
        )
        .aiming(50.0),
    );

    // 5. Size: the release host binary as built (not stripped here).
    let binary = std::fs::metadata(PROGRAM).map(|m| m.len()).unwrap_or(0);
    figures.push(Figure::of(
        "host binary (Linux, release, as built)",
        "KiB",
        &mut [binary as f64 / 1024.0],
    ));

    figures.extend([host_cold, floor_cold, host_rss, floor_rss]);
    if let Some((java_cold, java_rss)) = java {
        figures.extend([java_cold, java_rss]);
    }
    write_outputs(&out, &figures, &notes, short);
}

fn write_outputs(out: &Path, figures: &[Figure], notes: &[String], short: bool) {
    let summary: Vec<serde_json::Value> = figures
        .iter()
        .map(|f| {
            json!({"name": f.name, "value": f.value, "unit": f.unit, "target": f.target,
                "better": f.better, "runs": f.runs, "min": f.min, "max": f.max})
        })
        .collect();
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary).expect("json"),
    )
    .expect("summary.json");
    let mut report = String::from(
        "| figure | median | min | max | runs | target | met |\n|---|---|---|---|---|---|---|\n",
    );
    for f in figures {
        let target = f.target.map_or(String::from("-"), |t| {
            format!("{} {t}", if f.better == "higher" { ">=" } else { "<=" })
        });
        let met = f.met().map_or("-", |m| if m { "yes" } else { "NO" });
        report.push_str(&format!(
            "| {} | {:.2} {} | {:.2} | {:.2} | {} | {target} | {met} |\n",
            f.name, f.value, f.unit, f.min, f.max, f.runs
        ));
    }
    for note in notes {
        report.push_str(&format!("\n{note}\n"));
    }
    if short {
        report.push_str("\nShort mode: a few runs per figure, to check the bench runs.\n");
    }
    std::fs::write(out.join("report.md"), &report).expect("report.md");
    print!("{report}");
    println!("\nwritten: {}", out.join("summary.json").display());
}
