//! The whole unlock in real headless Chromium and Firefox ESR, as machine time: from each press
//! (Start, Continue, Next, Submit) to the page showing the next step, summed from Start to
//! "successfully unlocked"; the time a person spends reading and typing is not counted. And
//! the guided unlock page's time from navigation to interactive (wasm instantiated, the first
//! step shown).
//!
//! The pages mark each step they show ("step-shown", with its title) and the moment the rules
//! are loaded ("rules-ready") as User Timing marks; the press's time is read in the page just
//! before the WebDriver click (so each step also carries one click's round trip, a little
//! against us). Uses the end-to-end world's debug host and portal (a release host reads its
//! configuration only from /etc). Run by `cargo xtask bench`; writes
//! `target/bench/parts/browser.json`.

use anyhow::{bail, Context, Result};
use selfservice_e2e::steps::{fill_answers, lock_the_card, registered_and_locked};
use selfservice_e2e::{Browser, Session, World};
use selfservice_vcard::bench::{self, Better, Figure, Part};
use serde_json::{json, Value};
use std::path::Path;

const SUBMIT: &str = "form button[type=submit]";

/// The page's clock now, as milliseconds since the epoch (comparable across pages).
async fn page_now(session: &Session) -> Result<f64> {
    session
        .client
        .execute("return performance.timeOrigin + performance.now();", vec![])
        .await?
        .as_f64()
        .context("a time")
}

/// When the page showed the step it shows now, after `since` (epoch ms).
async fn shown_at(session: &Session, since: f64) -> Result<f64> {
    let seen = session
        .client
        .execute(
            "return [performance.timeOrigin, \
             performance.getEntriesByName('step-shown').map((m) => [m.startTime, m.detail]), \
             document.getElementById('step-heading')?.textContent ?? ''];",
            vec![],
        )
        .await?;
    let origin = seen[0].as_f64().context("timeOrigin")?;
    let heading = seen[2].as_str().unwrap_or_default();
    seen[1]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| Some((origin + m[0].as_f64()?, m[1].as_str()?)))
        .find(|(at, title)| *at >= since && *title == heading)
        .map(|(at, _)| at)
        .with_context(|| format!("no 'step-shown' mark for '{heading}' after the press: {seen}"))
}

/// Presses `css` and waits for `done_css` to read `done_text`: the machine time between.
async fn timed_press(session: &Session, css: &str, done_css: &str, done_text: &str) -> Result<f64> {
    let pressed = page_now(session).await?;
    session.click(css).await?;
    session.wait_text(done_css, done_text).await?;
    Ok(shown_at(session, pressed).await? - pressed)
}

/// One unlock of the locked card, from the portal's Start; the machine time of each step.
async fn timed_unlock(session: &Session, world: &World, passcode: &str) -> Result<Vec<f64>> {
    let mut steps = Vec::new();
    session
        .client
        .goto(&format!("{}/unlock", world.portal_url()))
        .await?;
    session.wait_text("#bridge-status", "ready").await?;
    steps.push(timed_press(session, "#start", "#holder-warning", "If this is not you").await?);
    steps.push(
        timed_press(
            session,
            "button",
            "#step-heading",
            "Answer your security questions",
        )
        .await?,
    );
    fill_answers(session, true).await?;
    let mail = world.mails().len() + 1;
    steps.push(timed_press(session, SUBMIT, "#step-heading", "Smartcard Unlock Code").await?);
    let code = world.code(mail)?;
    // The host checks the authorization's times against this machine's clock.
    world.portal_clock_to_now()?;
    session.fill("#code", &code).await?;
    steps.push(timed_press(session, SUBMIT, "#passcode-rule", "between 6 and 8").await?);
    session.fill("#new-passcode", passcode).await?;
    session.fill("#confirm-passcode", passcode).await?;
    steps.push(timed_press(session, SUBMIT, "#success", "successfully unlocked").await?);
    let card = world.card()?;
    if card.pin != passcode || card.pin_retries_left == 0 {
        bail!("the card did not take the new passcode: {card:?}");
    }
    Ok(steps)
}

/// The guided unlock page opened afresh: (rules loaded, first step shown), in ms from
/// navigation.
async fn page_load(session: &Session) -> Result<(f64, f64)> {
    session
        .client
        .goto(&session.page("pages/unlock.html"))
        .await?;
    session
        .wait_text("#step-heading", "Smartcard Unlock")
        .await?;
    let marks: Value = session
        .client
        .execute(
            "return [performance.getEntriesByName('rules-ready')[0]?.startTime, \
             performance.getEntriesByName('step-shown')[0]?.startTime];",
            vec![],
        )
        .await?;
    Ok((
        marks[0].as_f64().context("a 'rules-ready' mark")?,
        marks[1].as_f64().context("a 'step-shown' mark")?,
    ))
}

async fn measure(browser: Browser, rounds: usize, loads: usize, part: &mut Part) -> Result<()> {
    let name = format!("{browser:?}").to_lowercase();
    let shots = std::env::temp_dir().join(format!("bench-{name}-shots"));
    let (world, session, _) = registered_and_locked(browser, "unlocked", "bench").await?;
    let (mut totals, mut unblocks) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round > 0 {
            lock_the_card(&session, &world, &shots).await?;
        }
        // A different passcode each time (a card may refuse its current one).
        let passcode = if round % 2 == 0 { "860245" } else { "735102" };
        let steps = timed_unlock(&session, &world, passcode).await?;
        unblocks.push(*steps.last().context("steps")?);
        totals.push(steps.iter().sum());
    }
    let (mut rules, mut interactive) = (Vec::new(), Vec::new());
    for _ in 0..loads {
        let (r, i) = page_load(&session).await?;
        rules.push(r);
        interactive.push(i);
    }
    session.close().await?;
    part.figures.extend([
        Figure::of(
            &format!("{name}: unlock, machine time from Start to unlocked"),
            "ms",
            &mut totals,
        )
        .aiming(3000.0, Better::Lower),
        Figure::of(
            &format!("{name}: of which the last step (new passcode, unblock, PUK rotated)"),
            "ms",
            &mut unblocks,
        ),
        Figure::of(
            &format!("{name}: unlock page, navigation to interactive"),
            "ms",
            &mut interactive,
        )
        .aiming(200.0, Better::Lower),
        Figure::of(
            &format!("{name}: unlock page, navigation to wasm instantiated"),
            "ms",
            &mut rules,
        ),
    ]);
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let (rounds, loads) = if bench::short() { (1, 3) } else { (5, 20) };
    let mut part = Part::default();
    for browser in [Browser::Chromium, Browser::Firefox] {
        measure(browser, rounds, loads, &mut part)
            .await
            .with_context(|| format!("{browser:?}"))?;
    }
    part.notes.push(format!(
        "Browsers: {}. Host and portal are the end-to-end world's debug builds.",
        json!([browser_version("chromium"), browser_version("firefox-esr")])
    ));
    bench::write_part(Path::new(env!("CARGO_MANIFEST_DIR")), "browser", &part)?;
    Ok(())
}

fn browser_version(program: &str) -> String {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| format!("{program}: not found"))
}
