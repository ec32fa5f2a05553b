//! `selfservice-vcard world up|status|down` as a shell uses it.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const PROGRAM: &str = env!("CARGO_BIN_EXE_selfservice-vcard");

fn exports(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn readers(socket: &str) -> String {
    let out = Command::new("opensc-tool")
        .arg("--list-readers")
        .env("PCSCLITE_CSOCK_NAME", socket)
        .output()
        .expect("opensc-tool");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn world_up_prints_exports_status_reports_and_down_leaves_nothing() {
    let up = Command::new(PROGRAM)
        .args([
            "world",
            "up",
            "--no-portal",
            "--slot0",
            "locked",
            "--slot1",
            "unlocked",
        ])
        .output()
        .expect("world up runs");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let vars = exports(&String::from_utf8_lossy(&up.stdout));
    let dir = vars["SMARTCARD_SELFSERVICE_WORLD"].clone();
    let socket = vars["PCSCLITE_CSOCK_NAME"].clone();
    assert!(Path::new(&vars["SMARTCARD_SELFSERVICE_TEST_CA"]).exists());
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&dir).join("world.json")).expect("state"),
    )
    .expect("json");
    let mut pids = vec![state["pcscd_pid"].to_string()];
    pids.extend(
        state["cards"]
            .as_array()
            .expect("cards")
            .iter()
            .map(|c| c["pid"].to_string()),
    );
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|p| alive(p)));

    // Both cards are in their readers.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut listing = readers(&socket);
    while listing.matches("Yes").count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        listing = readers(&socket);
    }
    assert_eq!(listing.matches("Yes").count(), 2, "{listing}");

    // Pull the slot 0 card out through its control socket.
    let ctl = Command::new(PROGRAM)
        .args([
            "ctl",
            "--control",
            &vars["SMARTCARD_SELFSERVICE_VCARD_CONTROL_0"],
            "remove",
        ])
        .output()
        .expect("ctl");
    assert!(ctl.status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while readers(&socket).matches("Yes").count() != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(readers(&socket).matches("Yes").count(), 1);

    let status = Command::new(PROGRAM)
        .args(["world", "status", "--dir", &dir])
        .output()
        .expect("status");
    let report = String::from_utf8_lossy(&status.stdout);
    assert!(report.contains("Mr John Rigby inserted=false"), "{report}");
    assert!(
        report.contains("Mrs Amina Okafor inserted=true"),
        "{report}"
    );

    let down = Command::new(PROGRAM)
        .args(["world", "down", "--dir", &dir])
        .output()
        .expect("down");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(!Path::new(&dir).exists());
    assert!(
        pids.iter().all(|p| !alive(p)),
        "a process survived world down"
    );
}
