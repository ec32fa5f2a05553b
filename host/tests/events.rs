//! Events pushed without being asked: cards in and out, readers coming and going, and the
//! PC/SC service stopping and coming back, all survived by one session.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

fn event(host: &mut Host, name: &str, reader: Option<&str>) -> serde_json::Value {
    let (name, reader) = (name.to_string(), reader.map(str::to_string));
    host.expect(Duration::from_secs(10), move |f| {
        f["type"] == "event"
            && f["event"] == name.as_str()
            && reader.as_deref().is_none_or(|r| f["reader"] == r)
    })
}

#[test]
fn card_removal_and_insertion_are_pushed_as_events() {
    let mut world = World::new();
    world.insert("unlocked", 0);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    world.card(0).running.remove();
    event(&mut host, "card-removed", Some("Virtual PCD 00 00"));
    world.card(0).running.insert();
    event(&mut host, "card-inserted", Some("Virtual PCD 00 00"));
    // A second card in the other slot.
    world.insert("locked", 1);
    event(&mut host, "card-inserted", Some("Virtual PCD 00 01"));
}

#[test]
fn the_pcsc_service_stopping_and_restarting_is_reported_and_survived() {
    let mut world = World::new();
    world.insert("unlocked", 0);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    world.stop_pcscd();
    event(&mut host, "service-unavailable", None);
    // The readers went with the service.
    event(&mut host, "reader-removed", Some("Virtual PCD 00 00"));
    let status = host.request(json!({"type": "status"}));
    assert_eq!(
        status["result"],
        json!({"service": "unavailable", "readers": []})
    );
    let proof = host.request(json!({"type": "prove-possession", "purpose": "register", "origin": ORIGIN, "nonce": NONCE, "passcode": "583920"}));
    assert_eq!(proof["error"]["code"], "service-unavailable");

    world.restart_pcscd();
    event(&mut host, "service-available", None);
    event(&mut host, "reader-added", Some("Virtual PCD 00 00"));
    // Without restarting the host, the card works again.
    host.wait_for_card(0);
    let proof = host.request(json!({"type": "prove-possession", "purpose": "register", "origin": ORIGIN, "nonce": NONCE, "passcode": "583920"}));
    assert!(proof.get("result").is_some(), "{proof}");
}

#[test]
fn a_host_started_without_the_service_waits_for_it() {
    let mut world = World::new();
    world.stop_pcscd();
    let mut host = world.host();
    host.hello();
    let status = host.request(json!({"type": "status"}));
    assert_eq!(status["result"]["service"], "unavailable");
    world.insert("locked", 0);
    world.restart_pcscd();
    event(&mut host, "service-available", None);
    host.wait_for_card(0);
}

/// Windows stops its Smart Card service when the last reader is unplugged and starts it when
/// one is plugged in (a context then fails with SCARD_E_NO_SERVICE / SERVICE_STOPPED). Here the
/// same sequence: the reader goes and pcscd stops with it; the reader comes back with its card
/// and pcscd starts again; twice over, with a card wait left pending across the second.
#[test]
fn the_service_leaving_with_the_last_reader_and_returning_with_it_is_followed() {
    let mut world = World::new();
    world.insert("unlocked", 0);
    let mut host = world.host();
    host.hello();
    host.wait_for_card(0);
    for round in 0..2 {
        world.card(0).running.remove();
        world.stop_pcscd();
        event(&mut host, "service-unavailable", None);
        let status = host.request(json!({"type": "status"}));
        assert_eq!(
            status["result"],
            json!({"service": "unavailable", "readers": []}),
            "round {round}"
        );
        // Without a wait, the answer is at once; a card wait lasts through the outage, as the
        // page's "insert your card" wait must when the person plugs the reader in.
        let now = host.request(json!({"type": "prove-possession", "purpose": "register",
            "origin": ORIGIN, "nonce": NONCE, "passcode": "583920"}));
        assert_eq!(now["error"]["code"], "service-unavailable", "{now}");
        let pending = (round == 1).then(|| {
            host.send(json!({"type": "prove-possession", "purpose": "register",
                "origin": ORIGIN, "nonce": NONCE, "passcode": "583920", "waitForCardMs": 60000}))
        });
        world.restart_pcscd();
        world.card(0).running.insert();
        event(&mut host, "service-available", None);
        event(&mut host, "reader-added", Some("Virtual PCD 00 00"));
        let proof = match pending {
            Some(id) => host.reply(id),
            None => {
                host.wait_for_card(0);
                host.request(json!({"type": "prove-possession", "purpose": "register",
                    "origin": ORIGIN, "nonce": NONCE, "passcode": "583920"}))
            }
        };
        assert!(proof.get("result").is_some(), "round {round}: {proof}");
    }
}
