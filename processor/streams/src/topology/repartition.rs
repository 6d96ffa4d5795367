//! The names of a topology's repartition topics: described as `<store>-repartition`, written
//! and read as `<application id>-<store>-repartition` once the application id is known.

use std::sync::Arc;

use super::Topology;

impl Topology {
    /// The repartition topics it writes and reads back (Kafka Streams' internal topics),
    /// by the name records are written to: `<application id>-<name>-repartition` once
    /// [`Topology::for_application`] named them.
    pub fn repartition_topics(&self) -> Vec<&str> {
        self.repartitions
            .iter()
            .map(|(_, actual)| actual.as_str())
            .collect()
    }

    /// The name records of `described` are written to and read from: a topic of
    /// [`Topology::describe`] as it is, a repartition topic with its application id prefix.
    pub fn topic_name<'t>(&'t self, described: &'t str) -> &'t str {
        self.repartitions
            .iter()
            .find(|(name, _)| name == described)
            .map_or(described, |(_, actual)| actual.as_str())
    }

    /// The name of repartition topic `described` (as [`Topology::describe`] shows it) for
    /// application `application_id`, `<application id>-<name>-repartition`; `None` when
    /// `described` is not a repartition topic.
    pub(super) fn repartition_name(&self, described: &str, application_id: &str) -> Option<String> {
        self.repartitions
            .iter()
            .any(|(name, _)| name == described)
            .then(|| repartition_topic(application_id, described))
    }

    /// The same topology with its repartition topics named after `application_id`, as Kafka
    /// Streams names its internal topics: `<application id>-<name>-repartition` (the runtime
    /// and the test driver call it with their application id; calling it again renames them).
    pub fn for_application(&self, application_id: &str) -> Topology {
        if self.repartitions.is_empty() {
            return self.clone();
        }
        let renamed: Vec<(String, String)> = self
            .repartitions
            .iter()
            .map(|(name, actual)| (actual.clone(), repartition_topic(application_id, name)))
            .collect();
        let rename = |topic: &str| {
            renamed
                .iter()
                .find(|(old, _)| old == topic)
                .map_or_else(|| topic.to_owned(), |(_, new)| new.clone())
        };
        Topology {
            sources: self
                .sources
                .iter()
                .map(|(topic, source)| (rename(topic), Arc::clone(source)))
                .collect(),
            sink_names: self
                .sink_names
                .iter()
                .map(|topic| rename(topic).into_boxed_str())
                .collect(),
            repartitions: self
                .repartitions
                .iter()
                .zip(&renamed)
                .map(|((name, _), (_, new))| (name.clone(), new.clone()))
                .collect(),
            ..self.clone()
        }
    }
}

/// The name of repartition topic `described` for application `application_id`.
fn repartition_topic(application_id: &str, described: &str) -> String {
    format!("{application_id}-{described}")
}
