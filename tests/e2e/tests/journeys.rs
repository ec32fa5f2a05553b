//! The journeys as a user meets them, in real headless Chromium and Firefox ESR, against the
//! real pcscd with the virtual card, the reference portal and its SMTP sink. Each step is
//! checked with axe-core and photographed (target/e2e-screenshots/<browser>/<scenario>/).

use anyhow::{ensure, Result};
use selfservice_e2e::steps::{
    answer_questions, enter_unlock_code, open_unlock, pulled_mid_unlock, register,
    registered_and_locked, set_new_passcode, submit, NEW_PASSCODE, PASSCODE,
};
use selfservice_e2e::{catalogue_message, screenshot_dir, Browser, Session, World};
use std::path::Path;

async fn unlock_journey(browser: Browser) -> Result<()> {
    unlock_journey_on(browser, "unlocked", "unlock").await
}

/// The same journey on a card with other PIV cards' habits (63C0, 6300, the PIN kept
/// verified across SELECT, a placeholder CHUID expiry).
async fn quirky_card_journey(browser: Browser) -> Result<()> {
    unlock_journey_on(browser, "quirky", "unlock-quirky-card").await
}

async fn unlock_journey_on(browser: Browser, card: &str, scenario: &str) -> Result<()> {
    let (world, session, shots) = registered_and_locked(browser, card, scenario).await?;
    let original_puk = world.card()?.puk;
    open_unlock(&session, &world, &shots).await?;
    session.step(&shots, "unlock-3-questions").await?;
    answer_questions(&session, true).await?;

    // The code: a wrong one, then one past its 15 minutes, then a new one.
    session
        .wait_text("#step-heading", "Smartcard Unlock Code")
        .await?;
    session.step(&shots, "unlock-4-code").await?;
    let code = world.code(2)?;
    session
        .fill("#code", if code == "000000" { "111111" } else { "000000" })
        .await?;
    submit(&session).await?;
    session
        .wait_text(".nhsuk-error-summary", "not right")
        .await?;
    session.step(&shots, "unlock-4b-wrong-code").await?;
    world.advance_portal_clock(901)?;
    session.fill("#code", &code).await?;
    submit(&session).await?;
    session.wait_text(".nhsuk-error-summary", "expired").await?;
    // The portal's word is final: no "minutes left" beside "expired" (the countdown runs on
    // this PC's clock from the code's arrival, and stops when the portal says expired), and
    // "Send a new code" is the one way on, where the error summary links.
    ensure!(
        session
            .client
            .find(fantoccini::Locator::Css("#time-left"))
            .await
            .is_err(),
        "a countdown beside an expired code"
    );
    let link = session
        .client
        .find(fantoccini::Locator::Css(".nhsuk-error-summary a"))
        .await?
        .attr("href")
        .await?;
    ensure!(
        link.as_deref() == Some("#send-new-code"),
        "the error links to {link:?}"
    );
    session.step(&shots, "unlock-4c-expired-code").await?;
    session
        .click("#send-new-code:not(.nhsuk-button--secondary)")
        .await?;
    session
        .wait_text("#step-heading", "Smartcard Unlock Code")
        .await?;
    let fresh = world.code(3)?;
    // The portal's stopped clock set to now: the host checks the authorization's times
    // against this machine's clock.
    world.portal_clock_to_now()?;
    session.fill("#code", &fresh).await?;
    submit(&session).await?;

    // The new passcode: the rule is shown before typing, and enforced.
    session
        .wait_text("#passcode-rule", "between 6 and 8 numbers")
        .await?;
    session.step(&shots, "unlock-5-passcode").await?;
    session.fill("#new-passcode", "1234").await?;
    session.fill("#confirm-passcode", "1234").await?;
    submit(&session).await?;
    session
        .wait_text(".nhsuk-error-summary", "at least 6")
        .await?;
    session.step(&shots, "unlock-5b-passcode-refused").await?;
    ensure!(
        world.card()?.pin_retries_left == 0,
        "nothing reached the card"
    );

    // The card is pulled out in the middle of the unblock, again and again at other steps,
    // and kept out for no time, 0.2 s, 3 s and 20 s (pcscd polls the reader every 400 ms:
    // a card back within that is never seen to go by the service). Put back, the unlock
    // finishes by itself (a fresh proof, a fresh authorization). The pulls are at commands
    // (by INS): 24 CHANGE REFERENCE DATA (the PIN, then the PUK), 2C RESET RETRY COUNTER,
    // CB GET DATA; the host's record of unlock attempts knows which PUK the card holds
    // after each, so no PUK try is spent.
    pulled_mid_unlock(&session, &world, "24", NEW_PASSCODE).await?;
    session.step(&shots, "unlock-6-card-removed").await?;
    // Each next pull is armed while the card is out; it fires in the unlock the page starts
    // by itself when the card is back.
    let pulls: [(Option<&[&str]>, u64); 4] = [
        (Some(&["fault", "remove-before-ins", "2c"]), 0),
        (Some(&["fault", "remove-after-ins", "2c"]), 200),
        (Some(&["fault", "remove-before-ins", "24"]), 3000),
        (None, 20000),
    ];
    for (fault, out_for_ms) in pulls {
        tokio::time::sleep(std::time::Duration::from_millis(out_for_ms)).await;
        if let Some(fault) = fault {
            world.card_control(fault)?;
        }
        world.card_control(&["insert"])?;
        if fault.is_some() {
            world.wait_fault_fired()?;
            session
                .wait_text("#reinsert", "Put it back in the reader")
                .await?;
        }
    }
    session
        .wait_text("#success", "Your Smartcard has been successfully unlocked.")
        .await?;
    session.step(&shots, "unlock-7-done").await?;

    // "Please remove and then reinsert your Smartcard": the page confirms it reads unblocked.
    world.card_control(&["remove"])?;
    world.wait_card_seen(false)?;
    world.card_control(&["insert"])?;
    session.wait_text("#confirmed", "unlocked").await?;
    session.step(&shots, "unlock-8-confirmed").await?;

    let card = world.card()?;
    ensure!(
        card.pin == NEW_PASSCODE && card.pin_retries_left == 3,
        "the new passcode verifies: {card:?}"
    );
    ensure!(card.pin != PASSCODE, "the old passcode does not");
    ensure!(card.puk != original_puk, "the PUK rotated");
    ensure!(
        card.puk_retries_left == 3,
        "no PUK try was spent finding the PUK: {card:?}"
    );
    ensure!(
        world
            .mails()
            .iter()
            .any(|m| m.contains("Your Smartcard has been unlocked")),
        "notification email"
    );
    ensure!(
        world
            .portal_command(&["audit"])?
            .contains("verified puk-rotated"),
        "the rotation, on the card's receipt, audited"
    );
    // docs/DESIGN.md §4.3: no PUK (old or new) and no temporary PIN in any message the extension's
    // background exchanged with the host, or in any answer the portal gave its pages, in
    // clear or inside base64.
    let native = session.native_messages();
    let transcript = std::fs::read_to_string(
        Path::new(&world.vars["SMARTCARD_SELFSERVICE_WORLD"]).join("portal-transcript.jsonl"),
    )?;
    let seen = selfservice_e2e::with_base64_decoded(&format!("{native}\n{transcript}"));
    ensure!(
        native.contains("\"receipt\"") && seen.contains("\"sealed\""),
        "the recordings hold the unlock (native {} bytes, portal {} bytes)",
        native.len(),
        transcript.len()
    );
    let secrets: Vec<&String> = card
        .history
        .puks
        .iter()
        .chain(&card.history.reset_pins)
        .collect();
    ensure!(secrets.len() >= 3, "the card's history: {:?}", card.history);
    for secret in secrets {
        ensure!(
            !seen.contains(secret.as_str()),
            "a PUK or temporary PIN reached the extension"
        );
    }
    session.close().await?;
    Ok(())
}

/// The browser closed right after RESET RETRY COUNTER: the card pulled as the reset ran (its
/// answer lost) and the window closed on "put it back". The card is back, unblocked with a
/// temporary PIN nobody knows. Opened again (a new browser, as after a restart), the unlock
/// offers to finish instead of saying "not locked"; the same journey, questions and code again,
/// sets the new passcode, and no PUK try is spent (docs/DESIGN.md §4.3.3).
async fn finish_after_the_browser_closed(browser: Browser) -> Result<()> {
    const FINISHED_PASSCODE: &str = "471902";
    let (world, session, shots) =
        registered_and_locked(browser, "unlocked", "unlock-finish").await?;
    let original_puk = world.card()?.puk;
    world.portal_clock_to_now()?;
    open_unlock(&session, &world, &shots).await?;
    answer_questions(&session, true).await?;
    enter_unlock_code(&session, &world.code(2)?).await?;
    pulled_mid_unlock(&session, &world, "2c", NEW_PASSCODE).await?;
    // The browser goes, and its host with it.
    session.close().await?;
    world.card_control(&["insert"])?;
    world.wait_card_seen(true)?;
    let stranded = world.card()?;
    ensure!(
        stranded.pin_retries_left == 3 && stranded.pin != NEW_PASSCODE && stranded.pin != PASSCODE,
        "the reset ran and the passcode was not set: {stranded:?}"
    );

    let session = Session::start(browser, &world, true).await?;
    session.configure_portal(world.portal_url()).await?;
    session
        .client
        .goto(&format!("{}/unlock", world.portal_url()))
        .await?;
    session.wait_text("#bridge-status", "ready").await?;
    session.click("#start").await?;
    session
        .wait_text("#step-heading", "Finish unlocking your smartcard")
        .await?;
    session
        .wait_text("#finish-unlocking", "before your new passcode was set")
        .await?;
    session
        .wait_text("#holder-warning", "Mrs Amina Okafor")
        .await?;
    session.step(&shots, "unlock-finish-1-offered").await?;
    session.click("button").await?;
    session
        .wait_text("#step-heading", "Answer your security questions")
        .await?;
    let mails_before = world.mails().len();
    answer_questions(&session, true).await?;
    enter_unlock_code(&session, &world.code(mails_before + 1)?).await?;
    set_new_passcode(&session, FINISHED_PASSCODE).await?;
    session
        .wait_text("#success", "Your Smartcard has been successfully unlocked.")
        .await?;
    session.step(&shots, "unlock-finish-2-done").await?;
    let card = world.card()?;
    ensure!(
        card.pin == FINISHED_PASSCODE && card.pin_retries_left == 3,
        "the new passcode verifies: {card:?}"
    );
    ensure!(card.puk != original_puk, "the PUK rotated");
    ensure!(
        card.puk_retries_left == 3 && card.history.wrong_puk_tries == 0,
        "no PUK try was spent: {card:?}"
    );
    session.close().await?;
    Ok(())
}

/// The unlock, start to finish, in Welsh: the portal's page and every step of the extension's,
/// each with `lang="cy"`, axe-clean and photographed. Registration and the lockout happen in
/// English first; the person then chooses Cymraeg on the options page.
async fn welsh_unlock_journey(browser: Browser) -> Result<()> {
    let (world, session, shots) =
        registered_and_locked(browser, "unlocked", "unlock-welsh").await?;
    let cy = |key: &str| catalogue_message("cy", key, &[]);
    session.choose_language("cy").await?;
    session
        .client
        .goto(&format!("{}/unlock?lang=cy", world.portal_url()))
        .await?;
    session.wait_text("#bridge-status", "yn barod").await?;
    ensure!(
        session.page_language().await? == "cy",
        "the portal page is in Welsh"
    );
    session.step(&shots, "cy-0-portal").await?;
    session.click("#start").await?;
    let warning = catalogue_message("cy", "unlock_warning", &[("holder", "Mrs Amina Okafor")])?;
    session.wait_text("#holder-warning", &warning).await?;
    ensure!(
        session.page_language().await? == "cy",
        "the extension's page is in Welsh"
    );
    session.step(&shots, "cy-1-warning").await?;
    session.click("button").await?;
    session
        .wait_text("#step-heading", &cy("unlock_questions_title")?)
        .await?;
    session.step(&shots, "cy-2-questions").await?;
    answer_questions(&session, true).await?;
    session
        .wait_text("#step-heading", &cy("unlock_code_title")?)
        .await?;
    session.wait_text("#time-left", "ar ôl").await?;
    session.step(&shots, "cy-3-code").await?;
    world.portal_clock_to_now()?;
    session.fill("#code", &world.code(2)?).await?;
    submit(&session).await?;
    session
        .wait_text("#passcode-rule", "rhwng 6 a 8 rhif")
        .await?;
    session.step(&shots, "cy-4-passcode").await?;
    session.fill("#new-passcode", "1234").await?;
    session.fill("#confirm-passcode", "1234").await?;
    submit(&session).await?;
    session
        .wait_text(
            ".nhsuk-error-summary",
            &catalogue_message("cy", "passcode_too_short", &[("min", "6")])?,
        )
        .await?;
    session.step(&shots, "cy-4b-passcode-refused").await?;
    session.fill("#new-passcode", NEW_PASSCODE).await?;
    session.fill("#confirm-passcode", NEW_PASSCODE).await?;
    submit(&session).await?;
    session
        .wait_text("#success", &cy("unlock_done_message")?)
        .await?;
    ensure!(session.page_language().await? == "cy", "still in Welsh");
    session.step(&shots, "cy-5-done").await?;
    let card = world.card()?;
    ensure!(
        card.pin == NEW_PASSCODE && card.pin_retries_left == 3,
        "unlocked with the new passcode: {card:?}"
    );
    session.close().await?;
    Ok(())
}

mod welsh {
    use super::*;
    #[tokio::test(flavor = "multi_thread")]
    async fn the_unlock_journey_in_welsh_in_chromium() -> Result<()> {
        welsh_unlock_journey(Browser::Chromium).await
    }
}

async fn lockout_journey(browser: Browser) -> Result<()> {
    let (world, session, shots) = registered_and_locked(browser, "unlocked", "lockout").await?;
    open_unlock(&session, &world, &shots).await?;
    for round in 1..=3 {
        answer_questions(&session, false).await?;
        if round < 3 {
            // Wait for this round's answer before the next: the count of rounds left moves.
            let left = if round == 1 {
                "After 2 more failed attempts"
            } else {
                "After 1 more failed attempt "
            };
            session.wait_text("#rounds-left", left).await?;
        }
    }
    session.wait_text("#locked", "0300 000 0000").await?;
    session.step(&shots, "lockout-1-locked").await?;
    ensure!(world.mails().len() == 1, "no unlock code was sent");
    let uuid = world.card()?.uuid;
    ensure!(
        world
            .portal_command(&["clear-lock", "--uuid", &uuid])?
            .contains("cleared"),
        "RA cleared the lock"
    );
    open_unlock(&session, &world, &shots).await?;
    answer_questions(&session, true).await?;
    session
        .wait_text("#step-heading", "Smartcard Unlock Code")
        .await?;
    ensure!(
        world.mails().len() == 2,
        "the code came after the RA cleared the lock"
    );
    session.close().await?;
    Ok(())
}

async fn host_missing(browser: Browser) -> Result<()> {
    let world = World::up("unlocked")?;
    let session = Session::start(browser, &world, false).await?;
    session.configure_portal(world.portal_url()).await?;
    let shots = screenshot_dir("host-missing", browser);
    session
        .client
        .goto(&format!("{}/profile", world.portal_url()))
        .await?;
    session
        .wait_text("#bridge-status", "Contact your IT service desk")
        .await?;
    session
        .wait_text("#bridge-status", "smartcard software it needs is missing")
        .await?;
    session.screenshot(&shots, "portal").await?;
    session
        .client
        .goto(&session.page("pages/popup.html"))
        .await?;
    session
        .wait_text("#host-problem", "not installed on this computer")
        .await?;
    session.step(&shots, "popup").await?;
    session.close().await?;
    Ok(())
}

async fn other_origin(browser: Browser) -> Result<()> {
    let world = World::up("unlocked")?;
    let session = Session::start(browser, &world, true).await?;
    session.configure_portal(world.portal_url()).await?;
    // The same page served from another origin (localhost, not 127.0.0.1): the bridge stays
    // silent, so the page can neither detect the extension nor open its pages.
    let elsewhere = world.portal_url().replace("127.0.0.1", "localhost");
    session.client.goto(&format!("{elsewhere}/profile")).await?;
    session
        .wait_text("#bridge-status", "not installed in this browser")
        .await?;
    let here = session.client.current_url().await?;
    session
        .client
        .execute("window.postMessage({source: 'smartcard-selfservice-page', type: 'open', journey: 'register'}, '*')", vec![])
        .await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    ensure!(
        session.client.current_url().await? == here,
        "no guided page was opened for another origin"
    );
    session.close().await?;
    Ok(())
}

/// The demo's control page drives the world as a person would: it shows the card and whether
/// its holder has registered, takes the card out and puts it back, locks it with wrong
/// passcodes, and shows the emailed code.
#[tokio::test(flavor = "multi_thread")]
async fn the_control_page_shows_the_world_and_drives_the_card() -> Result<()> {
    let world = World::up_with_control_page("unlocked")?;
    let session = Session::start(Browser::Chromium, &world, true).await?;
    session.configure_portal(world.portal_url()).await?;
    let shots = screenshot_dir("control-page", Browser::Chromium);
    let page = world.control_page_url()?.to_string();
    session.client.goto(&page).await?;
    session.wait_text("#slot-0 h2", "Mrs Amina Okafor").await?;
    session
        .wait_text("#slot-0 .passcode", "3 tries left")
        .await?;
    session.wait_text("#slot-0 .registered", "not yet").await?;

    register(&session, &world, &shots).await?;
    let code = world.code(1)?;
    session.client.goto(&page).await?;
    session.wait_text("#slot-0 .registered", "yes").await?;
    session.wait_text("#mail .code", &code).await?;
    session.screenshot(&shots, "control-1-registered").await?;

    session.click("#slot-0 [data-action=remove]").await?;
    session
        .wait_text("#slot-0 .inserted", "no (removed)")
        .await?;
    world.wait_card_seen(false)?;
    session.click("#slot-0 [data-action=insert]").await?;
    session.wait_text("#slot-0 .inserted", "yes").await?;
    world.wait_card_seen(true)?;

    session.click("#slot-0 [data-action=lock]").await?;
    session
        .wait_text("#said", "Locked: 3 wrong passcodes typed")
        .await?;
    session.wait_text("#slot-0 .passcode", "blocked").await?;
    ensure!(world.card()?.pin_retries_left == 0, "the card is locked");
    ensure!(
        world.card()?.puk_retries_left == 3,
        "locking spent no PUK try"
    );
    session.screenshot(&shots, "control-2-locked").await?;
    session.close().await?;
    Ok(())
}

macro_rules! both_browsers {
    ($($name:ident => $scenario:ident),* $(,)?) => {
        mod chromium {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread")] async fn $name() -> Result<()> { $scenario(Browser::Chromium).await })*
        }
        mod firefox {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread")] async fn $name() -> Result<()> { $scenario(Browser::Firefox).await })*
        }
    };
}

both_browsers! {
    register_lock_and_unlock_with_every_detour => unlock_journey,
    an_unlock_cut_off_after_the_reset_is_finished_after_the_browser_closed => finish_after_the_browser_closed,
    the_same_journey_works_on_a_card_with_other_piv_habits => quirky_card_journey,
    three_wrong_rounds_lock_until_the_ra_clears_it => lockout_journey,
    without_the_host_both_pages_say_what_to_do => host_missing,
    a_page_on_another_origin_cannot_reach_the_bridge => other_origin,
}
