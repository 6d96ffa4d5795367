//! The streams library's four reference examples, run as programs against the broker with the
//! reference design's inputs, their outputs read back with an independent client: the copy and
//! the filter, the stream–table join (its table restored from its changelog after a clean
//! restart and after a `kill -9`, a restart on a persistent state directory restoring only the
//! changelog's tail, a second instance taking tasks over),
//! the stream–global-table join over topics of 2 and 3 partitions, the join's processing order
//! inside a task (timestamp order across the table's and the stream's partitions), and the
//! refusals (topics not co-partitioned, a task-splitting assignor, a missing topic).

mod processor_support;

use std::path::Path;
use std::time::Duration;

use ferrobeat_tests::TestKafka;
use processor_support::{
    Example, eventually, kill_9_and_wait_out_its_session, spawn_example_with, terminate,
};

/// How long a record may take to come out the other end.
const WAIT: Duration = Duration::from_secs(60);

/// Starts example `name` on `kafka`, its standard error to `log` (at the `info` level, or the
/// filter in `EXAMPLE_LOG`, e.g. `EXAMPLE_LOG=info,ferrobeat_streams=debug`).
fn spawn_example(name: &str, kafka: &TestKafka, log: &Path) -> Example {
    spawn_example_with(name, kafka, log, &[])
}

/// Produces `key:value` pairs (`key:` alone for a tombstone) to `topic`.
fn produce(kafka: &TestKafka, topic: &str, pairs: &[&str]) {
    let records: Vec<ferrobeat_tests::KeyedRecord<'_>> = pairs
        .iter()
        .map(|pair| {
            let (key, value) = pair.split_once(':').expect("key:value");
            (
                Some(key.as_bytes()),
                (!value.is_empty()).then_some(value.as_bytes()),
            )
        })
        .collect();
    kafka.produce_keyed(topic, &records).expect("produce");
}

/// Every record of `topic` as `key:value`, once at least `count` arrived (or `WAIT` passed).
fn read(kafka: &TestKafka, topic: &str, count: usize) -> Vec<String> {
    let text = |bytes: &Option<Vec<u8>>| {
        String::from_utf8_lossy(bytes.as_deref().unwrap_or_default()).into_owned()
    };
    let mut records: Vec<String> = kafka
        .read_topic(topic, count, WAIT)
        .expect("read")
        .iter()
        .map(|record| format!("{}:{}", text(&record.key), text(&record.value)))
        .collect();
    records.sort();
    records
}

/// Waits until `topic` holds at least `count` records; names the example's `log` if not.
fn wait_for(kafka: &TestKafka, topic: &str, count: usize, log: &Path) {
    assert!(
        // Each read waits for `count` records (or 5 s): a shorter read can miss some that are
        // there, since a new reader needs a moment to fetch from every partition.
        eventually(WAIT, || kafka
            .read_topic(topic, count, Duration::from_secs(5))
            .is_ok_and(|records| records.len() >= count)),
        "{topic} never held {count} records; the example's log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn stop(mut example: Example, log: &Path) {
    let exit = terminate(&mut example.0, Duration::from_secs(60));
    let log = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        exit.is_some_and(|exit| exit.success()),
        "the example did not stop cleanly ({exit:?}):\n{log}"
    );
}

#[test]
fn stream_copy_and_stream_filter() {
    let kafka = TestKafka::start().expect("broker");
    for topic in ["stream_log", "stream_log_copy", "stream_log_filter"] {
        kafka.create_topic(topic, 3).expect("topic");
    }
    let dir = tempfile::tempdir().expect("dir");
    let copy_log = dir.path().join("copy.log");
    let filter_log = dir.path().join("filter.log");
    let copy = spawn_example("stream_copy", &kafka, &copy_log);
    let filter = spawn_example("stream_filter", &kafka, &filter_log);
    produce(
        &kafka,
        "stream_log",
        &["a:short", "b:longer one", "c:123456", "d:12345"],
    );
    assert_eq!(
        read(&kafka, "stream_log_copy", 4),
        ["a:short", "b:longer one", "c:123456", "d:12345"]
    );
    assert_eq!(
        read(&kafka, "stream_log_filter", 2),
        ["b:longer one", "c:123456"]
    );
    stop(copy, &copy_log);
    stop(filter, &filter_log);
}

const CHANGELOG: &str = "order-join-application-address-STATE-STORE-0000000000-changelog";

#[test]
fn kstream_join_ktable_joins_and_restores_its_table_on_restart() {
    let kafka = TestKafka::start().expect("broker");
    for topic in ["address", "order", "order_join"] {
        kafka.create_topic(topic, 3).expect("topic");
    }
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("join.log");
    produce(&kafka, "address", &["gildong:Newyork", "jihun:Seoul"]);
    let example = spawn_example("kstream_join_ktable", &kafka, &log);
    // The table is materialised once its changes are in the changelog: only then do orders
    // meet it (a stream record is joined with the table as it is when the record is processed).
    wait_for(&kafka, CHANGELOG, 2, &log);
    produce(&kafka, "order", &["gildong:Galaxy", "jihun:iPhone"]);
    assert_eq!(
        read(&kafka, "order_join", 2),
        [
            "gildong:Galaxy send to Newyork",
            "jihun:iPhone send to Seoul"
        ]
    );
    produce(&kafka, "address", &["jihun:LA"]);
    wait_for(&kafka, CHANGELOG, 3, &log);
    produce(&kafka, "order", &["jihun:G-Wagon", "nobody:Bicycle"]);
    wait_for(&kafka, "order_join", 3, &log);
    assert!(
        read(&kafka, "order_join", 3).contains(&"jihun:G-Wagon send to LA".to_owned()),
        "{:?}",
        read(&kafka, "order_join", 3)
    );

    // A clean stop, then a new instance restores the table from its changelog (the address
    // topic is not read again: its offsets were committed).
    stop(example, &log);
    let restarted_log = dir.path().join("restarted.log");
    let restarted = spawn_example("kstream_join_ktable", &kafka, &restarted_log);
    wait_for_log(&restarted_log, "restore finished");
    let restarted_text = std::fs::read_to_string(&restarted_log).unwrap_or_default();
    assert!(
        restarted_text.contains("restore started"),
        "{restarted_text}"
    );
    produce(&kafka, "order", &["gildong:Porsche"]);
    wait_for(&kafka, "order_join", 4, &restarted_log);
    let joined = read(&kafka, "order_join", 4);
    assert!(
        joined.contains(&"gildong:Porsche send to Newyork".to_owned()),
        "{joined:?}"
    );
    assert!(
        !joined.iter().any(|record| record.starts_with("nobody:")),
        "an order for an unknown key gives no output: {joined:?}"
    );
    stop(restarted, &restarted_log);
}

/// Waits until the example's `log` contains `text`.
fn wait_for_log(log: &Path, text: &str) {
    assert!(
        eventually(WAIT, || std::fs::read_to_string(log)
            .is_ok_and(|content| content.contains(text))),
        "no {text:?} logged:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Records each restore of `log` says it applied (`restore finished: 100% (N records)`).
fn restored_counts(log: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.split("restore finished: 100% (")
        .skip(1)
        .map(|rest| {
            rest.split(' ')
                .next()
                .and_then(|count| count.parse().ok())
                .unwrap_or_else(|| panic!("unreadable restore line in:\n{text}"))
        })
        .collect()
}

/// Waits until the example of `log` restored all its tasks and runs.
fn wait_until_running(log: &Path) {
    wait_for_log(log, "REBALANCING -> RUNNING");
}

#[test]
fn a_table_survives_kill_9_and_a_restart_after_a_clean_stop_restores_only_the_tail() {
    let kafka = TestKafka::start().expect("broker");
    for topic in ["address", "order", "order_join"] {
        kafka.create_topic(topic, 3).expect("topic");
    }
    let dir = tempfile::tempdir().expect("dir");
    let state = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (first_state, second_state) = (state("state-1"), state("state-2"));
    produce(&kafka, "address", &["gildong:Newyork", "jihun:Seoul"]);
    let first_log = dir.path().join("first.log");
    let mut first = spawn_example_with(
        "kstream_join_ktable",
        &kafka,
        &first_log,
        &["--state-dir", &first_state],
    );
    wait_for(&kafka, CHANGELOG, 2, &first_log);
    kill_9_and_wait_out_its_session(&mut first.0);
    assert!(
        Path::new(&first_state)
            .join("order-join-application")
            .is_dir(),
        "no task directory under {first_state}"
    );

    // Another machine (an empty state directory) restores the table from its changelog alone:
    // the address topic's offsets were committed, so it is not read again.
    let second_log = dir.path().join("second.log");
    let second = spawn_example_with(
        "kstream_join_ktable",
        &kafka,
        &second_log,
        &["--state-dir", &second_state],
    );
    wait_until_running(&second_log);
    let second_text = std::fs::read_to_string(&second_log).unwrap_or_default();
    for call in ["restore started", "restored a batch", "restore finished"] {
        assert!(
            second_text.contains(call),
            "no {call:?} logged:\n{second_text}"
        );
    }
    assert_eq!(
        restored_counts(&second_log).iter().sum::<u64>(),
        2,
        "{second_text}"
    );
    produce(&kafka, "order", &["gildong:Galaxy", "jihun:iPhone"]);
    assert_eq!(
        read(&kafka, "order_join", 2),
        [
            "gildong:Galaxy send to Newyork",
            "jihun:iPhone send to Seoul"
        ]
    );
    stop(second, &second_log);

    // After a clean stop, every store was checkpointed at its changelog's end: a restart on the
    // same state directory restores nothing, and the table is whole.
    let third_log = dir.path().join("third.log");
    let third = spawn_example_with(
        "kstream_join_ktable",
        &kafka,
        &third_log,
        &["--state-dir", &second_state],
    );
    wait_until_running(&third_log);
    let counts = restored_counts(&third_log);
    assert!(
        !counts.is_empty() && counts.iter().all(|count| *count == 0),
        "{counts:?}:\n{}",
        std::fs::read_to_string(&third_log).unwrap_or_default()
    );
    produce(&kafka, "order", &["jihun:G-Wagon"]);
    wait_for(&kafka, "order_join", 3, &third_log);
    assert!(
        read(&kafka, "order_join", 3).contains(&"jihun:G-Wagon send to Seoul".to_owned()),
        "{:?}",
        read(&kafka, "order_join", 3)
    );
    stop(third, &third_log);
}

/// Copies directory `from` (files and sub-directories) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

#[test]
fn a_checkpoint_its_changelog_does_not_hold_empties_the_store_before_a_restore() {
    let kafka = TestKafka::start().expect("broker");
    for topic in ["address", "order", "order_join"] {
        kafka.create_topic(topic, 3).expect("topic");
    }
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state");
    let state_arg = state.to_string_lossy().into_owned();
    produce(&kafka, "address", &["gildong:Newyork", "jihun:Seoul"]);
    let first_log = dir.path().join("first.log");
    let first = spawn_example_with(
        "kstream_join_ktable",
        &kafka,
        &first_log,
        &["--state-dir", &state_arg],
    );
    wait_for(&kafka, CHANGELOG, 2, &first_log);
    stop(first, &first_log);
    // Another application finds these stores, checkpointed past the end of its own (new,
    // empty) changelogs: as if the changelog topic had been deleted and created again.
    copy_dir(
        &state.join("order-join-application"),
        &state.join("another-application"),
    );
    let second_log = dir.path().join("second.log");
    let second = spawn_example_with(
        "kstream_join_ktable",
        &kafka,
        &second_log,
        &[
            "--state-dir",
            &state_arg,
            "--application-id",
            "another-application",
        ],
    );
    wait_until_running(&second_log);
    let text = std::fs::read_to_string(&second_log).unwrap_or_default();
    assert!(
        text.contains("checkpoint is outside its changelog"),
        "no store was emptied:\n{text}"
    );
    // The new application's group reads the addresses again; once in its changelog, they are
    // in its table.
    wait_for(
        &kafka,
        "another-application-address-STATE-STORE-0000000000-changelog",
        2,
        &second_log,
    );
    produce(&kafka, "order", &["jihun:iPhone"]);
    wait_for(&kafka, "order_join", 1, &second_log);
    assert_eq!(
        read(&kafka, "order_join", 1),
        ["jihun:iPhone send to Seoul"]
    );
    stop(second, &second_log);
}

#[test]
fn a_second_instance_takes_over_stateful_tasks_and_restores_them() {
    let kafka = TestKafka::start().expect("broker");
    for topic in ["address", "order", "order_join"] {
        kafka.create_topic(topic, 3).expect("topic");
    }
    let customers: Vec<String> = (0..12).map(|i| format!("customer-{i}")).collect();
    let addresses: Vec<String> = customers
        .iter()
        .map(|customer| format!("{customer}:city-of-{customer}"))
        .collect();
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
    produce(&kafka, "address", &addresses);
    let dir = tempfile::tempdir().expect("dir");
    let first_log = dir.path().join("first.log");
    let first = spawn_example("kstream_join_ktable", &kafka, &first_log);
    wait_for(&kafka, CHANGELOG, customers.len(), &first_log);
    let second_log = dir.path().join("second.log");
    let second = spawn_example("kstream_join_ktable", &kafka, &second_log);
    // The second member owns tasks once it restored them from the changelog.
    assert!(
        eventually(WAIT, || std::fs::read_to_string(&second_log).is_ok_and(
            |log| log.contains("task restored") && log.contains("REBALANCING -> RUNNING")
        )),
        "the second instance restored no task:\n{}",
        std::fs::read_to_string(&second_log).unwrap_or_default()
    );
    let restored = std::fs::read_to_string(&second_log).unwrap_or_default();
    assert!(restored.contains("restore finished"), "{restored}");
    let orders: Vec<String> = customers
        .iter()
        .map(|customer| format!("{customer}:order-of-{customer}"))
        .collect();
    let orders: Vec<&str> = orders.iter().map(String::as_str).collect();
    produce(&kafka, "order", &orders);
    wait_for(&kafka, "order_join", customers.len(), &second_log);
    let joined = read(&kafka, "order_join", customers.len());
    for customer in &customers {
        let expected = format!("{customer}:order-of-{customer} send to city-of-{customer}");
        assert!(
            joined.contains(&expected),
            "{expected} missing from {joined:?}"
        );
    }
    stop(first, &first_log);
    stop(second, &second_log);
}

#[test]
fn kstream_join_globalktable_joins_topics_of_different_partition_counts() {
    let kafka = TestKafka::start().expect("broker");
    kafka.create_topic("address_v2", 2).expect("topic");
    kafka.create_topic("order", 3).expect("topic");
    kafka.create_topic("order_join", 3).expect("topic");
    produce(&kafka, "address_v2", &["gildong:Busan", "jihun:Seoul"]);
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("global.log");
    let example = spawn_example("kstream_join_globalktable", &kafka, &log);
    // The global table is loaded whole before any order is processed.
    produce(&kafka, "order", &["gildong:Porsche", "jihun:G-Wagon"]);
    wait_for(&kafka, "order_join", 2, &log);
    assert_eq!(
        read(&kafka, "order_join", 2),
        [
            "gildong:Porsche send to Busan",
            "jihun:G-Wagon send to Seoul"
        ]
    );
    stop(example, &log);
}

#[test]
fn a_join_of_topics_not_co_partitioned_a_task_splitting_assignor_and_a_missing_topic_are_refused() {
    let kafka = TestKafka::start().expect("broker");
    kafka.create_topic("address", 2).expect("topic");
    kafka.create_topic("order", 3).expect("topic");
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("refused.log");
    let mut example = spawn_example("kstream_join_ktable", &kafka, &log);
    let exit = example.0.wait().expect("the example exits by itself");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!exit.success(), "{text}");
    assert!(text.contains("not co-partitioned"), "{text}");
    for named in ["\"address\" (2 partitions)", "\"order\" (3 partitions)"] {
        assert!(text.contains(named), "{named} not in {text}");
    }

    // An assignor that could split a task between members is refused before anything is read.
    let cooperative_log = dir.path().join("cooperative.log");
    let mut cooperative = spawn_example_with(
        "kstream_join_ktable",
        &kafka,
        &cooperative_log,
        &["-X", "partition.assignment.strategy=cooperative-sticky"],
    );
    let exit = cooperative.0.wait().expect("the example exits by itself");
    let text = std::fs::read_to_string(&cooperative_log).unwrap_or_default();
    assert!(!exit.success(), "{text}");
    assert!(
        text.contains("partition.assignment.strategy = \"cooperative-sticky\" cannot keep a task's partitions together"),
        "{text}"
    );

    let missing_log = dir.path().join("missing.log");
    let mut copy = spawn_example("stream_copy", &kafka, &missing_log);
    let exit = copy.0.wait().expect("the example exits by itself");
    let text = std::fs::read_to_string(&missing_log).unwrap_or_default();
    assert!(!exit.success(), "{text}");
    assert!(
        text.contains("topic \"stream_log\" does not exist"),
        "{text}"
    );
}

/// Runs the stream–table join over a backlog produced before it starts: `(topic, key:value,
/// timestamp)` in production order, timestamps in milliseconds after a common start. Returns
/// `order_join` once the changelog holds every address update and `order_join` `outputs`
/// records.
fn join_backlog(backlog: &[(&str, &str, i64)], outputs: usize) -> Vec<String> {
    let kafka = TestKafka::start().expect("broker");
    for topic in ["address", "order", "order_join"] {
        kafka.create_topic(topic, 3).expect("topic");
    }
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    for (topic, pair, timestamp) in backlog {
        let (key, value) = pair.split_once(':').expect("key:value");
        let record = (
            (Some(key.as_bytes()), Some(value.as_bytes())),
            start + timestamp,
        );
        kafka.produce_keyed_at(topic, &[record]).expect("produce");
    }
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("ordered.log");
    let example = spawn_example("kstream_join_ktable", &kafka, &log);
    let updates = backlog.iter().filter(|(topic, ..)| *topic == "address");
    wait_for(&kafka, CHANGELOG, updates.count(), &log);
    wait_for(&kafka, "order_join", outputs, &log);
    let joined = read(&kafka, "order_join", outputs);
    stop(example, &log);
    joined
}

/// Kafka Streams' rule inside a task: records of the table's and the stream's partitions are
/// taken in timestamp order, whichever the consumer fetches first. The table update newer than
/// the order is applied after the order is joined.
#[test]
fn a_backlog_is_joined_in_timestamp_order_a_newer_update_comes_after_the_order() {
    let backlog = [
        ("address", "jihun:Seoul", 0),
        ("order", "jihun:iPhone", 10),
        ("address", "jihun:LA", 20),
    ];
    assert_eq!(join_backlog(&backlog, 1), ["jihun:iPhone send to Seoul"]);
}

/// An address update older than the order, though produced after it, is applied before the
/// order is joined.
#[test]
fn a_backlog_is_joined_in_timestamp_order_an_older_update_comes_before_the_order() {
    let backlog = [
        ("address", "jihun:Seoul", 0),
        ("order", "jihun:iPhone", 10),
        ("address", "jihun:LA", 5),
    ];
    assert_eq!(join_backlog(&backlog, 1), ["jihun:iPhone send to LA"]);
}
