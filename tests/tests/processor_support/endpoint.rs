//! The two binaries started with their monitoring endpoint, and what tests do with it: scrape
//! `/metrics` (as curl or as Prometheus asks), read its samples, check it with promtool, stop.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferrobeat_processor::config::ProcessorConfig;
use ferrobeat_tests::TestKafka;

use super::{config_file_text, eventually, processor_binary, terminate, workspace_binary};

/// How long a scrape may take to show what a test waits for, and a program to stop.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);
/// The `Accept` header of a Prometheus 2.x scrape.
pub(crate) const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A loopback address with a port free a moment ago.
pub(crate) fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}

/// `GET path` on `addr` as curl asks: the status and the body; `None` when nothing answers.
pub(crate) fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    get_accepting(addr, path, "*/*")
}

// A minimal HTTP GET; the agent's tests have their own (separate test crates).
/// `GET path` on `addr` with `Accept: accept`.
pub(crate) fn get_accepting(addr: SocketAddr, path: &str, accept: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The samples of a Prometheus text scrape: `name{labels}` → value.
pub(crate) fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The value of `series`, 0 when absent.
pub(crate) fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

/// The sum of every sample of metric `name` (all label sets) whose series contains `filter`.
pub(crate) fn sum(samples: &BTreeMap<String, f64>, name: &str, filter: &str) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| series.starts_with(&format!("{name}{{")) && series.contains(filter))
        .map(|(_, value)| value)
        .sum()
}

/// The promtool binary, installed by `tests/install-promtool.sh` if needed; `None` (with the
/// reason printed) only when it cannot be installed.
pub(crate) fn promtool() -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install-promtool.sh");
    let output = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run install-promtool.sh");
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() && !path.is_empty() {
        Some(path)
    } else {
        eprintln!("SKIPPED promtool checks: promtool cannot be installed here");
        None
    }
}

/// A binary running with its `/metrics` endpoint on `addr`, its standard error in `log`;
/// killed when dropped unless it was stopped.
#[derive(Debug)]
pub(crate) struct Monitored {
    /// The running binary.
    pub(crate) child: Child,
    /// Where it serves `/metrics`, `/health` and `/ready`.
    pub(crate) addr: SocketAddr,
    /// Its standard error (JSON log lines).
    pub(crate) log: PathBuf,
}

impl Monitored {
    /// Starts the processor binary on `config` with `[monitoring]` at `level` ("info" or
    /// "debug") and consumer statistics every 300 ms; its files go in `dir`.
    pub(crate) fn processor(config: &ProcessorConfig, level: &str, dir: &Path) -> Self {
        let addr = free_addr();
        let file = dir.join("processor.toml");
        std::fs::write(
            &file,
            config_file_text(config)
                + &format!("[monitoring]\nmetrics_addr = \"{addr}\"\nstatistics_interval = \"300ms\"\nlevel = \"{level}\"\n"),
        )
        .expect("config file");
        let log = dir.join("processor.log");
        let child = Command::new(processor_binary())
            .args(["run", "--log-format", "json", "--log", "info", "--config"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn the processor");
        Monitored { child, addr, log }
    }

    /// Starts the agent binary sampling cpu and memory every 300 ms and shipping them to
    /// `topic` of `kafka`; its data directory and log go in `dir`.
    pub(crate) fn agent(kafka: &TestKafka, topic: &str, dir: &Path) -> Self {
        let addr = free_addr();
        let log = dir.join("agent.log");
        let child = Command::new(workspace_binary("ferrobeat-agent"))
            .args(["--output", "kafka", "--period", "300ms"])
            .args(["--metricsets", "cpu,memory"])
            .args(["--bootstrap-servers", kafka.bootstrap_servers()])
            .args(["--topic", topic])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--metrics-addr", &addr.to_string(), "--log-format", "json"])
            .arg("run")
            .env("FERROBEAT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn the agent");
        Monitored { child, addr, log }
    }

    /// Scrapes `/metrics` with `Accept: accept` until `done` holds of its samples (within
    /// [`TIMEOUT`]) and returns that scrape; otherwise fails with the last scrape and the log.
    pub(crate) fn scrape_until(
        &mut self,
        accept: &str,
        what: &str,
        done: impl Fn(&BTreeMap<String, f64>) -> bool,
    ) -> String {
        let mut scrape = String::new();
        let reached = eventually(TIMEOUT, || {
            let Some((200, text)) = get_accepting(self.addr, "/metrics", accept) else {
                return false;
            };
            scrape = text;
            done(&samples(&scrape))
        });
        assert!(
            reached,
            "not {what} in {TIMEOUT:?}; last scrape:\n{scrape}\nlog:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        scrape
    }

    /// SIGTERM, a clean exit, and nothing listening on the endpoint any more.
    pub(crate) fn stop_and_check_endpoint_gone(&mut self, what: &str) {
        let exit = terminate(&mut self.child, TIMEOUT)
            .unwrap_or_else(|| panic!("the {what} did not stop after SIGTERM"));
        assert!(exit.success(), "the {what} exited with {exit}");
        assert!(
            TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_err(),
            "the {what}'s endpoint still answers after it stopped"
        );
    }
}

impl Drop for Monitored {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
