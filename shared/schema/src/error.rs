//! The one error type of the schema crate.

use std::fmt;

/// Why a record value is not a Metricbeat `system` event.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The JSON is malformed, or a field is missing or of the wrong type.
    #[error("{}: {message}", PathDisplay(path))]
    Json {
        /// Dotted JSON path of the offending field (`.` for the document itself).
        path: String,
        /// What serde_json found wrong there.
        message: String,
    },
}

impl SchemaError {
    pub(crate) fn from_path(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let mut path = err.path().to_string();
        let message = err.into_inner().to_string();
        // serde reports a missing field at its parent; name the field itself.
        if let Some(field) = missing_field(&message) {
            path = if path == "." {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
        }
        SchemaError::Json { path, message }
    }

    pub(crate) fn trailing(err: serde_json::Error) -> Self {
        SchemaError::Json {
            path: ".".to_owned(),
            message: err.to_string(),
        }
    }

    /// The dotted JSON path the error is about (`.` for the whole document).
    pub fn path(&self) -> &str {
        match self {
            SchemaError::Json { path, .. } => path,
        }
    }
}

/// The field name in serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

struct PathDisplay<'a>(&'a str);

impl fmt::Display for PathDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == "." || self.0.is_empty() {
            f.write_str("at the document root")
        } else {
            write!(f, "at `{}`", self.0)
        }
    }
}
