//! The scan held to serde_json's reading: the corpus, real documents, grammar corners, mutations.

use std::path::Path;

use super::super::event::parse_envelope;
use super::super::minify::minify_json;
use super::*;

/// Whether the scan read `raw`; when it did, it read what serde_json reads.
fn scanned_alike(raw: &[u8]) -> bool {
    let Some(fast) = scan(raw) else {
        return false;
    };
    if fast.host_compact {
        let host = fast.host.unwrap_or_default().as_bytes();
        assert!(matches!(minify_json(host), Cow::Borrowed(_)), "{fast:?}");
    }
    // serde_json's reading does not know whether `host` is compact.
    let fast = Fields {
        host_compact: false,
        ..fast
    };
    assert_eq!(
        Ok(&fast),
        parse_envelope(raw).as_ref().map_err(|e| &e.message),
        "{}",
        String::from_utf8_lossy(raw)
    );
    true
}

/// The `.json` files of a directory of the repository, by name.
fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("test files")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_stem().expect("file name").to_string_lossy();
            (name.into_owned(), std::fs::read(&path).expect("test file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_malformed_corpus_record_is_left_to_serde_json_and_the_others_read_alike() {
    // Valid, but left to serde_json on purpose: escaped keys, nesting deeper than 64.
    let left = [
        "ok-depth-128",
        "ok-depth-129-in-skipped-member",
        "ok-escaped-keys-and-name",
    ];
    let corpus = files("tests/corpus");
    assert!(corpus.len() >= 50);
    for (name, raw) in corpus {
        let valid = parse_envelope(&raw).is_ok();
        assert_eq!(
            scanned_alike(&raw),
            valid && !left.contains(&name.as_str()),
            "{name}"
        );
    }
}

#[test]
fn real_documents_take_the_fast_path() {
    let documents = files("../shared/schema/tests/documents");
    assert!(documents.len() >= 6);
    for (name, raw) in documents {
        assert!(scanned_alike(&raw), "{name}");
    }
}

#[test]
fn grammar_corners_are_refused_or_read_as_serde_json_does() {
    let event = |rest: &str| format!(r#"{{"metricset":{{"name":"cpu"}}{rest}}}"#);
    for (rest, fast) in [
        (
            r#","a":[1,2.5e-3,-0,true,false,null,{},[],"\u00e9\n"]"#,
            true,
        ),
        (r#" , "a" : { "b" : [ ] , "c" : "" } "#, true),
        (r#","host":null,"system":null,"@timestamp":null"#, true),
        (r#","system":{"cpu":null}"#, true),
        (
            r#","system":{"cpu":{"total":{"norm":null,"pct":1},"cores":4}}"#,
            true,
        ),
        (r#","system":{"cpu":{"total":{"norm":{"pct":5e-1}}}}"#, true),
        (r#","host":[1,{"a":"b"}],"@timestamp":"t""#, true),
        (",\"a\":\"\u{e9}\u{1F600}\"", true),
        ("\n,\"a\":\"\\ud800\"\r\n", true),
        (",\"a\":\"\u{7f}\"", true),
        (",\"a\":\"\u{ff}\"", true),
        (",\"a\":\"\x01\"", false),
        (",\"a\x01\":1", false),
        (r#","a":[1,]"#, false),
        (r#","a":{"b":1,}"#, false),
        (r#","a":{,}"#, false),
        (r#","a":{"b"}"#, false),
        (r#","a":{"b":}"#, false),
        (r#","a":{1:2}"#, false),
        (r#","a":[1 2]"#, false),
        (r#","a":[1}"#, false),
        (r#","a":{"b":1]"#, false),
        (r#","a":01"#, false),
        (r#","a":-01"#, false),
        (r#","a":1."#, false),
        (r#","a":.5"#, false),
        (r#","a":1e"#, false),
        (r#","a":1e+"#, false),
        (r#","a":+1"#, false),
        (r#","a":-"#, false),
        (r#","a":tru"#, false),
        (r#","a":nul"#, false),
        (r#","a":"\x""#, false),
        (r#","a":"\u12G4""#, false),
        (r#","a":"\u12""#, false),
        (r#","a":"abc"#, false),
        (r#","system":{"cpu":{"cores":1e400}}"#, false),
        (r#","system":{"cpu":{"cores":"4"}}"#, false),
        (r#","system":{"cpu":{"cores":4,"cores":4}}"#, false),
        (r#","system":{"cpu":[]}"#, false),
        (r#","@timestamp":"t\u0031""#, false),
        (r#","@timestamp":1"#, false),
        (",\"host\":{\"a\":\"\u{ff}\"}", true),
        (",\"host\":{\"a\":\"\\u00ff\"}", true),
    ] {
        let raw = event(rest);
        assert_eq!(scanned_alike(raw.as_bytes()), fast, "{raw}");
    }
}

#[test]
fn invalid_utf8_is_read_only_where_serde_json_checks_it() {
    let skipped = b"{\"agent\":\"\xff\",\"metricset\":{\"name\":\"memory\"}}";
    assert!(scanned_alike(skipped));
    for read in [
        b"{\"metricset\":{\"name\":\"\xff\"}}".as_slice(),
        b"{\"metricset\":{\"name\":\"m\"},\"host\":{\"a\":\"\xff\"}}",
    ] {
        assert!(scan(read).is_none());
        assert!(parse_envelope(read).is_err());
    }
}

#[test]
fn keys_of_read_objects_are_checked_for_utf8_wherever_the_odd_byte_sits() {
    // Keys of up to 20 bytes with one non-ASCII character at each place: in the first word of
    // the key, across words, in the tail the word loop leaves to the byte loop.
    for length in 1..20 {
        for at in 0..length {
            let mut key = vec![b'k'; length];
            for (character, valid) in [(&b"\xc3\xa9"[..], true), (b"\xff", false)] {
                key.splice(at..=at, character.iter().copied());
                let raw = [
                    b"{\"metricset\":{\"name\":\"m\"},\"".as_slice(),
                    &key,
                    b"\":1}",
                ]
                .concat();
                assert_eq!(scanned_alike(&raw), valid, "{key:?}");
                assert_eq!(parse_envelope(&raw).is_ok(), valid, "{key:?}");
                key = vec![b'k'; length];
            }
        }
    }
}

#[test]
fn nesting_beyond_the_scan_depth_is_left_to_serde_json() {
    let nested = |depth| {
        format!(
            r#"{{"metricset":{{"name":"m"}},"a":{}0{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    assert!(scanned_alike(nested(MAX_DEPTH as usize).as_bytes()));
    assert!(!scanned_alike(nested(MAX_DEPTH as usize + 1).as_bytes()));
    assert!(parse_envelope(nested(10_000).as_bytes()).is_ok());
}

#[test]
fn mutated_documents_are_refused_or_read_as_serde_json_does() {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut random = move |below: usize| {
        // xorshift64*: deterministic, so a failure replays.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % below
    };
    let alphabet = b"{}[]\",:\\ 0123456789-+.eEnulltruefalse\t\n\x01\x1f\x7f\xc3\xa9\xff/u";
    let (mut read, mut total) = (0, 0);
    for (_, document) in files("../shared/schema/tests/documents") {
        for _ in 0..3_000 {
            let mut raw = document.clone();
            for _ in 0..=random(3) {
                let at = random(raw.len());
                let byte = alphabet[random(alphabet.len())];
                match random(3) {
                    0 => raw[at] = byte,
                    1 => raw.insert(at, byte),
                    _ => {
                        raw.remove(at);
                    }
                }
            }
            total += 1;
            read += usize::from(scanned_alike(&raw));
        }
    }
    // Both kinds occur: mutations inside strings keep documents valid.
    assert!(read > total / 20 && read < total, "{read} of {total} read");
}

#[test]
fn short_decimals_are_read_bit_for_bit_as_serde_json_reads_them() {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut random = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    };
    let mut numbers: Vec<String> = [
        "0",
        "-0",
        "0.0",
        "-0.0",
        "1",
        "-1",
        "0.1",
        "0.30000000000000004",
        "0.6125",
        "9007199254740993",
        "18446744073709551615",
        "9999999999999999999",
        "1234567890.123456789",
        "-922337203685477580",
        "0.0000000000000000001",
        "4.35",
        "99120331",
    ]
    .iter()
    .map(|number| (*number).to_owned())
    .collect();
    for _ in 0..200_000 {
        let bits = random();
        let digits = (bits % 19 + 1) as usize;
        let significand = (random() % 10u64.pow(digits as u32)).to_string();
        let decimals = (bits >> 8) as usize % (significand.len() + 1);
        let (whole, fraction) = significand.split_at(significand.len() - decimals);
        let whole = if whole.is_empty() { "0" } else { whole };
        let sign = if bits >> 16 & 1 == 1 { "-" } else { "" };
        numbers.push(if fraction.is_empty() {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}.{fraction}")
        });
    }
    for number in &numbers {
        let serde: f64 = serde_json::from_str(number).expect(number);
        match short_decimal(number.as_bytes()) {
            Some(short) => assert_eq!(short.to_bits(), serde.to_bits(), "{number}"),
            // Only numbers of more than 19 bytes after the sign are left to serde_json.
            None => assert!(number.trim_start_matches('-').len() > 19, "{number}"),
        }
    }
    for left in [
        "1e5",
        "1.5E-3",
        "12345678901234567890",
        "1.2345678901234567890",
    ] {
        assert_eq!(short_decimal(left.as_bytes()), None, "{left}");
    }
}
