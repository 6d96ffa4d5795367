//! The malformed-input corpus (`tests/corpus/`, see `corpus/mod.rs` for the format) through
//! the metric topology on the test driver: every case is routed as its `.expect` says, bad
//! ones are dead-lettered with their reason, and nothing panics. Plus the cases too big or
//! too odd to keep as files: a null value, 10 MB values, 100 000 levels of nesting.

mod corpus;

use corpus::{Case, Route, load_corpus};
use ferrobeat_processor::config::ErrorsConfig;
use ferrobeat_processor::metric_topology::{MetricTopologyConfig, metric_topology};
use ferrobeat_streams::driver::{TestRecord, TopologyTestDriver};
use ferrobeat_streams::errors::{
    ErrorPolicy, HEADER_EXCEPTION, HEADER_MESSAGE, HEADER_OFFSET, HEADER_TOPIC,
};

/// The topic of each route under the default configuration.
fn topic_of(route: Route) -> &'static str {
    match route {
        Route::Cpu => "metric.cpu",
        Route::Memory => "metric.memory",
        Route::Alert => "metric.cpu.alert",
        Route::Dlq => "metric.dlq",
    }
}

const ROUTES: [Route; 4] = [Route::Cpu, Route::Memory, Route::Alert, Route::Dlq];

fn driver_with(policy: ErrorPolicy) -> TopologyTestDriver {
    TopologyTestDriver::with_error_handling(
        metric_topology(&MetricTopologyConfig::default()),
        ErrorsConfig {
            policy,
            ..ErrorsConfig::default()
        }
        .handling(),
    )
}

/// Pipes one value (`None` = null) into `metric.all` and takes every output, by route.
fn route(driver: &TopologyTestDriver, value: Option<&[u8]>) -> Vec<(Route, TestRecord)> {
    driver
        .create_input_topic("metric.all")
        .pipe_record(TestRecord {
            value: value.map(<[u8]>::to_vec),
            ..TestRecord::default()
        });
    let mut outputs: Vec<(Route, TestRecord)> = ROUTES
        .iter()
        .flat_map(|&route| {
            driver
                .create_output_topic(topic_of(route))
                .read_records_to_list()
                .into_iter()
                .map(move |record| (route, record))
        })
        .collect();
    outputs.sort_by_key(|(route, _)| *route);
    outputs
}

/// What is wrong with how `case` was routed, if anything.
fn check_case(driver: &TopologyTestDriver, case: &Case) -> Result<(), String> {
    let outputs = route(driver, Some(&case.value));
    let routes: Vec<Route> = outputs.iter().map(|(route, _)| *route).collect();
    let mut wanted = case.expect.outputs.clone();
    wanted.sort();
    if routes != wanted {
        let message = outputs
            .iter()
            .find_map(|(_, record)| record.header_string(HEADER_MESSAGE))
            .unwrap_or_default();
        return Err(format!("went to {routes:?}, expected {wanted:?} {message}"));
    }
    for (route, record) in &outputs {
        let value = record.value.as_deref().unwrap_or_default();
        match route {
            Route::Alert => {
                let alert = String::from_utf8_lossy(value);
                if case.expect.alert.as_deref() != Some(&*alert) {
                    return Err(format!("alert {alert}, expected {:?}", case.expect.alert));
                }
            }
            _ if value != case.value => {
                return Err(format!("{route:?} record is not the input bytes unchanged"));
            }
            Route::Dlq => check_dead_letter(record, case.expect.reason.as_deref())?,
            _ => {}
        }
    }
    Ok(())
}

/// The dead letter names the error, its message (containing `reason`) and the source.
fn check_dead_letter(record: &TestRecord, reason: Option<&str>) -> Result<(), String> {
    let message = record.header_string(HEADER_MESSAGE).unwrap_or_default();
    let exception = record.header_string(HEADER_EXCEPTION).unwrap_or_default();
    if exception.is_empty() || message.is_empty() {
        return Err(format!(
            "dead letter without error headers: {:?}",
            record.headers
        ));
    }
    if !message.contains(reason.unwrap_or_default()) {
        return Err(format!("dead letter message {message:?} lacks {reason:?}"));
    }
    if record.header_string(HEADER_TOPIC).as_deref() != Some("metric.all")
        || record.header_string(HEADER_OFFSET).is_none()
    {
        return Err(format!(
            "dead letter without its source: {:?}",
            record.headers
        ));
    }
    Ok(())
}

#[test]
fn corpus_is_large_and_covers_every_route() {
    let cases = load_corpus();
    assert!(cases.len() >= 50, "only {} corpus cases", cases.len());
    for route in ROUTES {
        assert!(
            cases
                .iter()
                .any(|case| case.expect.outputs.contains(&route)),
            "no case goes to {route:?}"
        );
    }
    assert!(cases.iter().any(|case| case.expect.outputs.is_empty()));
}

#[test]
fn every_corpus_case_is_routed_as_expected() {
    let driver = driver_with(ErrorPolicy::DeadLetter);
    let failures: Vec<String> = load_corpus()
        .iter()
        .filter_map(|case| {
            check_case(&driver, case)
                .err()
                .map(|e| format!("{}: {e}", case.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} corpus cases misrouted:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        driver.errors().len(),
        load_corpus()
            .iter()
            .filter(|case| case.expect.outputs.contains(&Route::Dlq))
            .count(),
        "one handled error per dead letter"
    );
}

#[test]
fn other_policies_drop_or_fail_on_exactly_the_dead_letters() {
    let skipping = driver_with(ErrorPolicy::LogAndContinue);
    let failing = driver_with(ErrorPolicy::Fail);
    let failing_input = failing.create_input_topic("metric.all");
    for case in load_corpus() {
        let is_bad = case.expect.outputs.contains(&Route::Dlq);
        let outputs = route(&skipping, Some(&case.value));
        if is_bad {
            assert!(outputs.is_empty(), "{}: {outputs:?}", case.name);
        } else {
            assert_eq!(outputs.len(), case.expect.outputs.len(), "{}", case.name);
        }
        let failed = failing_input
            .try_pipe_record(TestRecord::from_value(&case.value))
            .is_err();
        assert_eq!(failed, is_bad, "{}: fail policy", case.name);
    }
}

#[test]
fn a_null_value_is_dead_lettered() {
    let driver = driver_with(ErrorPolicy::DeadLetter);
    let outputs = route(&driver, None);
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let (route, letter) = &outputs[0];
    assert_eq!(*route, Route::Dlq);
    assert_eq!(letter.value, None, "the tombstone stays a tombstone");
    check_dead_letter(letter, Some("null")).expect("dead letter");
}

const TEN_MB: usize = 10 * 1024 * 1024;

#[test]
fn ten_megabyte_values_are_routed_or_dead_lettered() {
    let driver = driver_with(ErrorPolicy::DeadLetter);
    let filler = "x".repeat(TEN_MB);
    let big_memory = format!(r#"{{"metricset":{{"name":"memory"}},"padding":"{filler}"}}"#);
    let outputs = route(&driver, Some(big_memory.as_bytes()));
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].0, Route::Memory);
    assert!(outputs[0].1.value.as_deref() == Some(big_memory.as_bytes()));

    let hot_cpu_big_host = format!(
        r#"{{"@timestamp":"t","metricset":{{"name":"cpu"}},"system":{{"cpu":{{"total":{{"norm":{{"pct":0.9}}}}}}}},"host":{{"name":"{filler}"}}}}"#
    );
    let outputs = route(&driver, Some(hot_cpu_big_host.as_bytes()));
    let routes: Vec<Route> = outputs.iter().map(|(route, _)| *route).collect();
    assert_eq!(routes, [Route::Cpu, Route::Alert]);
    let alert = outputs[1].1.value.as_deref().expect("alert value");
    assert_eq!(alert.len(), TEN_MB + r#"{"name":"","timestamp":"t"}"#.len());

    let unterminated = format!(r#"{{"metricset":{{"name":"memory"}},"padding":"{filler}"#);
    let outputs = route(&driver, Some(unterminated.as_bytes()));
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].0, Route::Dlq);
    check_dead_letter(&outputs[0].1, Some("EOF")).expect("dead letter");
}

/// Nesting 100 000 deep is valid JSON; the topology skips or copies it without recursing,
/// so it is routed (not refused) and nothing overflows the stack. Note: such an alert is
/// deeper than serde_json (128) or Jackson (1000) readers accept by default.
#[test]
fn extreme_nesting_is_routed_without_overflowing_the_stack() {
    let driver = driver_with(ErrorPolicy::DeadLetter);
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let nested = format!("{}0{}", open.repeat(100_000), close.repeat(100_000));
        for value in [
            format!(r#"{{"metricset":{{"name":"memory"}},"deep":{nested}}}"#),
            format!(r#"{{"metricset":{{"name":"memory","deep":{nested}}}}}"#),
        ] {
            let outputs = route(&driver, Some(value.as_bytes()));
            assert_eq!(outputs.len(), 1, "{open}");
            assert_eq!(outputs[0].0, Route::Memory, "{open}");
        }
        let in_host = format!(
            r#"{{"@timestamp":"t","metricset":{{"name":"cpu"}},"system":{{"cpu":{{"total":{{"norm":{{"pct":0.9}}}}}}}},"host":{{"deep":{nested}}}}}"#
        );
        let outputs = route(&driver, Some(in_host.as_bytes()));
        let routes: Vec<Route> = outputs.iter().map(|(route, _)| *route).collect();
        assert_eq!(routes, [Route::Cpu, Route::Alert], "{open}");
        let alert = outputs[1].1.value_string().expect("alert value");
        assert_eq!(alert, format!(r#"{{"deep":{nested},"timestamp":"t"}}"#));
    }
}

#[test]
fn many_members_and_long_keys_pass_through() {
    let driver = driver_with(ErrorPolicy::DeadLetter);
    let members: String = (0..100_000).map(|i| format!(r#""k{i}":{i},"#)).collect();
    let long_key = "k".repeat(1024 * 1024);
    let wide = format!(r#"{{{members}"{long_key}":null,"metricset":{{"name":"memory"}}}}"#);
    let outputs = route(&driver, Some(wide.as_bytes()));
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].0, Route::Memory);
}
