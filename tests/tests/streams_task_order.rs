//! A stateful task's timestamp order and at least once, on the broker with the runtime in
//! process: a record waiting in its task's buffer (here for `runtime.max_task_idle`) is neither
//! processed nor committed, and the next owner of its partition processes it.

mod processor_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrobeat_streams::config::StreamsConfig;
use ferrobeat_streams::runtime::{ClientState, StreamsRuntime};
use ferrobeat_streams::serdes::{Nullable, Utf8};
use ferrobeat_streams::{StreamsBuilder, Topology};
use ferrobeat_tests::TestKafka;
use processor_support::{committed_offsets, eventually, init_logging, quick_group};

const APPLICATION: &str = "ordered-join-application";
const CHANGELOG: &str = "ordered-join-application-address-STATE-STORE-0000000000-changelog";
/// How long a record may take to come out the other end.
const WAIT: Duration = Duration::from_secs(60);

/// The reference design's stream–table join: `order` ⋈ `address` → `order_join`.
fn join() -> Topology {
    let builder = StreamsBuilder::new();
    let address = builder.table::<Nullable<Utf8>, Utf8>("address");
    builder
        .stream::<Nullable<Utf8>, Utf8>("order")
        .join(&address, |order, address| {
            format!("{order} send to {address}")
        })
        .to("order_join");
    builder.build().expect("the join builds")
}

/// The join's runtime on `kafka`, its tasks waiting `max_task_idle` for a caught-up partition.
fn runtime(kafka: &TestKafka, max_task_idle: Duration) -> StreamsRuntime {
    let mut config = StreamsConfig::new(kafka.bootstrap_servers(), APPLICATION);
    quick_group(&mut config.kafka, &mut config.runtime);
    config.runtime.max_task_idle = max_task_idle;
    let runtime = StreamsRuntime::new(join(), config);
    runtime.start().expect("start");
    runtime
}

/// What `group` committed on partition 0 of `topic`.
fn committed(kafka: &TestKafka, topic: &str) -> Option<i64> {
    committed_offsets(&kafka.client_config(), APPLICATION, topic, 1)
        .get(&0)
        .copied()
}

#[test]
fn a_record_waiting_for_its_task_is_not_committed_and_its_next_owner_processes_it() {
    init_logging();
    let kafka = TestKafka::start().expect("broker");
    for topic in ["address", "order", "order_join"] {
        kafka.create_topic(topic, 1).expect("topic");
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    // The order first, then an address older than it: the task applies the address first,
    // which it can only do once the order is in its buffer (until then the order's partition
    // is behind). Then the address partition is caught up and empty, and the order waits
    // for it for an hour.
    let order = ((Some(&b"jihun"[..]), Some(&b"iPhone"[..])), now + 10);
    kafka.produce_keyed_at("order", &[order]).expect("produce");
    let address = ((Some(&b"jihun"[..]), Some(&b"Seoul"[..])), now);
    kafka
        .produce_keyed_at("address", &[address])
        .expect("produce");

    let waiting = runtime(&kafka, Duration::from_secs(3600));
    assert!(
        eventually(WAIT, || committed(&kafka, "address") == Some(1)),
        "the address was never applied and committed"
    );
    assert_eq!(
        waiting.close(Duration::from_secs(30)),
        ClientState::NotRunning
    );
    assert_eq!(
        committed(&kafka, "order"),
        None,
        "the order waiting in its task's buffer was committed"
    );
    let changelog = kafka.read_topic(CHANGELOG, 1, WAIT).expect("read");
    assert_eq!(changelog.len(), 1, "the address is in the changelog");
    let early = kafka
        .read_topic("order_join", 1, Duration::from_secs(2))
        .expect("read");
    assert!(early.is_empty(), "the order did not wait: {early:?}");

    // The next owner, which does not wait for caught-up partitions, restores the table from
    // its changelog and joins the order it fetches again.
    let next = runtime(&kafka, Duration::ZERO);
    let joined = kafka.read_topic("order_join", 1, WAIT).expect("read");
    let joined: Vec<String> = joined
        .iter()
        .map(|record| {
            let text = |bytes: &Option<Vec<u8>>| {
                String::from_utf8_lossy(bytes.as_deref().unwrap_or_default()).into_owned()
            };
            format!("{}:{}", text(&record.key), text(&record.value))
        })
        .collect();
    assert_eq!(joined, ["jihun:iPhone send to Seoul"]);
    assert!(
        eventually(WAIT, || committed(&kafka, "order") == Some(1)),
        "the order's offset is committed once it is processed"
    );
    assert_eq!(next.close(Duration::from_secs(30)), ClientState::NotRunning);
}
