//! `selfservice-vcard world up` with the portal: the world's portal answers, its mail goes to the
//! world's SMTP sink, the host configuration trusts it, and `world down` stops it all.
//! Needs the `selfservice-vcard` binary beside this package's (as `cargo test --workspace` and
//! `cargo xtask test` build it).

use std::path::PathBuf;
use std::process::Command;

fn selfservice_vcard() -> PathBuf {
    let program =
        PathBuf::from(env!("CARGO_BIN_EXE_selfservice-portal")).with_file_name("selfservice-vcard");
    assert!(
        program.exists(),
        "build selfservice-vcard first: cargo build -p selfservice-vcard"
    );
    program
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn the_world_runs_the_portal_with_its_mail_sink_and_stops_it() {
    let vars = selfservice_vcard::world::up_by_command(
        Command::new(selfservice_vcard()).args(["world", "up", "--slot0", "locked"]),
    )
    .expect("world up");
    let url = &vars["SMARTCARD_SELFSERVICE_PORTAL_URL"];
    let response: serde_json::Value = ureq::post(&format!("{url}/api/v1/challenges"))
        .send_json(serde_json::json!({"purpose": "unlock"}))
        .expect("portal answers")
        .into_json()
        .expect("json");
    assert!(response["nonce"].as_str().is_some_and(|n| n.len() >= 43));
    let host_config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&vars["SMARTCARD_SELFSERVICE_CONFIG"]).expect("host config"),
    )
    .expect("json");
    assert_eq!(host_config["portalOrigins"][0], url.as_str());
    assert_eq!(
        host_config["portalPublicKey"],
        vars["SMARTCARD_SELFSERVICE_PORTAL_PUBLIC_KEY"].as_str()
    );
    assert!(PathBuf::from(&vars["SMTP_SINK_DIR"]).is_dir());

    let dir = vars["SMARTCARD_SELFSERVICE_WORLD"].clone();
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(PathBuf::from(&dir).join("world.json")).expect("state"),
    )
    .expect("json");
    let pids = [
        state["portal"]["pid"].to_string(),
        state["portal"]["sink_pid"].to_string(),
    ];
    assert!(pids.iter().all(|p| alive(p)));
    let down = Command::new(selfservice_vcard())
        .args(["world", "down", "--dir", &dir])
        .output()
        .expect("down");
    assert!(down.status.success());
    assert!(
        pids.iter().all(|p| !alive(p)),
        "portal or sink survived world down"
    );
}
