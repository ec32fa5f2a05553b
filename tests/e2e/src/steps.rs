//! The steps the journeys are made of, as a person takes them in the browser: shared by the
//! end-to-end tests (`tests/journeys.rs`) and the browser bench (`benches/browser.rs`).

use anyhow::{ensure, Result};
use fantoccini::Locator;
use std::path::Path;

use crate::{screenshot_dir, Browser, Session, World};

pub const PASSCODE: &str = "583920";
pub const NEW_PASSCODE: &str = "860245";

pub async fn submit(session: &Session) -> Result<()> {
    session.click("form button[type=submit]").await
}

/// From the portal's Register button to "Self Service Registration is complete".
pub async fn register(session: &Session, world: &World, shots: &Path) -> Result<()> {
    session
        .client
        .goto(&format!("{}/profile", world.portal_url()))
        .await?;
    session.wait_text("#bridge-status", "ready").await?;
    session.screenshot(shots, "register-0-portal").await?;
    session.click("#start").await?;
    session
        .wait_text("#step-heading", "Enter your smartcard passcode")
        .await?;
    session
        .wait_text(".nhsuk-summary-list", "Mrs Amina Okafor")
        .await?;
    session.step(shots, "register-1-passcode").await?;
    session.fill("#passcode", PASSCODE).await?;
    submit(session).await?;
    session
        .wait_text("#step-heading", "Choose your security questions")
        .await?;
    session.step(shots, "register-2-questions").await?;
    for (i, question) in [
        "mother-maiden-name",
        "first-car",
        "childhood-phone",
        "first-pet",
    ]
    .iter()
    .enumerate()
    {
        session
            .client
            .find(Locator::Css(&format!("#question-{i}")))
            .await?
            .select_by_value(question)
            .await?;
        session
            .fill(
                &format!("#answer-{i}"),
                selfservice_vcard::world::demo_answer(question),
            )
            .await?;
    }
    submit(session).await?;
    session
        .wait_text("#step-heading", "Confirm your email address")
        .await?;
    let prefilled = session
        .client
        .find(Locator::Css("#email"))
        .await?
        .prop("value")
        .await?;
    ensure!(
        prefilled.as_deref() == Some("amina.okafor@nhs.net"),
        "email from the contact details: {prefilled:?}"
    );
    session.step(shots, "register-3-email").await?;
    submit(session).await?;
    session
        .wait_text("#step-heading", "Enter your registration code")
        .await?;
    session.wait_text("#time-left", "left").await?;
    session.step(shots, "register-4-code").await?;
    let code = world.code(1)?;
    session.fill("#code", &code).await?;
    submit(session).await?;
    session
        .wait_text("#success", "Self Service Registration is complete.")
        .await?;
    session.step(shots, "register-5-done").await?;
    ensure!(
        world
            .portal_command(&["audit"])?
            .contains("\"outcome\":\"registered\""),
        "registration audited"
    );
    Ok(())
}

/// Three wrong passcodes on the register page lock the card, as at a login.
pub async fn lock_the_card(session: &Session, world: &World, shots: &Path) -> Result<()> {
    session
        .client
        .goto(&session.page("pages/register.html"))
        .await?;
    for attempt in 1..=3 {
        session
            .wait_text("#step-heading", "Enter your smartcard passcode")
            .await?;
        session.fill("#passcode", "000000").await?;
        submit(session).await?;
        let expected = ["2 more tries", "1 more try", "locked"][attempt - 1];
        session.wait_text(".nhsuk-error-summary", expected).await?;
        if attempt == 1 {
            session.step(shots, "lock-1-wrong-passcode").await?;
        }
    }
    ensure!(world.card()?.pin_retries_left == 0, "the card is locked");
    Ok(())
}

pub async fn open_unlock(session: &Session, world: &World, shots: &Path) -> Result<()> {
    session
        .client
        .goto(&format!("{}/unlock", world.portal_url()))
        .await?;
    session.wait_text("#bridge-status", "ready").await?;
    session.screenshot(shots, "unlock-0-portal").await?;
    // The portal's Start leads straight into the journey: no second Start on the extension page.
    session.click("#start").await?;
    session.wait_text("#holder-warning", "You are attempting to unlock a Smartcard issued to Mrs Amina Okafor. If this is not you please do not proceed.").await?;
    session.step(shots, "unlock-2-warning").await?;
    session.click("button").await?;
    session
        .wait_text("#step-heading", "Answer your security questions")
        .await?;
    Ok(())
}

pub async fn answer_questions(session: &Session, right: bool) -> Result<()> {
    fill_answers(session, right).await?;
    submit(session).await
}

/// Types an answer (the right one, or a wrong one) to each question the page asks.
pub async fn fill_answers(session: &Session, right: bool) -> Result<()> {
    for i in 0..4 {
        if session
            .client
            .find(Locator::Css(&format!("#answer-{i}")))
            .await
            .is_err()
        {
            break;
        }
        // The question the page asks, by id whatever the page's language.
        let question = session
            .client
            .find(Locator::Css(&format!("#answer-{i}")))
            .await?
            .attr("data-question")
            .await?
            .unwrap_or_default();
        let question = question.as_str();
        session
            .fill(
                &format!("#answer-{i}"),
                if right {
                    selfservice_vcard::world::demo_answer(question)
                } else {
                    "wrong answer"
                },
            )
            .await?;
    }
    Ok(())
}

pub async fn registered_and_locked(
    browser: Browser,
    card: &str,
    scenario: &str,
) -> Result<(World, Session, std::path::PathBuf)> {
    let world = World::up(card)?;
    let session = Session::start(browser, &world, true).await?;
    session.configure_portal(world.portal_url()).await?;
    let shots = screenshot_dir(scenario, browser);
    register(&session, &world, &shots).await?;
    lock_the_card(&session, &world, &shots).await?;
    Ok((world, session, shots))
}

/// The unlock's code step: the code typed and accepted, up to the new passcode's rule.
pub async fn enter_unlock_code(session: &Session, code: &str) -> Result<()> {
    session
        .wait_text("#step-heading", "Smartcard Unlock Code")
        .await?;
    session.fill("#code", code).await?;
    submit(session).await?;
    session.wait_text("#passcode-rule", "numbers").await?;
    Ok(())
}

/// The new passcode, typed twice and confirmed.
pub async fn set_new_passcode(session: &Session, passcode: &str) -> Result<()> {
    session.fill("#new-passcode", passcode).await?;
    session.fill("#confirm-passcode", passcode).await?;
    submit(session).await
}

/// The new passcode confirmed with the card armed to be pulled at the command `ins` (hex);
/// returns once the page asks for the card back and the pull has happened.
pub async fn pulled_mid_unlock(
    session: &Session,
    world: &World,
    ins: &str,
    passcode: &str,
) -> Result<()> {
    world.card_control(&["fault", "remove-after-ins", ins])?;
    set_new_passcode(session, passcode).await?;
    session
        .wait_text("#reinsert", "Put it back in the reader")
        .await?;
    world.wait_fault_fired()
}
