//! A metricset collected on a thread of its own: the sampler asks for a round and goes on
//! with the others; the round's outcome comes back to the sampler's inbox. Used for
//! filesystem, whose `statvfs` calls can hang on a dead network mount.

use std::sync::mpsc;

use chrono::{DateTime, Utc};
use ferrobeat_schema::Metricset;

use super::Collector;
use super::inbox::Poster;
use super::sampler::Wake;

/// The handle of a collector running on its own thread. Dropping it ends the thread once its
/// current round (if any) is done.
#[derive(Debug)]
pub(super) struct Offloaded {
    metricset: Metricset,
    requests: mpsc::Sender<DateTime<Utc>>,
    busy: bool,
}

impl Offloaded {
    /// Moves `collector`, which collects `metricset` only, to a new thread that sends each
    /// round's outcome to `outcomes`.
    pub(super) fn start(
        mut collector: Collector,
        metricset: Metricset,
        outcomes: Poster<Wake>,
    ) -> std::io::Result<Self> {
        let (requests, inbox) = mpsc::channel::<DateTime<Utc>>();
        std::thread::Builder::new()
            .name(format!("sample-{metricset}"))
            .spawn(move || {
                for at in inbox {
                    let sampled = collector.sample(metricset, at);
                    outcomes.post(Wake::Sampled(sampled));
                }
            })?;
        Ok(Offloaded {
            metricset,
            requests,
            busy: false,
        })
    }

    /// The metricset it collects.
    pub(super) fn metricset(&self) -> Metricset {
        self.metricset
    }

    /// Asks for a round sampled at `at`; `false` (and nothing asked) while the previous
    /// round is still running or the thread is gone.
    pub(super) fn request(&mut self, at: DateTime<Utc>) -> bool {
        if self.busy {
            return false;
        }
        self.busy = self.requests.send(at).is_ok();
        self.busy
    }

    /// The round asked for came back: the next may be asked for.
    pub(super) fn done(&mut self) {
        self.busy = false;
    }
}
