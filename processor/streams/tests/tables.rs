//! Tables, global tables and joins through the test driver: the reference design's two join
//! examples with their inputs and outputs, tombstones, unknown keys, null keys, derived tables,
//! changelogs, re-keying and descriptions.

use ferrobeat_streams::driver::{TestRecord, TopologyTestDriver};
use ferrobeat_streams::serdes::{Nullable, Utf8};
use ferrobeat_streams::topology::TopologyError;
use ferrobeat_streams::{StreamsBuilder, Topology};

/// `builder.table("address")` joined with `builder.stream("order")` into `order_join`, the
/// reference design's `KStreamJoinKTable` (inner join) or its left-join variant.
fn order_join(left: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let address = builder.table::<Nullable<Utf8>, Utf8>("address");
    let order = builder.stream::<Nullable<Utf8>, Utf8>("order");
    let joined = if left {
        order.left_join(&address, |order, address| match address {
            Some(address) => format!("{order} send to {address}"),
            None => format!("{order} send to nowhere"),
        })
    } else {
        order.join(&address, |order, address| {
            format!("{order} send to {address}")
        })
    };
    joined.to("order_join");
    builder.build().expect("valid topology")
}

fn joined(driver: &TopologyTestDriver) -> Vec<(String, String)> {
    driver
        .create_output_topic("order_join")
        .read_key_values_to_list()
        .into_iter()
        .map(|(key, value)| {
            let text = |bytes: Option<Vec<u8>>| {
                String::from_utf8(bytes.unwrap_or_default()).expect("utf-8")
            };
            (text(key), text(value))
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn reference_kstream_join_ktable() {
    let driver = TopologyTestDriver::new(order_join(false));
    let address = driver.create_input_topic("address");
    let order = driver.create_input_topic("order");
    address.pipe_key_value("gildong", "Newyork");
    address.pipe_key_value("jihun", "Seoul");
    order.pipe_key_value("gildong", "Galaxy");
    order.pipe_key_value("jihun", "iPhone");
    assert_eq!(
        joined(&driver),
        pairs(&[
            ("gildong", "Galaxy send to Newyork"),
            ("jihun", "iPhone send to Seoul")
        ])
    );
    address.pipe_key_value("jihun", "LA");
    assert!(
        joined(&driver).is_empty(),
        "table records only update the table"
    );
    order.pipe_key_value("jihun", "G-Wagon");
    assert_eq!(joined(&driver), pairs(&[("jihun", "G-Wagon send to LA")]));
}

#[test]
fn an_unknown_key_gives_nothing_and_a_tombstone_removes_the_key() {
    let driver = TopologyTestDriver::new(order_join(false));
    let address = driver.create_input_topic("address");
    let order = driver.create_input_topic("order");
    order.pipe_key_value("nobody", "Bicycle");
    assert!(joined(&driver).is_empty());
    address.pipe_key_value("jihun", "Seoul");
    address.pipe_record(TestRecord {
        key: Some(b"jihun".to_vec()),
        value: None,
        ..TestRecord::default()
    });
    order.pipe_key_value("jihun", "iPhone");
    assert!(joined(&driver).is_empty(), "inner join after a tombstone");
    let store = driver
        .key_value_store("address-STATE-STORE-0000000000")
        .expect("the table's store");
    assert!(store.is_empty(), "{store:?}");

    let left = TopologyTestDriver::new(order_join(true));
    left.create_input_topic("address")
        .pipe_key_value("jihun", "Seoul");
    left.create_input_topic("address").pipe_record(TestRecord {
        key: Some(b"jihun".to_vec()),
        value: None,
        ..TestRecord::default()
    });
    left.create_input_topic("order")
        .pipe_key_value("jihun", "iPhone");
    assert_eq!(joined(&left), pairs(&[("jihun", "iPhone send to nowhere")]));
}

#[test]
fn stream_records_without_a_key_are_dropped_and_counted() {
    let driver = TopologyTestDriver::new(order_join(true));
    driver
        .create_input_topic("address")
        .pipe_key_value("jihun", "Seoul");
    driver
        .create_input_topic("order")
        .pipe_record(TestRecord::from_value("iPhone"));
    assert!(joined(&driver).is_empty());
    assert_eq!(driver.dropped_without_key(), 1);
    assert!(driver.errors().is_empty(), "dropped, not failed");
}

#[test]
fn table_changes_are_written_to_the_changelog_and_the_store() {
    let driver =
        TopologyTestDriver::new(order_join(false)).with_application_id("order-join-application");
    let address = driver.create_input_topic("address");
    address.pipe_key_value("gildong", "Newyork");
    address.pipe_key_value("gildong", "Busan");
    address.pipe_record(TestRecord {
        key: Some(b"jihun".to_vec()),
        value: None,
        ..TestRecord::default()
    });
    let changelog = driver
        .create_output_topic("order-join-application-address-STATE-STORE-0000000000-changelog")
        .read_key_values_to_list();
    assert_eq!(
        changelog,
        [
            (Some(b"gildong".to_vec()), Some(b"Newyork".to_vec())),
            (Some(b"gildong".to_vec()), Some(b"Busan".to_vec())),
            (Some(b"jihun".to_vec()), None),
        ]
    );
    assert_eq!(
        driver.key_value_store("address-STATE-STORE-0000000000"),
        Some(vec![(b"gildong".to_vec(), b"Busan".to_vec())])
    );
}

/// The reference design's `KStreamJoinGlobalKTable`: `address_v2` (global) joined with `order`.
fn global_order_join(left: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let address = builder.global_table::<Utf8, Utf8>("address_v2");
    let order = builder.stream::<Nullable<Utf8>, Utf8>("order");
    let key_of = |key: &Option<std::borrow::Cow<'_, str>>, _: &std::borrow::Cow<'_, str>| {
        key.as_deref().unwrap_or_default().to_owned()
    };
    let joined = if left {
        order.left_join_global(&address, key_of, |order, address| match address {
            Some(address) => format!("{order} send to {address}"),
            None => format!("{order} send to nowhere"),
        })
    } else {
        order.join_global(&address, key_of, |order, address| {
            format!("{order} send to {address}")
        })
    };
    joined.to("order_join");
    builder.build().expect("valid topology")
}

#[test]
fn reference_kstream_join_globalktable() {
    let topology = global_order_join(false);
    assert_eq!(topology.source_topics(), ["order"]);
    assert_eq!(topology.global_topics(), ["address_v2"]);
    let driver = TopologyTestDriver::new(topology);
    let address = driver.create_input_topic("address_v2");
    let order = driver.create_input_topic("order");
    address.pipe_key_value("gildong", "Busan");
    address.pipe_key_value("jihun", "Seoul");
    order.pipe_key_value("gildong", "Porsche");
    order.pipe_key_value("jihun", "G-Wagon");
    order.pipe_key_value("nobody", "Bicycle");
    assert_eq!(
        joined(&driver),
        pairs(&[
            ("gildong", "Porsche send to Busan"),
            ("jihun", "G-Wagon send to Seoul")
        ])
    );
    assert_eq!(
        driver.key_value_store("address_v2-STATE-STORE-0000000000"),
        Some(vec![
            (b"gildong".to_vec(), b"Busan".to_vec()),
            (b"jihun".to_vec(), b"Seoul".to_vec())
        ])
    );
    assert!(
        driver
            .produced_topic_names()
            .iter()
            .all(|topic| !topic.ends_with("-changelog")),
        "a global table's topic is its own log"
    );

    let left = TopologyTestDriver::new(global_order_join(true));
    left.create_input_topic("address_v2")
        .pipe_key_value("gildong", "Busan");
    left.create_input_topic("address_v2")
        .pipe_record(TestRecord {
            key: Some(b"gildong".to_vec()),
            value: None,
            ..TestRecord::default()
        });
    left.create_input_topic("order")
        .pipe_key_value("gildong", "Porsche");
    assert_eq!(
        joined(&left),
        pairs(&[("gildong", "Porsche send to nowhere")])
    );
}

#[test]
fn derived_tables_filter_map_and_stream_their_changes() {
    let builder = StreamsBuilder::new();
    let address = builder.table::<Utf8, Utf8>("address");
    let upper = address
        .filter(|_, city| city.len() > 2)
        .map_values(|city| city.to_uppercase());
    upper.to_stream().to("cities");
    let order = builder.stream::<Utf8, Utf8>("order");
    order
        .join(&upper, |order, city| format!("{order} -> {city}"))
        .to("order_join");
    let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
    let input = driver.create_input_topic("address");
    input.pipe_key_value("gildong", "Busan");
    input.pipe_key_value("jihun", "LA");
    input.pipe_key_value("gildong", "NY");
    let cities = driver
        .create_output_topic("cities")
        .read_key_values_to_list();
    assert_eq!(
        cities,
        [
            (Some(b"gildong".to_vec()), Some(b"BUSAN".to_vec())),
            (Some(b"jihun".to_vec()), None),
            (Some(b"gildong".to_vec()), None),
        ],
        "an entry that stops matching the filter becomes a deletion"
    );
    input.pipe_key_value("jihun", "Seoul");
    driver
        .create_input_topic("order")
        .pipe_key_values([("gildong", "Galaxy"), ("jihun", "iPhone")]);
    assert_eq!(joined(&driver), pairs(&[("jihun", "iPhone -> SEOUL")]));
}

#[test]
fn select_key_re_keys_and_a_join_of_a_re_keyed_stream_is_refused() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Nullable<Utf8>, Utf8>("order")
        .select_key(|_, value| value.split(':').next().unwrap_or_default().to_owned())
        .to("by_customer");
    let driver = TopologyTestDriver::new(builder.build().expect("valid topology"));
    driver
        .create_input_topic("order")
        .pipe_values(["jihun:iPhone"]);
    assert_eq!(
        driver
            .create_output_topic("by_customer")
            .read_key_values_to_list(),
        [(Some(b"jihun".to_vec()), Some(b"jihun:iPhone".to_vec()))]
    );

    let builder = StreamsBuilder::new();
    let address = builder.table::<Utf8, Utf8>("address");
    builder
        .stream::<Nullable<Utf8>, Utf8>("order")
        .select_key(|_, value| value.to_string())
        .join(&address, |order, address| format!("{order} {address}"))
        .to("order_join");
    assert_eq!(
        builder.build().map(drop),
        Err(TopologyError::RepartitionRequired {
            join: "KSTREAM-JOIN-0000000005".to_owned(),
            rekeyed: "KSTREAM-KEY-SELECT-0000000004".to_owned(),
        })
    );
}

#[test]
fn describe_shows_stores_and_the_global_sub_topology() {
    assert_eq!(
        order_join(false).describe().to_string(),
        // Kafka's order: nodes with the largest sub-tree first, then by name.
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000003 (topics: [order])
      --> KSTREAM-JOIN-0000000004
    Processor: KSTREAM-JOIN-0000000004 (stores: [address-STATE-STORE-0000000000])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-SOURCE-0000000003
    Source: KSTREAM-SOURCE-0000000001 (topics: [address])
      --> KTABLE-SOURCE-0000000002
    Sink: KSTREAM-SINK-0000000005 (topic: order_join)
      <-- KSTREAM-JOIN-0000000004
    Processor: KTABLE-SOURCE-0000000002 (stores: [address-STATE-STORE-0000000000])
      --> none
      <-- KSTREAM-SOURCE-0000000001

"
    );
    assert_eq!(
        global_order_join(false).describe().to_string(),
        "Topologies:
   Sub-topology: 0 for global store (will not generate tasks)
    Source: KSTREAM-SOURCE-0000000001 (topics: [address_v2])
      --> KTABLE-SOURCE-0000000002
    Processor: KTABLE-SOURCE-0000000002 (stores: [address_v2-STATE-STORE-0000000000])
      --> none
      <-- KSTREAM-SOURCE-0000000001

   Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000003 (topics: [order])
      --> KSTREAM-JOIN-0000000004
    Processor: KSTREAM-JOIN-0000000004 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-SOURCE-0000000003
    Sink: KSTREAM-SINK-0000000005 (topic: order_join)
      <-- KSTREAM-JOIN-0000000004

"
    );
    let dot = order_join(false).describe().to_dot();
    assert!(
        dot.contains("\"store:address-STATE-STORE-0000000000\" [shape=folder"),
        "{dot}"
    );
    let stores: Vec<_> = order_join(false)
        .stores()
        .iter()
        .map(|store| (store.name.clone(), store.global, store.source_topic.clone()))
        .collect();
    assert_eq!(
        stores,
        [(
            "address-STATE-STORE-0000000000".to_owned(),
            false,
            Some("address".to_owned())
        )]
    );
}
