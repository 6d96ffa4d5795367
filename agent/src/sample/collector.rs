//! [`Collector`]: the OS adapter joined to the pure core.

use std::time::{Duration, Instant};

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

/// One round of one metricset, as the sampler reports it to monitoring.
#[derive(Debug)]
pub struct Sampled {
    /// The metricset.
    pub metricset: Metricset,
    /// How long reading the system took (the events' `event.duration`).
    pub duration: Duration,
    /// The round's events (several for network, diskio and filesystem; none for a
    /// filesystem round without mounts), or why there are none.
    pub result: Result<Vec<Event>, CollectError>,
}

/// Samples the host: owns the OS adapter and the previous readings.
#[derive(Debug)]
pub struct Collector {
    config: CollectConfig,
    source: HostSource,
    maker: EventMaker,
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
        }
    }

    /// The configuration it samples by.
    pub fn config(&self) -> &CollectConfig {
        &self.config
    }

    /// Takes `metricset` out of this collector into a collector of its own (same identity,
    /// configuration and adapter settings, a new adapter), to run on another thread; `None`
    /// when `metricset` is not enabled.
    pub fn split_off(&mut self, metricset: Metricset) -> Option<Collector> {
        if !self.config.metricsets.contains(&metricset) {
            return None;
        }
        self.config.metricsets.retain(|m| *m != metricset);
        let config = CollectConfig {
            metricsets: vec![metricset],
            ..self.config.clone()
        };
        let identity = self.maker.identity().clone();
        Some(Collector::with_source(
            config,
            identity,
            self.source.sibling(),
        ))
    }

    /// One round of `metricset` sampled at `now`: reads the OS and turns the reading into
    /// events, timing the reading.
    pub fn sample(&mut self, metricset: Metricset, now: DateTime<Utc>) -> Sampled {
        let started = Instant::now();
        let snapshot = self.source.read(metricset);
        let duration = started.elapsed();
        let result = snapshot
            .map_err(|source| CollectError::Source { metricset, source })
            .and_then(|snapshot| {
                let round = Round {
                    period: self.config.period_of(metricset),
                    at: now,
                    duration,
                };
                self.maker
                    .events(&round, snapshot)
                    .map_err(|source| CollectError::Cpu { metricset, source })
            });
        Sampled {
            metricset,
            duration,
            result,
        }
    }

    /// The events of one round of `metricset` sampled at `now` (see [`Collector::sample`]).
    ///
    /// # Errors
    /// [`CollectError`] naming the metricset, the file and the reason.
    pub fn collect(
        &mut self,
        metricset: Metricset,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, CollectError> {
        self.sample(metricset, now).result
    }
}
