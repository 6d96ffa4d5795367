//! Any text through every hand-written `/proc` parser of the agent: each must return a value
//! or a `ParseError`, never panic, and an error must name a line within the text.
#![no_main]

use ferrobeat_agent::source::parse::{
    ParseError, parse_diskstats, parse_loadavg, parse_meminfo, parse_mounts, parse_net_dev,
    parse_nodev_types, parse_stat,
};
use libfuzzer_sys::fuzz_target;

fn check<T>(text: &str, result: Result<T, ParseError>) {
    if let Err(error) = result {
        assert!(
            error.line <= text.lines().count().max(1),
            "{error} points past the end of a {}-line text",
            text.lines().count()
        );
        assert!(!error.reason.is_empty());
    }
}

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    check(&text, parse_stat(&text));
    check(&text, parse_meminfo(&text));
    check(&text, parse_loadavg(&text));
    check(&text, parse_net_dev(&text, &mut Vec::new()));
    check(&text, parse_diskstats(&text, &mut Vec::new()));
    check(&text, parse_mounts(&text, &mut Vec::new()));
    let _ = parse_nodev_types(&text);
});
