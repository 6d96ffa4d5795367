//! `system.load` from the kernel's load averages.

use ferrobeat_schema::metricsets::{Load, LoadAverages};
use ferrobeat_schema::numeric::round4;

use crate::snapshot::LoadSnapshot;

/// The load document: averages rounded to 4 decimals, `norm` = average / cores, as Metricbeat.
pub fn load(snapshot: &LoadSnapshot) -> Load {
    let divided = |value: f64| {
        if snapshot.cores == 0 {
            0.0
        } else {
            round4(value / f64::from(snapshot.cores))
        }
    };
    Load {
        averages: LoadAverages {
            one: round4(snapshot.one),
            five: round4(snapshot.five),
            fifteen: round4(snapshot.fifteen),
        },
        norm: LoadAverages {
            one: divided(snapshot.one),
            five: divided(snapshot.five),
            fifteen: divided(snapshot.fifteen),
        },
        cores: snapshot.cores,
    }
}
