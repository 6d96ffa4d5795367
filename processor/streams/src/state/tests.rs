//! Unit tests of the state module: stores, task changes, global stores.

use super::*;

fn names(names: &[&str]) -> Arc<[String]> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

#[test]
fn restoring_every_version_and_repeats_ends_in_the_latest_value() {
    let mut store = InMemoryKeyValueStore::default();
    for (key, value) in [
        ("jihun", Some("Seoul")),
        ("gildong", Some("Newyork")),
        ("jihun", Some("LA")),
        ("jihun", Some("LA")),
        ("gildong", None),
        ("gildong", None),
    ] {
        store.apply(key.as_bytes(), value.map(str::as_bytes));
    }
    let entries: Vec<_> = store.entries().collect();
    assert_eq!(entries, [(b"jihun".as_slice(), b"LA".as_slice())]);
    assert_eq!(store.len(), 1);
    assert_eq!(store.get(b"gildong"), None);
}

#[test]
fn task_changes_are_recorded_and_taken_once() {
    let globals = GlobalStores::new(names(&[]));
    let mut state = TaskState::in_memory(names(&["a", "b"]), globals);
    state.apply(1, b"k", Some(b"v"));
    state.apply(0, b"x", None);
    assert_eq!(
        state.store("b").and_then(|store| store.get(b"k")),
        Some(&b"v"[..])
    );
    let changes = state.take_changes();
    assert_eq!(
        changes,
        [
            StoreChange {
                store: 1,
                key: b"k".to_vec(),
                value: Some(b"v".to_vec())
            },
            StoreChange {
                store: 0,
                key: b"x".to_vec(),
                value: None
            },
        ]
    );
    assert!(state.take_changes().is_empty());
    state.apply(1, b"k", None);
    assert_eq!(state.take_changes().len(), 1);
    assert_eq!(state.store("b").and_then(|store| store.get(b"k")), None);
}

#[test]
fn global_stores_are_shared_between_clones() {
    let globals = GlobalStores::new(names(&["g"]));
    let reader = globals.clone();
    globals.apply(0, b"k", Some(b"v1"));
    assert_eq!(reader.get(0, b"k"), Some(b"v1".to_vec()));
    globals.apply(0, b"k", None);
    assert_eq!(reader.get(0, b"k"), None);
    assert_eq!(reader.snapshot("g"), Some(Vec::new()));
    assert_eq!(reader.snapshot("missing"), None);
}
