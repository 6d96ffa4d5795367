//! `[kafka.properties]`: the librdkafka settings both programs pass through to their clients,
//! as text, with secrets hidden from `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer};

use crate::config::Invalid;

/// What `Debug` prints in place of a secret value.
pub const REDACTED: &str = "[redacted]";

/// librdkafka properties by name. TOML strings, integers, floats and booleans are accepted and
/// kept as text (librdkafka takes every value as text). `Debug` prints the values of secret
/// properties ([`is_secret`]) as [`REDACTED`], so a configuration can be logged safely.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties(BTreeMap<String, String>);

/// Whether librdkafka property `name` holds a secret: a password, a key, a token or an
/// OAUTHBEARER configuration.
pub fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.ends_with("password")
        || name.ends_with("secret")
        || name == "sasl.oauthbearer.config"
        || name == "ssl.key.pem"
        || name == "ssl_key"
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, value)| {
                let shown = if is_secret(name) { REDACTED } else { value };
                (name, shown)
            }))
            .finish()
    }
}

impl Deref for KafkaProperties {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for KafkaProperties {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<'a> IntoIterator for &'a KafkaProperties {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<(String, String)> for KafkaProperties {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        KafkaProperties(iter.into_iter().collect())
    }
}

impl<'de> Deserialize<'de> for KafkaProperties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = BTreeMap::<String, PropertyText>::deserialize(deserializer)?;
        Ok(values
            .into_iter()
            .map(|(name, PropertyText(value))| (name, value))
            .collect())
    }
}

impl KafkaProperties {
    /// Refuses a property the program sets itself (`reserved`: name and why it is owned), and,
    /// with the `kafka` feature, one librdkafka does not know or accept.
    ///
    /// # Errors
    /// The first refused property, keyed `kafka.properties."NAME"`.
    pub fn check(&self, reserved: &[(&str, &str)]) -> Result<(), Invalid> {
        for (name, value) in &self.0 {
            let key = format!("kafka.properties.\"{name}\"");
            if let Some((_, reason)) = reserved.iter().find(|(owned, _)| owned == name) {
                return Err(Invalid::new(key, *reason));
            }
            #[cfg(feature = "kafka")]
            {
                let mut probe = rdkafka::ClientConfig::new();
                probe.set(name, value);
                if let Err(error) = probe.create_native_config() {
                    return Err(Invalid::new(key, error.to_string()));
                }
            }
            #[cfg(not(feature = "kafka"))]
            let _ = value;
        }
        Ok(())
    }
}

/// One property value, as text.
struct PropertyText(String);

impl<'de> Deserialize<'de> for PropertyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PropertyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, an integer, a float or a boolean")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<PropertyText, E> {
                Ok(PropertyText(value.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<PropertyText, E> {
                Ok(PropertyText(value.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<PropertyText, E> {
                Ok(PropertyText(value.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<PropertyText, E> {
                Ok(PropertyText(value.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<PropertyText, E> {
                Ok(PropertyText(value.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_every_scalar_type_become_text() {
        let properties: KafkaProperties = serde_json::from_str(
            r#"{"linger.ms": 5, "enable.ssl.certificate.verification": false,
                "socket.timeout.ms": "60000", "retry.backoff.max.ms": 1.5}"#,
        )
        .expect("scalars");
        assert_eq!(properties["linger.ms"], "5");
        assert_eq!(properties["enable.ssl.certificate.verification"], "false");
        assert_eq!(properties["socket.timeout.ms"], "60000");
        assert_eq!(properties["retry.backoff.max.ms"], "1.5");
        let error = serde_json::from_str::<KafkaProperties>(r#"{"a": [1]}"#)
            .expect_err("arrays are refused");
        assert!(
            error.to_string().contains("a string, an integer"),
            "{error}"
        );
    }

    #[test]
    fn debug_hides_secrets_and_shows_the_rest() {
        let properties: KafkaProperties = [
            ("sasl.password", "hunter2"),
            ("ssl.key.password", "hunter3"),
            ("sasl.oauthbearer.client.secret", "hunter4"),
            ("ssl.key.pem", "-----BEGIN PRIVATE KEY-----"),
            ("sasl.username", "alice"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let shown = format!("{properties:?}");
        for secret in ["hunter2", "hunter3", "hunter4", "PRIVATE KEY"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("alice"), "{shown}");
        assert_eq!(shown.matches(REDACTED).count(), 4, "{shown}");
    }
}
