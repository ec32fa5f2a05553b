//! A smoke run in both browsers: the extension loads, the popup shows the virtual card, a
//! guided page goes through the real host and portal, and the wasm rules answer in the page.

use fantoccini::Locator;
use selfservice_e2e::{Browser, Session, World};

async fn smoke(browser: Browser) -> anyhow::Result<()> {
    let world = World::up("unlocked")?;
    let session = Session::start(browser, &world, true).await?;
    session.configure_portal(world.portal_url()).await?;

    session
        .client
        .goto(&session.page("pages/popup.html"))
        .await?;
    session.wait_text(".holder", "Mrs Amina Okafor").await?;
    session.wait_text(".passcode-state", "3 tries left").await?;

    session
        .client
        .goto(&session.page("pages/register.html"))
        .await?;
    session
        .wait_text("#step-heading", "Enter your smartcard passcode")
        .await?;
    session
        .wait_text(".nhsuk-summary-list", "Virtual PCD 00 00")
        .await?;
    session.fill("#passcode", "583920").await?;
    session.click("button[type=submit]").await?;
    session
        .wait_text("#step-heading", "Choose your security questions")
        .await?;

    // The shared rules, from wasm, judge the answer as it is typed.
    let select = session.client.find(Locator::Css("#question-0")).await?;
    select.select_by_value("first-car").await?;
    session.fill("#answer-0", "x").await?;
    session.wait_text("#answer-0-live", "too short").await?;
    session.close().await?;
    Ok(())
}

#[tokio::test]
async fn chromium_loads_the_extension_and_reaches_the_card_and_portal() -> anyhow::Result<()> {
    smoke(Browser::Chromium).await
}

#[tokio::test]
async fn firefox_loads_the_extension_and_reaches_the_card_and_portal() -> anyhow::Result<()> {
    smoke(Browser::Firefox).await
}
