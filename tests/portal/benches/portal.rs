//! The portal's two checks a locked-out person waits on, under load: the answer check (each
//! answer verified against its Argon2id hash) and the code check (the emailed code against its
//! MAC), each with `FLOWS_AT_ONCE` flows in flight on loopback, as p50/p99 latency and
//! throughput; and from those, what one machine sustains at a national Monday-morning peak.
//!
//! Run by `cargo xtask bench` (or `cargo bench -p selfservice-portal --bench portal`); writes
//! `target/bench/parts/portal.json`. The portal runs in test mode on a stopped clock, moved
//! on between batches only so the per-client throttle (300 a minute, all from loopback here)
//! does not refuse the bench; everything timed runs within one window.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use selfservice_vcard::bench::{self, Figure, Part};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;

/// Flows in flight at once: more than the machine's cores, as at a peak.
const FLOWS_AT_ONCE: usize = 8;

/// A national peak, stated: 1.5 million staff with smartcards; on a Monday morning 1% of them
/// find their card locked, and they all unlock within the first hour of the shift.
const STAFF: f64 = 1_500_000.0;
const MONDAY_LOCKOUT_RATE: f64 = 0.01;
const PEAK_HOUR_SECONDS: f64 = 3600.0;

/// What the per-client throttle allows in one window, less a margin for the bench's own calls.
const REQUESTS_PER_WINDOW: usize = 250;

/// The per-client throttle counts requests; moving the stopped clock past its window resets it.
struct Window<'a> {
    portal: &'a Portal,
    used: usize,
}

impl Window<'_> {
    fn spend(&mut self, requests: usize) {
        if self.used + requests > REQUESTS_PER_WINDOW {
            self.portal.advance_clock(61);
            self.used = 0;
        }
        self.used += requests + 1;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Runs `requests` (each a path and body, answered 200) with `FLOWS_AT_ONCE` threads; the
/// latencies in ms and the wall time in s.
fn under_load(portal: &Portal, requests: Vec<(String, Value)>) -> (Vec<f64>, f64) {
    let queue = std::sync::Mutex::new(requests.into_iter());
    let started = Instant::now();
    let latencies: Vec<f64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..FLOWS_AT_ONCE)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let next = queue.lock().expect("queue").next();
                        let Some((path, body)) = next else { break };
                        let sent = Instant::now();
                        let (status, reply) = portal.post(&path, &body);
                        mine.push(sent.elapsed().as_secs_f64() * 1000.0);
                        assert_eq!(status, 200, "{path}: {reply}");
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    (latencies, started.elapsed().as_secs_f64())
}

/// p50, p99 and throughput of one check; returns the throughput.
fn figures_of(name: &str, mut latencies: Vec<f64>, seconds: f64, part: &mut Part) -> f64 {
    let throughput = latencies.len() as f64 / seconds;
    let spread = Figure::of(name, "ms", &mut latencies);
    for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
        part.figures.push(Figure {
            name: format!("{name}: {label} latency"),
            value: percentile(&latencies, p),
            ..spread.clone()
        });
    }
    part.figures.push(Figure::single(
        &format!("{name}: throughput, {FLOWS_AT_ONCE} flows at once"),
        "per s",
        throughput,
    ));
    throughput
}

fn main() {
    let flows = if bench::short() { 8 } else { 96 };
    let portal = Portal::start();
    let mut window = Window {
        portal: &portal,
        used: 0,
    };
    let mut part = Part::default();

    // Registered cards, one flow each (untimed).
    let mut cards = Vec::new();
    for n in 0..flows {
        window.spend(5);
        let card = portal.card("unlocked", None);
        portal.register(&card, &format!("bench.{n}@nhs.net"));
        cards.push(card);
    }
    let mut started = Vec::new();
    for card in &cards {
        window.spend(2);
        let (status, body) = portal.start_flow(card, "unlock");
        assert_eq!(status, 200, "{body}");
        started.push(body);
    }

    // The answer check: every flow answers its questions rightly, FLOWS_AT_ONCE at a time.
    window.spend(flows);
    let answers = started
        .iter()
        .map(|s| {
            (
                "/api/v1/unlock/answers".to_string(),
                json!({"flowId": s["flowId"], "answers": answer_all(&s["questionIds"], true)}),
            )
        })
        .collect();
    let mails_before = portal.mails().len();
    let (latencies, seconds) = under_load(&portal, answers);
    let answers_per_second = figures_of("portal answer check", latencies, seconds, &mut part);

    // The code check: each flow's emailed code.
    let all = portal
        .sink
        .wait_for(mails_before + flows, std::time::Duration::from_secs(60))
        .map(|_| portal.mails())
        .expect("every flow's code was mailed");
    window.spend(flows);
    let codes = started
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let to = format!("bench.{n}@nhs.net");
            let code = all[mails_before..]
                .iter()
                .rev()
                .find(|m| m.to.iter().any(|t| t.contains(&to)))
                .and_then(|m| m.code())
                .expect("the flow's code");
            (
                "/api/v1/unlock/code".to_string(),
                json!({"flowId": s["flowId"], "code": code}),
            )
        })
        .collect();
    let (latencies, seconds) = under_load(&portal, codes);
    let codes_per_second = figures_of("portal code check", latencies, seconds, &mut part);

    // One unlock is one answer check and one code check (the other steps are cheap beside
    // Argon2id); one machine's unlocks per second against the peak's.
    let unlocks_per_second = 1.0 / (1.0 / answers_per_second + 1.0 / codes_per_second);
    let peak = STAFF * MONDAY_LOCKOUT_RATE / PEAK_HOUR_SECONDS;
    part.figures.push(Figure::single(
        "portal: unlocks per second one machine sustains",
        "per s",
        unlocks_per_second,
    ));
    part.figures.push(Figure::single(
        "portal: headroom at the national Monday peak (sustained / needed)",
        "x",
        unlocks_per_second / peak,
    ));
    part.notes.push(format!(
        "Argon2id as the portal uses it: the argon2 crate's defaults (m = 19456 KiB, t = 2, p = 1), one hash per answer. \
         National peak, stated: {STAFF} staff, {pct}% locked out on a Monday morning, all unlocking within one hour: \
         {peak:.1} unlocks/s. One machine like this one ({cores} cores) sustains {unlocks_per_second:.1} unlocks/s \
         ({answers_per_second:.1} answer checks/s, {codes_per_second:.0} code checks/s), so {machines} machine(s) at the peak, \
         before retries (a wrong answer costs another answer check) and with the database on the same machine.",
        pct = MONDAY_LOCKOUT_RATE * 100.0,
        cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
        machines = (peak / unlocks_per_second).ceil().max(1.0),
    ));
    bench::write_part(Path::new(env!("CARGO_MANIFEST_DIR")), "portal", &part).expect("written");
}
