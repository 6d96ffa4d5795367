//! The state section: a stream–table join draining a backlog of orders against a table of
//! customers' addresses, and a store restored from a preloaded changelog.
//!
//! Both run in this process through the public `ferrobeat_streams::runtime::StreamsRuntime`
//! API, not as a child: the restore is timed by a `StateRestoreListener`, a hook only an
//! in-process runtime offers, and the join gets exactly the runtime settings the processor's
//! stateless drain runs with (the defaults and `--runtime`), where the `kstream_join_ktable`
//! example fixes its own commit interval. The join's records/s are taken as the stateless
//! drain's are (an independent consumer, the last nine tenths of the outputs), so their ratio
//! compares like with like; CPU and RSS are not, since they would include the bench's own work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use ferrobeat_streams::config::{RuntimeConfig, StreamsConfig};
use ferrobeat_streams::runtime::{ClientState, StateRestoreListener, StreamsRuntime};
use ferrobeat_streams::serdes::{Nullable, Utf8};
use ferrobeat_streams::state::changelog_topic;
use ferrobeat_streams::{StreamsBuilder, Topology};
use ferrobeat_tests::TestKafka;
use rdkafka::Offset;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

use crate::drain::OutputWatch;
use crate::restore_timer::{Restore, RestoreTimer};
use crate::{DRAIN_QUIET, DRAIN_TIMEOUT, PARTITIONS, Settings, send};

/// How long a runtime may take to load a table, restore a store or close.
const STATE_TIMEOUT: Duration = Duration::from_secs(300);

/// Versions of each key in the preloaded changelog.
const CHANGELOG_VERSIONS: usize = 10;

/// Orders probed through the restored store to check what it holds.
const RESTORE_PROBES: usize = 30;

/// How many records each part of the section uses, scaled by `--records`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StateSizes {
    /// Orders (stream records) the join drains: `--records`.
    pub(crate) orders: usize,
    /// Keys of the table the orders are joined with: a twentieth of `--records` (10 000 by
    /// default).
    pub(crate) table_keys: usize,
    /// Records of the changelog restored: half of `--records` (100 000 by default), over
    /// [`StateSizes::changelog_keys`] keys, [`CHANGELOG_VERSIONS`] versions each.
    pub(crate) changelog_records: usize,
    /// Distinct keys of that changelog.
    pub(crate) changelog_keys: usize,
}

impl StateSizes {
    /// The sizes for `--records records`.
    pub(crate) fn scaled(records: usize) -> StateSizes {
        let changelog_keys = (records / 2 / CHANGELOG_VERSIONS).max(1);
        StateSizes {
            orders: records.max(1),
            table_keys: (records / 20).max(1),
            changelog_records: changelog_keys * CHANGELOG_VERSIONS,
            changelog_keys,
        }
    }
}

/// The join's drain of the orders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct JoinDrain {
    /// Joined outputs that arrived.
    pub(crate) outputs: usize,
    /// Outputs expected: one per order (every order's key is in the table).
    pub(crate) expected_outputs: usize,
    /// Orders per second over the last nine tenths of the outputs.
    pub(crate) records_per_second: f64,
    /// Seconds from the first tenth of the outputs to the last.
    pub(crate) seconds: f64,
    /// Seconds the first run took to load the table from its topic (start and group join
    /// included).
    pub(crate) table_load_seconds: f64,
    /// The second run's restore of the table from its changelog, before the orders.
    pub(crate) table_restore: Restore,
}

/// Everything the state section measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StateFigures {
    /// How many records each part used.
    pub(crate) sizes: StateSizes,
    /// The stream–table join.
    pub(crate) join: JoinDrain,
    /// The restore of the preloaded changelog.
    pub(crate) restore: Restore,
}

/// How the state section's runtimes reach the broker and run.
#[derive(Debug)]
pub(crate) struct StateBench<'a> {
    /// The broker.
    pub(crate) kafka: &'a TestKafka,
    /// librdkafka properties, as the processor's drain gets them.
    pub(crate) properties: &'a Settings,
    /// `[runtime]` settings, as the processor's drain gets them (TOML values).
    pub(crate) runtime: &'a Settings,
}

/// The topics of one join topology.
#[derive(Debug)]
struct JoinTopics {
    table: String,
    orders: String,
    output: String,
}

impl JoinTopics {
    /// Creates a fresh set named after `prefix`.
    fn create(kafka: &TestKafka, prefix: &str) -> anyhow::Result<JoinTopics> {
        let name = |role: &str| kafka.unique_topic(&format!("{prefix}-{role}"));
        let topics = JoinTopics {
            table: name("address"),
            orders: name("order"),
            output: name("order-join"),
        };
        for topic in [&topics.table, &topics.orders, &topics.output] {
            kafka.create_topic(topic, PARTITIONS)?;
        }
        Ok(topics)
    }

    /// The `kstream_join_ktable` example's topology on these topics, and its store's name.
    fn topology(&self) -> anyhow::Result<(Topology, String)> {
        let builder = StreamsBuilder::new();
        let address = builder.table::<Nullable<Utf8>, Utf8>(&self.table);
        let store = address.store_name().to_owned();
        builder
            .stream::<Nullable<Utf8>, Utf8>(&self.orders)
            .join(&address, |order, address| {
                format!("{order} send to {address}")
            })
            .to(&self.output);
        Ok((
            builder.build().context("building the join topology")?,
            store,
        ))
    }
}

/// The key of customer `index` (15 bytes below a million customers).
fn customer(index: usize) -> String {
    format!("customer-{index:06}")
}

/// Customer `index`'s address, version `version`: about 55 bytes.
fn address(index: usize, version: usize) -> String {
    format!(
        "{} Teheran-ro {}-gil, Gangnam-gu, Seoul {:05}, KR (v{version})",
        index % 997 + 1,
        index % 89 + 1,
        index % 100_000
    )
}

/// Order `index`, for a customer of a table of `keys` keys (spread evenly over them): its
/// 15-byte key and 31-byte value.
fn order(index: usize, keys: usize) -> (String, String) {
    // 7919 is prime: index → index × 7919 mod keys visits every key once per `keys` orders
    // unless `keys` is a multiple of it.
    let key = customer(index.wrapping_mul(7919) % keys);
    let value = format!(
        "order {index:09}: {} x item {:05}",
        index % 5 + 1,
        index % 20_011
    );
    (key, value)
}

/// Produces `records` (key, value) to `topic` in full batches.
fn preload(kafka: &TestKafka, topic: &str, records: &[(String, String)]) -> anyhow::Result<()> {
    send::preload(
        &kafka.client_config(),
        topic,
        records
            .iter()
            .map(|(key, value)| (Some(key.as_bytes()), value.as_bytes(), None)),
    )
}

impl StateBench<'_> {
    /// Measures the join, then the restore.
    pub(crate) fn measure(&self, sizes: StateSizes) -> anyhow::Result<StateFigures> {
        eprintln!(
            "stream–table join: {} orders against {} keys…",
            sizes.orders, sizes.table_keys
        );
        let join = self
            .join(sizes)
            .context("measuring the stream–table join")?;
        eprintln!(
            "restore: {} changelog records over {} keys…",
            sizes.changelog_records, sizes.changelog_keys
        );
        let restore = self.restore(sizes).context("measuring the restore")?;
        Ok(StateFigures {
            sizes,
            join,
            restore,
        })
    }

    /// Starts `topology` as `application_id`, telling `listener` about its restores.
    fn start(
        &self,
        topology: Topology,
        application_id: &str,
        listener: &Arc<RestoreTimer>,
    ) -> anyhow::Result<StreamsRuntime> {
        let config = streams_config(
            self.kafka.bootstrap_servers(),
            application_id,
            self.properties,
            self.runtime,
        )?;
        let runtime = StreamsRuntime::new(topology, config);
        runtime.set_restore_listener(Arc::clone(listener) as Arc<dyn StateRestoreListener>);
        runtime
            .start()
            .with_context(|| format!("starting {application_id}"))?;
        Ok(runtime)
    }

    /// The table is loaded from its topic by a first run, which stops; the orders are
    /// preloaded; a second run restores the table from its changelog and drains them. Every
    /// order then finds its customer: the runtime takes the records of a task's table and
    /// stream partitions in the order the consumer delivers them, so a table loaded alongside
    /// the orders would leave early orders unmatched.
    fn join(&self, sizes: StateSizes) -> anyhow::Result<JoinDrain> {
        let kafka = self.kafka;
        let topics = JoinTopics::create(kafka, "bench-join")?;
        let application_id = kafka.unique_topic("bench-join");
        let table: Vec<(String, String)> = (0..sizes.table_keys)
            .map(|index| (customer(index), address(index, 0)))
            .collect();
        preload(kafka, &topics.table, &table)?;

        let (topology, _) = topics.topology()?;
        // A new application: its changelog is empty, its restore has nothing to time.
        let load_timer = Arc::new(RestoreTimer::default());
        let loading = Instant::now();
        let runtime = self.start(topology, &application_id, &load_timer)?;
        let loaded = wait_for_stats(&runtime, sizes.table_keys as u64);
        let table_load_seconds = loading.elapsed().as_secs_f64();
        close(&runtime, "the table's first run")?;
        loaded.context("loading the table")?;

        let orders: Vec<(String, String)> = (0..sizes.orders)
            .map(|index| order(index, sizes.table_keys))
            .collect();
        preload(kafka, &topics.orders, &orders)?;
        drop(orders);

        let mut watch = OutputWatch::new(kafka, &[&topics.output], PARTITIONS, Offset::Beginning)?;
        let (topology, _) = topics.topology()?;
        let restore_timer = Arc::new(RestoreTimer::default());
        let runtime = self.start(topology, &application_id, &restore_timer)?;
        let arrivals = watch.wait_for(sizes.orders, DRAIN_QUIET, DRAIN_TIMEOUT);
        let table_restore = restore_timer.finished(PARTITIONS as usize, Duration::ZERO);
        close(&runtime, "the join's second run")?;
        let arrivals = arrivals.context("waiting for the joined orders")?;
        let table_restore = table_restore.context("the table's restore")?;
        ensure!(
            table_restore.records == sizes.table_keys as u64,
            "the second run restored {} of the table's {} records from its changelog",
            table_restore.records,
            sizes.table_keys
        );
        Ok(JoinDrain {
            outputs: arrivals.records,
            expected_outputs: sizes.orders,
            records_per_second: arrivals.rate(sizes.orders),
            seconds: arrivals.last.duration_since(arrivals.tenth).as_secs_f64(),
            table_load_seconds,
            table_restore,
        })
    }

    /// A fresh application starts with an empty store over a preloaded changelog; its restore
    /// listener times the restore, and probe orders check that the store holds each key's last
    /// version.
    fn restore(&self, sizes: StateSizes) -> anyhow::Result<Restore> {
        let kafka = self.kafka;
        let topics = JoinTopics::create(kafka, "bench-restore")?;
        let application_id = kafka.unique_topic("bench-restore");
        let (topology, store) = topics.topology()?;
        let changelog = changelog_topic(&application_id, &store);
        create_compacted_topic(kafka, &changelog, PARTITIONS)?;
        // Each key's versions in order, the last one last: what the store would have written.
        let records: Vec<(String, String)> = (0..CHANGELOG_VERSIONS)
            .flat_map(|version| {
                (0..sizes.changelog_keys)
                    .map(move |index| (customer(index), address(index, version)))
            })
            .collect();
        preload(kafka, &changelog, &records)?;
        drop(records);

        let timer = Arc::new(RestoreTimer::default());
        let runtime = self.start(topology, &application_id, &timer)?;
        let restored = timer
            .finished(PARTITIONS as usize, STATE_TIMEOUT)
            .and_then(|restore| {
                probe_restored_store(kafka, &topics, sizes.changelog_keys)?;
                Ok(restore)
            });
        close(&runtime, "the restore's run")?;
        let restore = restored?;
        ensure!(
            restore.records == sizes.changelog_records as u64,
            "restored {} of the changelog's {} records",
            restore.records,
            sizes.changelog_records
        );
        Ok(restore)
    }
}

/// Sends [`RESTORE_PROBES`] orders for keys spread over the restored store's `keys` and checks
/// that each is joined with its key's last version.
fn probe_restored_store(kafka: &TestKafka, topics: &JoinTopics, keys: usize) -> anyhow::Result<()> {
    let probes = RESTORE_PROBES.min(keys);
    let orders: Vec<(String, String)> = (0..probes)
        .map(|probe| {
            let index = probe * keys / probes;
            (customer(index), format!("probe {index}"))
        })
        .collect();
    preload(kafka, &topics.orders, &orders)?;
    let joined = kafka.read_topic(&topics.output, probes, Duration::from_secs(60))?;
    let mut values: Vec<String> = joined
        .iter()
        .filter_map(|record| String::from_utf8(record.value.clone()?).ok())
        .collect();
    values.sort();
    values.dedup();
    let mut expected: Vec<String> = (0..probes)
        .map(|probe| {
            let index = probe * keys / probes;
            format!(
                "probe {index} send to {}",
                address(index, CHANGELOG_VERSIONS - 1)
            )
        })
        .collect();
    expected.sort();
    if values != expected {
        bail!("probe orders through the restored store gave {values:?}, expected {expected:?}");
    }
    Ok(())
}

/// Creates `name` with `partitions` partitions and `cleanup.policy=compact`, as the runtime
/// creates a changelog topic, and waits until it shows in the metadata.
fn create_compacted_topic(kafka: &TestKafka, name: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka
        .client_config()
        .create()
        .context("creating the admin client")?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a tokio runtime for the admin call")?
        .block_on(admin.create_topics([&topic], &options))
        .with_context(|| format!("creating topic {name}"))?;
    for result in results {
        if let Err((topic, code)) = result {
            bail!("creating topic {topic}: {code}");
        }
    }
    // It exists now: this only waits for its partitions to show.
    kafka.create_topic(name, partitions)
}

/// A streams runtime's configuration for `application_id` on `bootstrap_servers`, with the
/// processor drain's settings: librdkafka `properties` and `[runtime]` settings (TOML values).
pub(crate) fn streams_config(
    bootstrap_servers: &str,
    application_id: &str,
    properties: &Settings,
    runtime: &Settings,
) -> anyhow::Result<StreamsConfig> {
    let mut config = StreamsConfig::new(bootstrap_servers, application_id);
    config.kafka.properties.extend(properties.iter().cloned());
    let runtime: String = runtime
        .iter()
        .map(|(key, value)| format!("{key} = {value}\n"))
        .collect();
    config.runtime = toml::from_str::<RuntimeConfig>(&runtime)
        .context("reading the --runtime settings as the streams runtime's")?;
    Ok(config)
}

/// Waits until `runtime` has processed `records` records and the brokers acknowledged as many
/// outputs (a table record's output is its changelog write).
fn wait_for_stats(runtime: &StreamsRuntime, records: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + STATE_TIMEOUT;
    loop {
        let stats = runtime.stats();
        if stats.records_processed >= records && stats.outputs_acknowledged >= records {
            return Ok(());
        }
        if Instant::now() > deadline || runtime.state().is_terminal() {
            bail!(
                "{} of {records} records processed, {} outputs acknowledged, in state {} after \
                 {STATE_TIMEOUT:?}",
                stats.records_processed,
                stats.outputs_acknowledged,
                runtime.state()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Closes `runtime` (`what`, for the error) and checks that it stopped cleanly.
pub(crate) fn close(runtime: &StreamsRuntime, what: &str) -> anyhow::Result<()> {
    let state = runtime.close(Duration::from_secs(60));
    ensure!(
        state == ClientState::NotRunning,
        "{what} stopped in state {state}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_scale_with_the_records_and_keep_the_issue_defaults() {
        assert_eq!(
            StateSizes::scaled(200_000),
            StateSizes {
                orders: 200_000,
                table_keys: 10_000,
                changelog_records: 100_000,
                changelog_keys: 10_000,
            }
        );
        let tiny = StateSizes::scaled(3);
        assert_eq!((tiny.table_keys, tiny.changelog_keys), (1, 1));
        assert_eq!(tiny.changelog_records, CHANGELOG_VERSIONS);
    }

    #[test]
    fn orders_visit_every_key_of_the_table() {
        let keys = 10_000;
        let mut seen: Vec<String> = (0..keys).map(|index| order(index, keys).0).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), keys);
        assert_eq!(seen.first(), Some(&customer(0)));
        assert_eq!(seen.last(), Some(&customer(keys - 1)));
    }
}
