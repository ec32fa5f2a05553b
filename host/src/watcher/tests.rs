//! Tests of `watcher`.

use super::*;

fn reader() -> CString {
    CString::new("Reader 0").expect("name")
}

fn at(present: bool, events: u32) -> BTreeMap<CString, Seen> {
    BTreeMap::from([(reader(), Seen { present, events })])
}

fn inserted() -> HostEvent {
    HostEvent::CardInserted {
        reader: "Reader 0".into(),
    }
}

fn removed() -> HostEvent {
    HostEvent::CardRemoved {
        reader: "Reader 0".into(),
    }
}

fn none() -> BTreeSet<CString> {
    BTreeSet::new()
}

fn started() -> (Tracker, Instant) {
    let mut tracker = Tracker::default();
    let t0 = Instant::now();
    let first = tracker.look(at(true, 1), &none(), t0);
    assert_eq!(
        first.events,
        vec![
            HostEvent::ReaderAdded {
                reader: "Reader 0".into()
            },
            inserted()
        ]
    );
    (tracker, t0)
}

#[test]
fn presence_changes_are_announced_once() {
    let (mut tracker, t0) = started();
    assert_eq!(tracker.look(at(true, 1), &none(), t0).events, vec![]);
    assert_eq!(
        tracker.look(at(false, 2), &none(), t0).events,
        vec![removed()]
    );
    assert_eq!(
        tracker.look(at(true, 3), &none(), t0).events,
        vec![inserted()]
    );
}

#[test]
fn a_card_pulled_and_put_back_between_two_looks_gives_both_events() {
    let (mut tracker, t0) = started();
    assert_eq!(
        tracker.look(at(true, 3), &none(), t0).events,
        vec![removed(), inserted()]
    );
}

#[test]
fn a_removal_the_service_missed_is_announced_then_confirmed_back_after_a_poll() {
    let (mut tracker, t0) = started();
    let noted = BTreeSet::from([reader()]);
    let look = tracker.look(at(true, 1), &noted, t0);
    assert_eq!(look.events, vec![removed()]);
    assert_eq!(look.look_again_in, Some(CONFIRM_REINSERTED_AFTER));
    // Woken early (another reader, say): not yet believed.
    let early = tracker.look(at(true, 1), &none(), t0 + Duration::from_millis(300));
    assert_eq!(early.events, vec![]);
    assert_eq!(early.look_again_in, Some(Duration::from_millis(700)));
    let later = tracker.look(at(true, 1), &none(), t0 + CONFIRM_REINSERTED_AFTER);
    assert_eq!(later.events, vec![inserted()]);
    assert_eq!(later.look_again_in, None);
}

#[test]
fn a_noted_removal_the_service_then_sees_waits_for_a_real_insertion() {
    let (mut tracker, t0) = started();
    let noted = BTreeSet::from([reader()]);
    assert_eq!(
        tracker.look(at(true, 1), &noted, t0).events,
        vec![removed()]
    );
    let gone = tracker.look(at(false, 2), &none(), t0 + Duration::from_millis(400));
    assert_eq!(gone.events, vec![]);
    assert_eq!(gone.look_again_in, None);
    assert_eq!(
        tracker
            .look(at(false, 2), &none(), t0 + Duration::from_secs(30))
            .events,
        vec![]
    );
    assert_eq!(
        tracker
            .look(at(true, 3), &none(), t0 + Duration::from_secs(31))
            .events,
        vec![inserted()]
    );
}

#[test]
fn a_noted_removal_already_seen_by_the_service_is_not_announced_twice() {
    let (mut tracker, t0) = started();
    assert_eq!(
        tracker.look(at(false, 2), &none(), t0).events,
        vec![removed()]
    );
    let noted = BTreeSet::from([reader()]);
    assert_eq!(tracker.look(at(false, 2), &noted, t0).events, vec![]);
}

#[test]
fn a_reader_unplugged_takes_its_card_with_it() {
    let (mut tracker, t0) = started();
    assert_eq!(
        tracker.look(BTreeMap::new(), &none(), t0).events,
        vec![
            removed(),
            HostEvent::ReaderRemoved {
                reader: "Reader 0".into()
            }
        ]
    );
}
