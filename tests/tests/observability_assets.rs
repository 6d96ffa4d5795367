//! The Prometheus rules and Grafana dashboards in `packaging/` name only what the programs
//! serve: both binaries run on the test broker with their endpoint, and every series (and
//! label) in the rules' expressions and the dashboards' PromQL must be in their scrapes, read as
//! Prometheus reads them (OpenMetrics: a counter family `x` is queried as `x_total`, a
//! histogram as `x_bucket`, `x_sum`, `x_count`). The dashboards must also be well-formed
//! Grafana JSON on a `${datasource}` variable, and their PromQL must parse (promtool).

mod processor_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ferrobeat_tests::TestKafka;
use processor_support::endpoint::{Monitored, PROMETHEUS_ACCEPT, promtool, value};
use processor_support::{broker_pipeline, mixed_values, preload_on_every_partition};

const INPUTS: usize = 100;
const PARTITIONS: i32 = 2;

/// Labels every series has once Prometheus scraped it.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];
/// PromQL words that are not series names when not followed by `(`: aggregation operators
/// (`sum by (x) (…)`), binary operators and modifiers, literals.
const KEYWORDS: [&str; 24] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "atan2",
    "bool",
    "offset",
    "inf",
    "nan",
    "start",
    "end",
];
/// PromQL words followed by a parenthesised list of label names.
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// A vector selector of a PromQL expression: the series name and the labels it matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    name: String,
    labels: Vec<String>,
}

/// What a PromQL expression names: its selectors and the labels of its `by (…)`, `on (…)` and
/// the like.
#[derive(Debug, Default, PartialEq, Eq)]
struct Names {
    selectors: Vec<Selector>,
    grouping: Vec<String>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit()
}

/// A small PromQL tokenizer over `chars`, enough to find the names an expression uses (Grafana
/// variables such as `$__rate_interval` or `${instance}` are skipped).
struct Tokens<'a> {
    chars: &'a [char],
    at: usize,
}

impl Tokens<'_> {
    fn peek_non_space(&self) -> Option<char> {
        self.chars[self.at..]
            .iter()
            .copied()
            .find(|c| !c.is_whitespace())
    }

    fn skip_space(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn ident(&mut self) -> String {
        let start = self.at;
        while self.chars.get(self.at).copied().is_some_and(is_ident) {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    /// Skips a quoted string starting at the current quote.
    fn string(&mut self) -> Result<(), String> {
        let quote = self.chars[self.at];
        let start = self.at;
        self.at += 1;
        while let Some(&c) = self.chars.get(self.at) {
            self.at += 1;
            if c == '\\' && quote != '`' {
                self.at += 1;
            } else if c == quote {
                return Ok(());
            }
        }
        Err(format!("unterminated string at character {start}"))
    }

    /// Skips to just after the `close` that ends what starts at the current character.
    fn skip_past(&mut self, close: char) -> Result<(), String> {
        let start = self.at;
        while let Some(&c) = self.chars.get(self.at) {
            if c == '"' || c == '\'' || c == '`' {
                self.string()?;
                continue;
            }
            self.at += 1;
            if c == close {
                return Ok(());
            }
        }
        Err(format!("no `{close}` closes character {start}"))
    }

    /// The label names of `{name op "value", …}`, starting at the `{`.
    fn matchers(&mut self) -> Result<Vec<String>, String> {
        self.at += 1;
        let mut labels = Vec::new();
        loop {
            self.skip_space();
            match self.chars.get(self.at) {
                Some('}') => {
                    self.at += 1;
                    return Ok(labels);
                }
                Some(',') => self.at += 1,
                Some(&c) if is_ident_start(c) => {
                    labels.push(self.ident());
                    self.skip_space();
                    while self
                        .chars
                        .get(self.at)
                        .is_some_and(|c| matches!(c, '=' | '!' | '~'))
                    {
                        self.at += 1;
                    }
                    self.skip_space();
                    match self.chars.get(self.at) {
                        Some('"' | '\'' | '`') => self.string()?,
                        _ => {
                            return Err(format!(
                                "label matcher `{}` has no quoted value",
                                labels.last().map_or("", String::as_str)
                            ));
                        }
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "unexpected `{other}` in label matchers at character {}",
                        self.at
                    ));
                }
                None => return Err("label matchers not closed".to_owned()),
            }
        }
    }

    // A small recursive-descent parser: each rule is a loop of the same shape over another token.
    /// The label names of `(a, b)`, starting at the `(`.
    fn label_list(&mut self) -> Result<Vec<String>, String> {
        self.at += 1;
        let mut labels = Vec::new();
        loop {
            self.skip_space();
            match self.chars.get(self.at) {
                Some(')') => {
                    self.at += 1;
                    return Ok(labels);
                }
                Some(',') => self.at += 1,
                Some(&c) if is_ident_start(c) => labels.push(self.ident()),
                _ => return Err(format!("bad label list at character {}", self.at)),
            }
        }
    }
}

/// The series names (identifiers not followed by `(`, not keywords, not inside `{…}`, `[…]`,
/// strings or grouping lists) and label names of a PromQL expression.
fn promql_names(expr: &str) -> Result<Names, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Tokens {
        chars: &chars,
        at: 0,
    };
    let mut names = Names::default();
    // Whether the last token was a selector's name, which a `{…}` then belongs to.
    let mut after_name = false;
    while let Some(&c) = chars.get(tokens.at) {
        if c.is_whitespace() {
            tokens.at += 1;
            continue;
        }
        let was_after_name = std::mem::take(&mut after_name);
        match c {
            '"' | '\'' | '`' => tokens.string()?,
            '#' => {
                tokens.at = chars[tokens.at..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(chars.len(), |newline| tokens.at + newline);
            }
            '$' => {
                tokens.at += 1;
                if chars.get(tokens.at) == Some(&'{') {
                    tokens.skip_past('}')?;
                } else {
                    tokens.ident();
                }
            }
            '[' => tokens.skip_past(']')?,
            '{' => {
                let labels = tokens.matchers()?;
                match names.selectors.last_mut() {
                    Some(selector) if was_after_name => selector.labels = labels,
                    _ => return Err("a selector without a series name".to_owned()),
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(tokens.at + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while chars
                    .get(tokens.at)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.')
                {
                    tokens.at += 1;
                }
            }
            c if is_ident_start(c) => {
                let word = tokens.ident();
                let next = tokens.peek_non_space();
                if GROUPING.contains(&word.as_str()) {
                    if next == Some('(') {
                        tokens.skip_space();
                        names.grouping.extend(tokens.label_list()?);
                    }
                } else if next != Some('(') && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                    names.selectors.push(Selector {
                        name: word,
                        labels: Vec::new(),
                    });
                    after_name = true;
                }
            }
            _ => tokens.at += 1,
        }
    }
    Ok(names)
}

/// What scrapes serve: each series name a PromQL selector may use, with the label names of
/// its samples.
#[derive(Debug, Default)]
struct Served {
    series: BTreeMap<String, BTreeSet<String>>,
}

impl Served {
    /// Adds an OpenMetrics scrape: each family's series by its `# TYPE` (as Prometheus names
    /// them), and every sample's name and labels.
    fn add_scrape(&mut self, text: &str) {
        for line in text.lines() {
            if let Some(descriptor) = line.strip_prefix("# TYPE ") {
                let Some((family, kind)) = descriptor.split_once(' ') else {
                    continue;
                };
                let suffixes: &[&str] = match kind {
                    "counter" => &["_total", "_created"],
                    "histogram" => &["_bucket", "_sum", "_count", "_created"],
                    "gaugehistogram" => &["_bucket", "_gsum", "_gcount"],
                    "summary" => &["", "_sum", "_count", "_created"],
                    "info" => &["_info"],
                    _ => &[""],
                };
                for suffix in suffixes {
                    self.series.entry(format!("{family}{suffix}")).or_default();
                }
            } else if !line.starts_with('#') && !line.is_empty() {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                let labels = self.series.entry(line[..end].to_owned()).or_default();
                if line[end..].starts_with('{') {
                    let chars: Vec<char> = line[end..].chars().collect();
                    let mut tokens = Tokens {
                        chars: &chars,
                        at: 0,
                    };
                    if let Ok(names) = tokens.matchers() {
                        labels.extend(names);
                    }
                }
            }
        }
    }

    /// What `expr` names that is not served: unknown series, labels no sample of the series
    /// carries, grouping labels none of its series carries; `where_` says where it is.
    fn problems(&self, where_: &str, expr: &str) -> Vec<String> {
        let names = match promql_names(expr) {
            Ok(names) => names,
            Err(error) => return vec![format!("{where_}: cannot read `{expr}`: {error}")],
        };
        if names.selectors.is_empty() {
            return vec![format!("{where_}: `{expr}` names no series")];
        }
        let mut problems = Vec::new();
        let mut all_labels: BTreeSet<&str> = TARGET_LABELS.into_iter().collect();
        for selector in &names.selectors {
            let Some(labels) = self.series.get(&selector.name) else {
                problems.push(format!(
                    "{where_}: series `{}` is not served (in `{expr}`)",
                    selector.name
                ));
                continue;
            };
            all_labels.extend(labels.iter().map(String::as_str));
            for label in &selector.labels {
                if !labels.contains(label)
                    && !TARGET_LABELS.contains(&label.as_str())
                    && label != "__name__"
                {
                    problems.push(format!(
                        "{where_}: no sample of `{}` has the label `{label}` (in `{expr}`)",
                        selector.name
                    ));
                }
            }
        }
        for label in &names.grouping {
            if !all_labels.contains(label.as_str()) {
                problems.push(format!(
                    "{where_}: no series of `{expr}` has the label `{label}` it groups by"
                ));
            }
        }
        problems
    }
}

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("packaging")
}

/// Every alerting or recording rule's `(name, expr)` in a Prometheus rules file.
fn rule_expressions(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let documents = yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not YAML: {error}", path.display()));
    let groups = documents
        .first()
        .and_then(|document| document["groups"].as_vec())
        .unwrap_or_else(|| panic!("{} has no `groups` list", path.display()));
    let mut rules = Vec::new();
    for group in groups {
        for rule in group["rules"]
            .as_vec()
            .unwrap_or_else(|| panic!("{}: a group has no `rules` list", path.display()))
        {
            let name = rule["alert"]
                .as_str()
                .or_else(|| rule["record"].as_str())
                .unwrap_or_else(|| panic!("{}: a rule has no name", path.display()));
            let expr = rule["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: rule {name} has no `expr`", path.display()));
            rules.push((name.to_owned(), expr.to_owned()));
        }
    }
    rules
}

/// The Grafana dashboards of `packaging/grafana/`, parsed, by file name.
fn dashboards() -> Vec<(String, serde_json::Value)> {
    let dir = packaging().join("grafana");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 2,
        "a dashboard per program in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("dashboard");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
            let name = path.file_name().expect("file name").to_string_lossy();
            (name.into_owned(), json)
        })
        .collect()
}

/// Every panel of a dashboard, those inside rows included.
fn panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut all = Vec::new();
    let mut pending: Vec<&serde_json::Value> = dashboard["panels"]
        .as_array()
        .map(|panels| panels.iter().collect())
        .unwrap_or_default();
    while let Some(panel) = pending.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            pending.extend(nested);
        }
        all.push(panel);
    }
    all
}

/// The PromQL of a dashboard, `(where, expr)`: every panel target's, and each query
/// variable's (`label_values(expr, label)` gives `expr{label=""}`, so the label is checked).
fn dashboard_expressions(file: &str, dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut expressions = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                expressions.push((format!("{file}: panel {}", panel["title"]), expr.to_owned()));
            }
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] != "query" {
            continue;
        }
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str())
            .unwrap_or_default();
        let where_ = format!("{file}: variable {}", variable["name"]);
        let expr = query
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|args| args.rsplit_once(','))
            .map(|(metric, label)| format!("{metric}{{{}=\"\"}}", label.trim()))
            .or_else(|| {
                query
                    .strip_prefix("query_result(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("{where_}: cannot read the query `{query}`"));
        expressions.push((where_, expr));
    }
    expressions
}

/// The structure Grafana needs: schema version, the `datasource` variable every panel and
/// target uses, unique panel ids, a target on every panel but rows.
fn check_dashboard(file: &str, dashboard: &serde_json::Value) {
    assert!(
        dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "{file}: schemaVersion"
    );
    assert!(dashboard["uid"].is_string(), "{file}: no uid");
    assert!(dashboard["title"].is_string(), "{file}: no title");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    assert!(
        variables.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "{file}: no Prometheus `datasource` variable"
    );
    let uses_variable = |value: &serde_json::Value| {
        value["type"] == "prometheus" && value["uid"] == "${datasource}"
    };
    let mut ids = BTreeSet::new();
    for panel in panels(dashboard) {
        let title = &panel["title"];
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{file}: panel {title} has no id"));
        assert!(ids.insert(id), "{file}: panel id {id} used twice");
        for key in ["x", "y", "w", "h"] {
            assert!(
                panel["gridPos"][key].is_u64(),
                "{file}: panel {title} has no gridPos.{key}"
            );
        }
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            uses_variable(&panel["datasource"]),
            "{file}: panel {title}'s data source"
        );
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty());
        let targets = targets.unwrap_or_else(|| panic!("{file}: panel {title} has no targets"));
        for target in targets {
            assert!(
                uses_variable(&target["datasource"]),
                "{file}: a target of {title}"
            );
            assert!(
                target["expr"].is_string(),
                "{file}: a target of {title} has no expr"
            );
        }
    }
}

/// `promtool check rules` on the dashboards' expressions as recording rules, Grafana's
/// variables replaced by values: PromQL the tokenizer accepts may still not parse.
fn promtool_parses(promtool: &str, expressions: &[(String, String)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rules = String::from("groups:\n  - name: grafana\n    rules:\n");
    for (index, (_, expr)) in expressions.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$__range", "1h")
            .replace("$instance", ".+");
        rules += &format!(
            "      - record: grafana:expression_{index}\n        expr: {}\n",
            serde_json::to_string(&expr).expect("a JSON string is a YAML string")
        );
    }
    let file = dir.path().join("grafana.yml");
    std::fs::write(&file, rules).expect("rules file");
    let output = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "promtool refuses a dashboard expression:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn rules_and_dashboards_name_only_served_series() {
    let kafka = TestKafka::start().expect("test broker");
    let dir = tempfile::tempdir().expect("tempdir");

    let config = broker_pipeline(&kafka, "assets", PARTITIONS);
    preload_on_every_partition(&kafka, &config.topology.input_topic, &mixed_values(INPUTS));
    let processor_dir = dir.path().join("processor");
    std::fs::create_dir(&processor_dir).expect("processor dir");
    // The level a deployment runs at: rules and dashboards must not need `debug`.
    let mut processor = Monitored::processor(&config, "info", &processor_dir);

    let topic = kafka.unique_topic("assets-agent");
    kafka.create_topic(&topic, 1).expect("topic");
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir(&agent_dir).expect("agent dir");
    let mut agent = Monitored::agent(&kafka, &topic, &agent_dir);

    // Every labelled family has children: records through, lag reported, rounds sampled.
    let input = &config.topology.input_topic;
    let dead_letters = format!(
        "ferrobeat_processor_records_produced_total{{topic=\"{}\"}}",
        config.errors.dead_letter_topic
    );
    let processor_scrape = processor.scrape_until(PROMETHEUS_ACCEPT, "processed", |now| {
        value(now, &format!("ferrobeat_processor_records_consumed_total{{topic=\"{input}\"}}"))
            == INPUTS as f64
            && value(now, &dead_letters) > 0.0
            && (0..PARTITIONS).all(|partition| {
                now.contains_key(&format!(
                    "ferrobeat_processor_consumer_lag_records{{topic=\"{input}\",partition=\"{partition}\"}}"
                ))
            })
    });
    let agent_scrape = agent.scrape_until(PROMETHEUS_ACCEPT, "delivering", |now| {
        value(now, "ferrobeat_agent_events_acknowledged_total") >= 2.0
            && ["cpu", "memory"].iter().all(|metricset| {
                value(
                    now,
                    &format!("ferrobeat_agent_sampling_duration_seconds_count{{metricset=\"{metricset}\"}}"),
                ) >= 1.0
            })
    });
    processor.stop_and_check_endpoint_gone("processor");
    agent.stop_and_check_endpoint_gone("agent");

    let mut served = Served::default();
    served.add_scrape(&processor_scrape);
    served.add_scrape(&agent_scrape);

    let rules_file = packaging().join("prometheus").join("rules.yml");
    let rules = rule_expressions(&rules_file);
    assert!(rules.len() >= 4, "{}: {rules:?}", rules_file.display());
    let mut expressions: Vec<(String, String)> = rules
        .into_iter()
        .map(|(name, expr)| (format!("rules.yml: {name}"), expr))
        .collect();
    let mut dashboard_exprs = Vec::new();
    for (file, dashboard) in dashboards() {
        check_dashboard(&file, &dashboard);
        dashboard_exprs.extend(dashboard_expressions(&file, &dashboard));
    }
    expressions.extend(dashboard_exprs.iter().cloned());

    let problems: Vec<String> = expressions
        .iter()
        .flat_map(|(where_, expr)| served.problems(where_, expr))
        .collect();
    assert!(
        problems.is_empty(),
        "names the programs do not serve:\n{}\n\nserved: {:?}",
        problems.join("\n"),
        served.series.keys().collect::<Vec<_>>()
    );
    // Both programs are covered, not just one.
    for prefix in ["ferrobeat_agent_", "ferrobeat_processor_"] {
        assert!(
            expressions.iter().any(|(_, expr)| expr.contains(prefix)),
            "no expression on {prefix}*"
        );
    }
    if let Some(promtool) = promtool() {
        promtool_parses(&promtool, &dashboard_exprs);
    }
}

/// A scrape of one counter, one gauge and one histogram, as the programs write them.
const SCRAPE: &str = "\
# HELP app_events Events.
# TYPE app_events counter
app_events_total 3
# TYPE app_depth gauge
app_depth{topic=\"t\",partition=\"0\"} 1
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{le=\"0.1\",thread=\"w-1\"} 1
app_latency_seconds_sum{thread=\"w-1\"} 0.05
app_latency_seconds_count{thread=\"w-1\"} 1
# TYPE app_idle counter
# EOF
";

fn served() -> Served {
    let mut served = Served::default();
    served.add_scrape(SCRAPE);
    served
}

#[test]
fn the_tokenizer_finds_series_and_labels_not_functions_keywords_or_variables() {
    let names = promql_names(
        "sum by (topic, partition) (rate(app_events_total{instance=~\"$instance\"}[$__rate_interval])) \
         / on(instance) group_left max without (le) (histogram_quantile(0.99, app_latency_seconds_bucket[5m:1m])) \
         > bool 1e3 and app_depth offset 5m or ${other} # app_comment\n unless app_idle_total{ job != 'x', le=~\"a,}\" }",
    )
    .expect("readable");
    let selector = |name: &str, labels: &[&str]| Selector {
        name: name.to_owned(),
        labels: labels.iter().map(|label| (*label).to_owned()).collect(),
    };
    assert_eq!(
        names,
        Names {
            selectors: vec![
                selector("app_events_total", &["instance"]),
                selector("app_latency_seconds_bucket", &[]),
                selector("app_depth", &[]),
                selector("app_idle_total", &["job", "le"]),
            ],
            grouping: ["topic", "partition", "instance", "le"]
                .map(str::to_owned)
                .to_vec(),
        }
    );
    assert!(promql_names("{__name__=\"x\"}").is_err());
    assert!(promql_names("x{a=\"unterminated}").is_err());
}

#[test]
fn the_checker_refuses_what_is_not_served() {
    let served = served();
    for good in [
        "rate(app_events_total[5m])",
        "increase(app_idle_total[1h]) > 0",
        "histogram_quantile(0.9, sum by (le, thread) (rate(app_latency_seconds_bucket[5m])))",
        "app_depth{topic=\"t\", instance=~\".+\"} > 0",
        "sum by (job, instance, partition) (app_depth)",
    ] {
        assert_eq!(
            served.problems("good", good),
            Vec::<String>::new(),
            "{good}"
        );
    }
    for (bad, complaint) in [
        // A made-up series: the rule would never fire.
        (
            "rate(app_delivered_total[5m]) == 0",
            "series `app_delivered_total` is not served",
        ),
        // The right family with the wrong suffix: a gauge has no `_total`, a counter no bare name.
        (
            "app_depth_total > 0",
            "series `app_depth_total` is not served",
        ),
        ("rate(app_events[5m])", "series `app_events` is not served"),
        (
            "app_latency_seconds > 1",
            "series `app_latency_seconds` is not served",
        ),
        (
            "app_depth{topics=\"t\"}",
            "no sample of `app_depth` has the label `topics`",
        ),
        (
            "sum by (reason) (app_depth)",
            "has the label `reason` it groups by",
        ),
        ("vector(1)", "names no series"),
        ("app_depth{", "cannot read"),
    ] {
        let problems = served.problems("bad", bad);
        assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
        assert!(problems[0].contains(complaint), "{bad}: {problems:?}");
    }
}

#[test]
fn the_packaged_files_parse() {
    let rules = rule_expressions(&packaging().join("prometheus").join("rules.yml"));
    assert!(
        rules.iter().all(|(_, expr)| promql_names(expr).is_ok()),
        "{rules:?}"
    );
    for (file, dashboard) in dashboards() {
        check_dashboard(&file, &dashboard);
        let expressions = dashboard_expressions(&file, &dashboard);
        assert!(!expressions.is_empty(), "{file}");
        for (where_, expr) in expressions {
            promql_names(&expr).unwrap_or_else(|error| panic!("{where_}: {expr}: {error}"));
        }
    }
}
