//! Compacting already-valid JSON text without re-parsing it: whitespace outside strings goes,
//! everything else (member order, number spelling, escapes) stays byte for byte.

use std::borrow::Cow;

/// Whether `byte` is JSON insignificant whitespace.
fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// The compact form of `json`, which must be valid JSON (e.g. a `serde_json::value::RawValue`);
/// borrowed when it is compact already.
pub(crate) fn minify_json(json: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &byte) in json.iter().enumerate() {
        let keep = if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            true
        } else {
            in_string = byte == b'"';
            !is_json_whitespace(byte)
        };
        match (&mut out, keep) {
            (Some(out), true) => out.push(byte),
            (None, false) => out = Some(json[..i].to_vec()),
            _ => {}
        }
    }
    out.map_or(Cow::Borrowed(json), Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_input_is_borrowed() {
        let json = br#"{"a":[1,2],"b":"x y"}"#;
        assert!(matches!(minify_json(json), Cow::Borrowed(b) if b == json));
    }

    #[test]
    fn whitespace_goes_except_in_strings() {
        let json = b"{\n  \"a b\" : [ 1 , 2.50e3 ],\r\n\t\"c\\\" d\": \"e\\\\\" , \"f\":{ } }";
        assert_eq!(
            std::str::from_utf8(&minify_json(json)).ok(),
            Some(r#"{"a b":[1,2.50e3],"c\" d":"e\\","f":{}}"#)
        );
    }
}
