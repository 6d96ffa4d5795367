//! Self-monitoring: the agent's counters, logged as changes every interval and served as
//! Prometheus text on an optional HTTP endpoint.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::spool::SpoolStats;

/// One of the agent's event counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Events received from the sampler.
    Sampled,
    /// Events whose delivery Kafka acknowledged (or written to stdout).
    Acknowledged,
    /// Delivery attempts that failed (the event stays spooled and is sent again).
    Failed,
    /// Events written to the disk spool.
    Spooled,
    /// Events dropped, unsent, because the spool (or, when it is unwritable, the memory
    /// queue) was full.
    Dropped,
    /// Spool frames found damaged and skipped.
    Corrupt,
    /// Spool writes that failed (those events were kept in memory instead).
    SpoolErrors,
}

impl Count {
    /// Every counter, in a stable order.
    pub const ALL: [Count; 7] = [
        Count::Sampled,
        Count::Acknowledged,
        Count::Failed,
        Count::Spooled,
        Count::Dropped,
        Count::Corrupt,
        Count::SpoolErrors,
    ];

    /// The name in logs and, with `ferrobeat_agent_` before and `_total` after, in Prometheus.
    pub fn name(self) -> &'static str {
        match self {
            Count::Sampled => "events_sampled",
            Count::Acknowledged => "events_acknowledged",
            Count::Failed => "events_failed",
            Count::Spooled => "events_spooled",
            Count::Dropped => "events_dropped",
            Count::Corrupt => "spool_corrupt_frames",
            Count::SpoolErrors => "spool_write_errors",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Count::Sampled => "Events received from the sampler",
            Count::Acknowledged => "Events whose delivery was acknowledged",
            Count::Failed => "Delivery attempts that failed and will be retried from the spool",
            Count::Spooled => "Events written to the disk spool",
            Count::Dropped => {
                "Events dropped unsent because the spool (or the memory queue) was full"
            }
            Count::Corrupt => "Damaged spool frames skipped",
            Count::SpoolErrors => "Spool writes that failed; those events were kept in memory",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The agent's counters and gauges, shared by the shipper, the logger and the endpoint.
#[derive(Debug)]
pub struct AgentMetrics {
    counters: [Counter; Count::ALL.len()],
    spool_depth: Gauge,
    spool_bytes: Gauge,
    registry: Registry,
}

/// The values at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Each [`Count`], by its position in [`Count::ALL`].
    pub counts: [u64; Count::ALL.len()],
    /// Events in the spool not yet acknowledged.
    pub spool_depth: i64,
    /// Bytes of the spool's segment files.
    pub spool_bytes: i64,
}

impl AgentMetrics {
    /// Fresh metrics, all zero, registered for Prometheus under `ferrobeat_agent_`.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("ferrobeat_agent");
        let counters: [Counter; Count::ALL.len()] = Default::default();
        for count in Count::ALL {
            registry.register(count.name(), count.help(), counters[count.index()].clone());
        }
        let spool_depth = Gauge::default();
        let spool_bytes = Gauge::default();
        registry.register(
            "spool_depth_events",
            "Events in the spool not yet acknowledged",
            spool_depth.clone(),
        );
        registry.register(
            "spool_size_bytes",
            "Bytes of the spool's segment files",
            spool_bytes.clone(),
        );
        Arc::new(AgentMetrics {
            counters,
            spool_depth,
            spool_bytes,
            registry,
        })
    }

    /// Adds `n` to a counter.
    pub fn add(&self, count: Count, n: u64) {
        if n > 0 {
            self.counters[count.index()].inc_by(n);
        }
    }

    /// A counter's value.
    pub fn get(&self, count: Count) -> u64 {
        self.counters[count.index()].get()
    }

    /// Sets the spool gauges.
    pub fn set_spool(&self, stats: &SpoolStats) {
        self.spool_depth
            .set(i64::try_from(stats.depth).unwrap_or(i64::MAX));
        self.spool_bytes
            .set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
    }

    /// Every value now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            counts: Count::ALL.map(|c| self.get(c)),
            spool_depth: self.spool_depth.get(),
            spool_bytes: self.spool_bytes.get(),
        }
    }

    /// The Prometheus text exposition of every value.
    pub fn prometheus_text(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// A log line for what changed between two snapshots: each counter that moved, as
/// `name=+delta`, then the spool gauges; `None` when no counter moved.
pub fn describe_changes(before: &Snapshot, after: &Snapshot) -> Option<String> {
    let mut line = String::new();
    for count in Count::ALL {
        let delta = after.counts[count.index()].saturating_sub(before.counts[count.index()]);
        if delta > 0 {
            let _ = write!(line, "{}=+{delta} ", count.name());
        }
    }
    if line.is_empty() {
        return None;
    }
    let _ = write!(
        line,
        "spool_depth={} spool_bytes={}",
        after.spool_depth, after.spool_bytes
    );
    Some(line)
}

/// Logs the changes of `metrics` every `interval` until `shutdown` turns true, then once more.
pub async fn log_changes(
    metrics: Arc<AgentMetrics>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut before = Snapshot::default();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        let stopping = tokio::select! {
            _ = ticker.tick() => false,
            changed = shutdown.changed() => changed.is_err() || *shutdown.borrow(),
        };
        let now = metrics.snapshot();
        if let Some(line) = describe_changes(&before, &now) {
            tracing::info!(target: "ferrobeat_agent::monitor", "{line}");
        }
        before = now;
        if stopping {
            return;
        }
    }
}

/// Binds the Prometheus endpoint.
///
/// # Errors
/// The address cannot be bound.
pub async fn bind_endpoint(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `GET /metrics` (Prometheus text) on `listener` until `shutdown` turns true.
/// Anything else gets 404; a client that sends no request within 5 s is dropped.
pub async fn serve_endpoint(
    listener: TcpListener,
    metrics: Arc<AgentMetrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(answer(stream, Arc::clone(&metrics)));
                }
                Err(error) => tracing::warn!(%error, "metrics endpoint: accept failed"),
            },
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

async fn answer(mut stream: TcpStream, metrics: Arc<AgentMetrics>) {
    const MAX_REQUEST: usize = 8 * 1024;
    let mut request = Vec::new();
    let mut buf = [0; 1024];
    let read_head = async {
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    if !matches!(
        tokio::time::timeout(Duration::from_secs(5), read_head).await,
        Ok(true)
    ) {
        return;
    }
    let response = respond(&request, &metrics);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The whole HTTP response to a request head.
fn respond(request: &[u8], metrics: &AgentMetrics) -> String {
    let request_line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = request_line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let (status, content_type, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.prometheus_text(),
        ),
        (Some(b"GET"), _) => ("404 Not Found", "text/plain", "try /metrics\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_owned(),
        ),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_list_only_moved_counters() {
        let metrics = AgentMetrics::new();
        let before = metrics.snapshot();
        assert_eq!(describe_changes(&before, &metrics.snapshot()), None);
        metrics.add(Count::Sampled, 4);
        metrics.add(Count::Acknowledged, 3);
        metrics.set_spool(&SpoolStats {
            depth: 1,
            bytes: 120,
            dropped: 0,
            corrupt: 0,
        });
        let line = describe_changes(&before, &metrics.snapshot()).expect("changes");
        assert_eq!(
            line,
            "events_sampled=+4 events_acknowledged=+3 spool_depth=1 spool_bytes=120"
        );
    }

    #[test]
    fn prometheus_text_has_every_metric() {
        let metrics = AgentMetrics::new();
        metrics.add(Count::Dropped, 2);
        let text = metrics.prometheus_text();
        for count in Count::ALL {
            assert!(
                text.contains(&format!("ferrobeat_agent_{}_total", count.name())),
                "{text}"
            );
        }
        assert!(
            text.contains("ferrobeat_agent_events_dropped_total 2"),
            "{text}"
        );
        assert!(
            text.contains("ferrobeat_agent_spool_depth_events 0"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn http_answers() {
        let metrics = AgentMetrics::new();
        let ok = respond(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &metrics);
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("ferrobeat_agent_events_sampled_total 0"));
        assert!(respond(b"GET / HTTP/1.1\r\n\r\n", &metrics).starts_with("HTTP/1.1 404"));
        assert!(respond(b"POST /metrics HTTP/1.1\r\n\r\n", &metrics).starts_with("HTTP/1.1 405"));
    }

    #[tokio::test]
    async fn endpoint_serves_over_tcp() {
        let metrics = AgentMetrics::new();
        metrics.add(Count::Spooled, 7);
        let listener = bind_endpoint("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, shutdown) = watch::channel(false);
        let server = tokio::spawn(serve_endpoint(listener, Arc::clone(&metrics), shutdown));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("send");
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_string(&mut response))
            .await
            .expect("answered in time")
            .expect("read");
        assert!(
            response.contains("ferrobeat_agent_events_spooled_total 7"),
            "{response}"
        );
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("server stops")
            .expect("server task");
    }
}
