//! `cargo xtask bench` (or `cargo bench -p smartcard-selfservice`): the host's speed and memory
//! targets, measured against the real pcscd and the virtual card.
//!
//! Targets (issue 4): spawn to hello under 5 ms median; `status` with one card under 5 ms
//! median over vpcd; peak RSS during a full unlock under 8 MB.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn percentile(samples: &[Duration], p: usize) -> Duration {
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

fn main() {
    // `cargo bench` passes --bench; this harness takes no options.
    let mut world = World::new();
    world.insert("locked", 0);

    let mut spawn = Vec::new();
    for _ in 0..60 {
        let started = Instant::now();
        let mut host = world.host();
        host.hello();
        spawn.push(started.elapsed());
    }
    let spawn_median = median(&mut spawn);
    println!(
        "spawn to hello:            median {:>8.2?}  p90 {:>8.2?}  (target < 5 ms, {} runs)",
        spawn_median,
        percentile(&spawn, 90),
        spawn.len()
    );

    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    let mut status = Vec::new();
    for _ in 0..300 {
        let started = Instant::now();
        let reply = host.request(json!({"type": "status"}));
        status.push(started.elapsed());
        assert!(reply["result"]["readers"][0].get("card").is_some());
    }
    let status_median = median(&mut status);
    println!(
        "status with one card:      median {:>8.2?}  p90 {:>8.2?}  (target < 5 ms, {} requests)",
        status_median,
        percentile(&status, 90),
        status.len()
    );

    let authorization = world.authorization(&mut host, 0, "bench-unlock", "55443322");
    let started = Instant::now();
    let reply = host.request(json!({"type": "unlock", "origin": ORIGIN, "authorization": authorization, "newPasscode": "860245"}));
    let unlock_time = started.elapsed();
    assert!(reply.get("result").is_some(), "{reply}");
    let pid = host.child.id();
    let peak_kib: u64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    println!("full unlock:               {unlock_time:>8.2?}");
    println!(
        "peak RSS after the unlock: {:>8.2} MB (VmHWM; target < 8 MB)",
        peak_kib as f64 / 1024.0
    );
    let ok = spawn_median < Duration::from_millis(5)
        && status_median < Duration::from_millis(5)
        && peak_kib < 8 * 1024;
    println!("targets {}", if ok { "met" } else { "NOT met" });
}
