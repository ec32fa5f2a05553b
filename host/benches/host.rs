//! `cargo xtask bench` (or `cargo bench -p smartcard-selfservice` after building the floor with
//! `cargo build --release --example pcsc_floor`): the host measured in the same run as what it
//! replaces (a Java program on javax.smartcardio, `benches/anchor/CardStatus.java`, as the
//! applet was) and as the floor (`examples/pcsc_floor.rs`, the same APDUs straight through the
//! `pcsc` crate), against the real pcscd and the virtual card. Ratios from one run hold on a
//! shared machine where absolute times move. Card operations (status, the 9E proof, the whole
//! unblock) through a warm host are set against the very APDUs the virtual card received for
//! them, replayed straight. Writes `target/bench/parts/host.json`, which `cargo xtask bench`
//! gathers with the other parts into the summary, report and chart.
//!
//! With `SMARTCARD_SELFSERVICE_BENCH_SHORT=1` (what `cargo xtask test` may use) each figure is
//! measured a few times only: it checks the bench runs and its ratios are computed.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use selfservice_vcard::bench::{self, Better, Figure, Part};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// The PC/SC calls the host makes for one operation (list the readers, look at their state,
/// connect, one transaction carrying `apdus`, end, disconnect), made straight with `pcsc`;
/// the answers, for the caller to check.
fn straight(context: &pcsc::Context, apdus: &[Vec<u8>], buffer: &mut [u8]) -> Vec<Vec<u8>> {
    let readers = context.list_readers_owned().expect("readers");
    let mut states: Vec<pcsc::ReaderState> = readers
        .iter()
        .map(|r| pcsc::ReaderState::new(r.clone(), pcsc::State::UNAWARE))
        .collect();
    let _ = context.get_status_change(Duration::ZERO, &mut states);
    let mut card = context
        .connect(&readers[0], pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .expect("connect");
    let mut answers = Vec::new();
    {
        let transaction = card.transaction().expect("transaction");
        for command in apdus {
            answers.push(
                transaction
                    .transmit(command, buffer)
                    .expect("apdu")
                    .to_vec(),
            );
        }
        let _ = transaction.end(pcsc::Disposition::LeaveCard);
    }
    let _ = card.disconnect(pcsc::Disposition::LeaveCard);
    answers
}

/// One card operation timed through a warm host, then the very APDUs the card received for
/// it (recorded by the virtual card) sent straight, from the same card state each round.
struct CardOperation<'a> {
    name: &'a str,
    /// Puts the card into the state the operation starts from.
    reset: &'a dyn Fn(&World),
    /// The request for one round (may use the host first, untimed).
    request: &'a dyn Fn(&World, &mut Host, usize) -> serde_json::Value,
}

fn time_card_operation(
    world: &World,
    mut host: Host,
    operation: &CardOperation,
    rounds: usize,
) -> (Figure, Figure) {
    let card = &world.card(0).running;
    host.hello();
    host.wait_for_card(0);
    let mut through_host = Vec::new();
    let mut recorded = Vec::new();
    for round in 0..rounds {
        (operation.reset)(world);
        let request = (operation.request)(world, &mut host, round);
        // The last round's APDUs: by then whatever the host does only once is done.
        let last = round + 1 == rounds;
        if last {
            card.start_recording();
        }
        let started = Instant::now();
        let reply = host.request(request);
        through_host.push(ms(started.elapsed()));
        if last {
            recorded = card.take_recording();
        }
        assert!(reply.get("result").is_some(), "{}: {reply}", operation.name);
    }
    drop(host);
    let after_host = world.card(0).file();
    std::env::set_var("PCSCLITE_CSOCK_NAME", world.socket());
    let context = pcsc::Context::establish(pcsc::Scope::User).expect("context");
    let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let mut made_straight = Vec::new();
    for _ in 0..rounds {
        (operation.reset)(world);
        let started = Instant::now();
        let answers = straight(&context, &recorded, &mut buffer);
        made_straight.push(ms(started.elapsed()));
        assert_eq!(answers.len(), recorded.len());
    }
    // The replay did to the card what the host did (same PIN, PUK and counters).
    let after_straight = world.card(0).file();
    assert_eq!(
        (after_host.pin, after_host.puk, after_host.pin_retries_left),
        (
            after_straight.pin,
            after_straight.puk,
            after_straight.pin_retries_left
        ),
        "{}: the straight replay left the card otherwise",
        operation.name
    );
    println!("{}: {} APDUs", operation.name, recorded.len());
    (
        Figure::of(
            &format!("{}: through the host (warm)", operation.name),
            "ms",
            &mut through_host,
        ),
        Figure::of(
            &format!(
                "{}: the same {} APDUs straight (pcsc)",
                operation.name,
                recorded.len()
            ),
            "ms",
            &mut made_straight,
        ),
    )
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
        // A release host takes no state folder override: its record of unlock attempts goes
        // where the user's would (XDG_STATE_HOME), here the bench's own folder on the same disk.
        .env("XDG_STATE_HOME", out.join("state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Some(Host::spawn(command))
}

fn main() {
    // `cargo bench` passes --bench; this harness takes no options.
    let rounds = if bench::short() { 3 } else { 30 };
    let out = bench::out_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    std::fs::create_dir_all(&out).expect("target/bench");
    let mut world = World::new();
    world.insert("unlocked", 0);
    let mut part = Part::default();

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
    let host_hello = Figure::of("host: spawn to hello", "ms", &mut hello);

    let mut floor = Command::new(root().join("target/release/examples/pcsc_floor"));
    floor.env("PCSCLITE_CSOCK_NAME", world.socket());
    let (mut floor_wall, mut floor_rss) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (wall, rss) = run_to_end(&mut floor);
        floor_wall.push(ms(wall));
        floor_rss.push(rss);
    }
    let floor_cold = Figure::of("floor (pcsc crate): start to exit", "ms", &mut floor_wall);
    let floor_rss = Figure::of("floor: peak RSS", "MiB", &mut floor_rss);

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
        part.notes
            .push("No JDK (javac) on this machine: the Java figures are missing.".into());
    }

    // 4. Memory: the host's peak across a full unlock. A release host reads its portal origins
    // and key only from the system place, so it runs in a private mount namespace whose /etc
    // has the world's configuration on top (root only; otherwise the status-only peak).
    let (mut host, full) = match host_with_system_config(&world, &out) {
        Some(host) => (host, true),
        None => {
            part.notes.push(
                "No private mount namespace with an overlay on /etc here (not root?): the host's peak RSS is for answering status only."
                    .into(),
            );
            (world.host(), false)
        }
    };
    host.hello();
    host.wait_for_card(0);
    if full {
        let authorization = world.authorization(&mut host, 0, "bench-memory", "55443322");
        let reply = host.request(json!({"type": "unlock", "origin": ORIGIN,
            "authorization": authorization, "newPasscode": "860245"}));
        assert!(reply.get("result").is_some(), "{reply}");
    }
    let host_rss = Figure::single(
        if full {
            "host: peak RSS across a full unlock"
        } else {
            "host: peak RSS, answering status"
        },
        "MiB",
        peak_mib(host.child.id()).expect("the host's VmHWM"),
    )
    .aiming(6.0, Better::Lower);
    drop(host);

    part.figures.push(Figure::ratio(
        "cold start: host / floor",
        &host_cold,
        &floor_cold,
        1.5,
        Better::Lower,
    ));
    if let Some((java_cold, java_rss)) = &java {
        part.figures.push(Figure::ratio(
            "cold start: Java / host",
            java_cold,
            &host_cold,
            30.0,
            Better::Higher,
        ));
        part.figures.push(Figure::ratio(
            "peak RSS: Java / host",
            java_rss,
            &host_rss,
            7.0,
            Better::Higher,
        ));
    }

    // 2. Card operations through a warm host against the same APDUs made straight.
    let unlocked = world.card(0).file();
    let mut locked = unlocked.clone();
    locked.pin_retries_left = 0;
    let as_inserted = |world: &World| {
        world
            .card(0)
            .running
            .restore(unlocked.clone())
            .expect("restore");
    };
    let locked_card = |world: &World| {
        world
            .card(0)
            .running
            .restore(locked.clone())
            .expect("restore");
    };
    let operations = [
        CardOperation {
            name: "status",
            reset: &as_inserted,
            request: &|_, _, _| json!({"type": "status"}),
        },
        CardOperation {
            name: "9E proof",
            reset: &as_inserted,
            request: &|_, _, _| {
                json!({"type": "prove-possession", "purpose": "unlock", "origin": ORIGIN,
                    "nonce": NONCE})
            },
        },
        CardOperation {
            name: "unblock",
            reset: &locked_card,
            request: &|world, host, round| {
                let authorization =
                    world.authorization(host, 0, &format!("bench-unblock-{round}"), "55443322");
                json!({"type": "unlock", "origin": ORIGIN, "authorization": authorization,
                    "newPasscode": "860245"})
            },
        },
    ];
    for operation in &operations {
        // Proofs and unlocks need the portal's origin and key: the configured host.
        let host = if operation.name == "status" {
            world.host()
        } else if let Some(host) = host_with_system_config(&world, &out) {
            host
        } else {
            part.notes.push(format!(
                "{}: not measured (the release host needs the configuration in /etc; see above).",
                operation.name
            ));
            continue;
        };
        let (through_host, made_straight) =
            time_card_operation(&world, host, operation, rounds * 2);
        part.figures.push(Figure::ratio(
            &format!("{}: host / straight", operation.name),
            &through_host,
            &made_straight,
            1.10,
            Better::Lower,
        ));
        part.figures.extend([through_host, made_straight]);
    }
    as_inserted(&world);

    // 3. Event latency: from pcscd telling a second client (blocked in SCardGetStatusChange)
    // that the card went or came, to the host's event frame.
    let mut latency = event_latencies(&world, rounds.min(20));
    part.figures.push(
        Figure::of(
            "card event: pcscd's notice to the host's frame",
            "ms",
            &mut latency,
        )
        .aiming(50.0, Better::Lower),
    );

    part.figures
        .extend([host_cold, host_hello, floor_cold, host_rss, floor_rss]);
    if let Some((java_cold, java_rss)) = java {
        part.figures.extend([java_cold, java_rss]);
    }
    bench::write_part(Path::new(env!("CARGO_MANIFEST_DIR")), "host", &part).expect("written");
}
