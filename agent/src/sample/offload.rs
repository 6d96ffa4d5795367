//! A metricset collected on a thread of its own: the sampler asks for a round and goes on
//! with the others; the round's outcome comes back on a channel. Used for filesystem, whose
//! `statvfs` calls can hang on a dead network mount.

use std::sync::mpsc as std_mpsc;

use chrono::{DateTime, Utc};
use ferrobeat_schema::Metricset;
use tokio::sync::mpsc;

use super::{Collector, Sampled};

/// The handle of a collector running on its own thread. Dropping it ends the thread once its
/// current round (if any) is done.
#[derive(Debug)]
pub(super) struct Offloaded {
    metricset: Metricset,
    requests: std_mpsc::Sender<DateTime<Utc>>,
    outcomes: mpsc::UnboundedReceiver<Sampled>,
    busy: bool,
}

impl Offloaded {
    /// Moves `collector`, which collects `metricset` only, to a new thread.
    pub(super) fn start(mut collector: Collector, metricset: Metricset) -> std::io::Result<Self> {
        let (requests, inbox) = std_mpsc::channel::<DateTime<Utc>>();
        let (outbox, outcomes) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name(format!("sample-{metricset}"))
            .spawn(move || {
                for at in inbox {
                    if outbox.send(collector.sample(metricset, at)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Offloaded {
            metricset,
            requests,
            outcomes,
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

    /// The outcome of the round asked for; never completes while none is running.
    pub(super) async fn outcome(&mut self) -> Sampled {
        if self.busy
            && let Some(sampled) = self.outcomes.recv().await
        {
            self.busy = false;
            return sampled;
        }
        std::future::pending().await
    }
}
