//! IT's rollout, end to end: the extension force-installed and configured by the example
//! policies, the host registered for all users by its own `install --system`, and then the
//! journeys as staff take them, with no step a member of staff or IT would not do. And the
//! rollouts that go wrong: a policy that refuses the host, a host registered where the policy
//! does not look, no host at all; each ends in a message on the page and in `doctor`.
//! (`tests/e2e/src/rollout.rs` sets up the machine; the packages come from `target/rollout`.)

use anyhow::{ensure, Result};
use fantoccini::Locator;
use selfservice_e2e::rollout::{Registration, Rollout};
use selfservice_e2e::steps::{
    answer_questions, lock_the_card, open_unlock, register, submit, NEW_PASSCODE,
};
use selfservice_e2e::{screenshot_dir, Browser, Session, World};

/// Installed and configured purely by policy, then registration, a lockout and the unlock.
async fn rolled_out_by_policy(browser: Browser) -> Result<()> {
    let world = World::up("unlocked")?;
    let session = Session::start_by_policy(browser, &world, Rollout::AS_IT_DOES_IT).await?;
    let shots = screenshot_dir("rollout", browser);
    let machine = session.machine.as_ref().expect("installed by policy");
    let asked = machine
        .requests
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default();
    match browser {
        Browser::Chromium => ensure!(
            asked
                .iter()
                .any(|p| p.starts_with("/extension/updates.xml"))
                && asked.iter().any(|p| p.ends_with(".crx")),
            "Chromium installed without asking for updates.xml and the CRX: {asked:?}"
        ),
        Browser::Firefox => ensure!(
            asked
                .iter()
                .any(|p| p.ends_with("/smartcard-selfservice.xpi")),
            "Firefox installed without asking for the xpi: {asked:?}"
        ),
    }

    // The options page: every value the policy sets is shown as managed, and none can be
    // changed there.
    session
        .wait_text("#configuration", world.portal_url())
        .await?;
    let managed = session
        .client
        .find_all(Locator::Css(".config-source[data-source=policy]"))
        .await?
        .len();
    ensure!(
        managed >= 3,
        "the portal, its origins and the RA contact come from the policy ({managed} shown so)"
    );
    session
        .wait_text("#managed-note", "cannot be changed here")
        .await?;
    ensure!(
        session
            .client
            .find(Locator::Css("#portal-url"))
            .await
            .is_err(),
        "a managed portal address is not editable"
    );
    session.wait_text("#host-version", "version").await?;
    session.step(&shots, "rollout-1-options-managed").await?;

    register(&session, &world, &shots).await?;
    lock_the_card(&session, &world, &shots).await?;
    open_unlock(&session, &world, &shots).await?;
    answer_questions(&session, true).await?;
    session
        .wait_text("#step-heading", "Smartcard Unlock Code")
        .await?;
    world.portal_clock_to_now()?;
    session.fill("#code", &world.code(2)?).await?;
    submit(&session).await?;
    // The passcode rule is the policy's (6 or more digits, from PasscodePolicy).
    session.wait_text("#passcode-rule", "numbers").await?;
    session.fill("#new-passcode", NEW_PASSCODE).await?;
    session.fill("#confirm-passcode", NEW_PASSCODE).await?;
    submit(&session).await?;
    session
        .wait_text("#success", "Your Smartcard has been successfully unlocked.")
        .await?;
    session.step(&shots, "rollout-2-unlocked").await?;
    let card = world.card()?;
    ensure!(
        card.pin == NEW_PASSCODE && card.pin_retries_left > 0,
        "the card holds the new passcode"
    );
    session.close().await
}

/// A rollout that leaves the host out of reach: what the portal page, the extension's own
/// page and `doctor` say.
async fn host_out_of_reach(
    browser: Browser,
    rollout: Rollout,
    scenario: &str,
    (portal_says, extension_says): (&str, &str),
    doctor_says: &str,
) -> Result<()> {
    let world = World::up("unlocked")?;
    let session = Session::start_by_policy(browser, &world, rollout).await?;
    let shots = screenshot_dir(scenario, browser);
    session
        .client
        .goto(&format!("{}/unlock", world.portal_url()))
        .await?;
    session.wait_text("#bridge-status", portal_says).await?;
    session.step(&shots, "portal").await?;
    ensure!(
        session
            .client
            .find(Locator::Css("#start"))
            .await?
            .attr("disabled")
            .await?
            .is_some(),
        "Start stays disabled"
    );
    // The extension's own popup says the same, at once: no endless "connecting".
    session
        .client
        .goto(&session.page("pages/popup.html"))
        .await?;
    session.wait_text("#host-problem", extension_says).await?;
    session.step(&shots, "popup").await?;

    let machine = session.machine.as_ref().expect("installed by policy");
    let (report, problem) = machine.doctor(&world.env())?;
    ensure!(
        problem && report.contains(doctor_says),
        "doctor should report '{doctor_says}' as a problem; it printed:\n{report}"
    );
    session.close().await
}

async fn policy_refuses_the_host(browser: Browser) -> Result<()> {
    host_out_of_reach(
        browser,
        Rollout {
            registration: Registration::AllUsers,
            policy_allows_host: false,
        },
        "rollout-host-refused-by-policy",
        (
            "browser settings do not allow",
            "browser settings do not allow",
        ),
        "the browser policy refuses the host",
    )
    .await
}

async fn user_level_host_ignored_by_policy(browser: Browser) -> Result<()> {
    host_out_of_reach(
        browser,
        Rollout {
            registration: Registration::ThisUserOnly,
            policy_allows_host: true,
        },
        "rollout-user-level-host-ignored",
        (
            "smartcard software it needs is missing",
            "is not installed on this computer",
        ),
        "NativeMessagingUserLevelHosts is false",
    )
    .await
}

/// Firefox has no policy that refuses a host: the rollout that fails there is the package
/// that never registered it.
async fn host_never_registered(browser: Browser) -> Result<()> {
    host_out_of_reach(
        browser,
        Rollout {
            registration: Registration::Nowhere,
            policy_allows_host: true,
        },
        "rollout-host-not-registered",
        (
            "smartcard software it needs is missing",
            "is not installed on this computer",
        ),
        "no browser can start the host",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_gets_the_extension_and_its_settings_by_policy_and_unlocks() -> Result<()> {
    rolled_out_by_policy(Browser::Chromium).await
}

#[tokio::test(flavor = "multi_thread")]
async fn firefox_gets_the_extension_and_its_settings_by_policy_and_unlocks() -> Result<()> {
    rolled_out_by_policy(Browser::Firefox).await
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_says_so_when_its_policy_refuses_the_host() -> Result<()> {
    policy_refuses_the_host(Browser::Chromium).await
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_says_so_when_the_host_is_registered_only_where_policy_does_not_look() -> Result<()>
{
    user_level_host_ignored_by_policy(Browser::Chromium).await
}

#[tokio::test(flavor = "multi_thread")]
async fn firefox_says_so_when_the_package_never_registered_the_host() -> Result<()> {
    host_never_registered(Browser::Firefox).await
}
