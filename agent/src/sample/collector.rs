//! [`Collector`]: the OS adapter joined to the pure core.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use ferrobeat_schema::{Event, Metricset};

use crate::collect::cpu::CpuDeltaError;
use crate::collect::{CollectConfig, EventMaker, Identity, Round};
use crate::source::{HostSource, SourceError};

/// Why a round of one metricset produced no events.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The OS could not be read.
    #[error("{metricset}: {source}")]
    Source {
        /// The metricset of the round.
        metricset: Metricset,
        /// What failed.
        source: SourceError,
    },
    /// The cpu counters gave no usable interval.
    #[error("{metricset}: {source}")]
    Cpu {
        /// The metricset of the round (cpu).
        metricset: Metricset,
        /// Why.
        source: CpuDeltaError,
    },
}

/// Rounds, failures and events of each metricset since start; shared with monitoring.
#[derive(Debug, Default)]
pub struct CollectStats {
    counters: [MetricsetCounters; Metricset::ALL.len()],
}

#[derive(Debug, Default)]
struct MetricsetCounters {
    rounds: AtomicU64,
    failures: AtomicU64,
    events: AtomicU64,
}

impl CollectStats {
    fn of(&self, metricset: Metricset) -> &MetricsetCounters {
        // `ALL` lists every variant, so the position always exists.
        let index = Metricset::ALL
            .iter()
            .position(|m| *m == metricset)
            .unwrap_or_default();
        &self.counters[index]
    }

    /// Rounds of `metricset` attempted.
    pub fn rounds(&self, metricset: Metricset) -> u64 {
        self.of(metricset).rounds.load(Ordering::Relaxed)
    }

    /// Rounds of `metricset` that failed.
    pub fn failures(&self, metricset: Metricset) -> u64 {
        self.of(metricset).failures.load(Ordering::Relaxed)
    }

    /// Events `metricset` produced.
    pub fn events(&self, metricset: Metricset) -> u64 {
        self.of(metricset).events.load(Ordering::Relaxed)
    }
}

/// Samples the host: owns the OS adapter and the previous readings. One per process.
#[derive(Debug)]
pub struct Collector {
    config: CollectConfig,
    source: HostSource,
    maker: EventMaker,
    stats: Arc<CollectStats>,
}

impl Collector {
    /// A collector of the real host.
    pub fn new(config: CollectConfig, identity: Identity) -> Self {
        let source = HostSource::for_host(config.filesystem_ignore_types.clone());
        Self::with_source(config, identity, source)
    }

    /// A collector reading through `source` (on Linux, e.g. a recorded `/proc` tree).
    pub fn with_source(config: CollectConfig, identity: Identity, source: HostSource) -> Self {
        Collector {
            maker: EventMaker::new(identity, &config),
            config,
            source,
            stats: Arc::default(),
        }
    }

    /// The configuration it samples by.
    pub fn config(&self) -> &CollectConfig {
        &self.config
    }

    /// Its counters, to read while it runs.
    pub fn stats(&self) -> Arc<CollectStats> {
        Arc::clone(&self.stats)
    }

    /// One round of `metricset` sampled at `now`: reads the OS, returns its events (several
    /// for network, diskio and filesystem; none for a filesystem round without mounts).
    ///
    /// # Errors
    /// [`CollectError`] naming the metricset, the file and the reason.
    pub fn collect(
        &mut self,
        metricset: Metricset,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CollectError> {
        let counters = self.stats.of(metricset);
        counters.rounds.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self
            .source
            .read(metricset)
            .map_err(|source| CollectError::Source { metricset, source })
            .and_then(|snapshot| {
                let round = Round {
                    period: self.config.period_of(metricset),
                    at: now,
                    duration: started.elapsed(),
                };
                self.maker
                    .events(&round, snapshot)
                    .map_err(|source| CollectError::Cpu { metricset, source })
            });
        match &result {
            Ok(events) => counters
                .events
                .fetch_add(events.len() as u64, Ordering::Relaxed),
            Err(_) => counters.failures.fetch_add(1, Ordering::Relaxed),
        };
        result
    }
}
