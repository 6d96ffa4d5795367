//! The HTTP endpoint both programs serve their monitoring on (`/metrics`, `/health`,
//! `/ready`): a `tiny_http` server on its own thread, `GET` only, each answer computed by the
//! program's own function of the path. Behind the `monitoring` feature.
//!
//! Metrics are encoded as OpenMetrics (prometheus-client's format) and served so to clients
//! that accept `application/openmetrics-text` (Prometheus does); others (curl, promtool) get
//! the classic Prometheus text format 0.0.4, where a counter's `HELP` and `TYPE` name its
//! `_total` sample — as the Go client negotiates.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

/// The content type of Prometheus' OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the classic Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// OpenMetrics text rewritten in the classic Prometheus text format: a counter family's
/// `HELP` and `TYPE` name its `_total` samples, and the `UNIT` and `EOF` lines go.
pub fn openmetrics_to_prometheus(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let (name, rest) = line.strip_prefix(prefix)?.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {rest}"))
        });
        match descriptor {
            Some(renamed) => text.push_str(&renamed),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// An HTTP answer: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Reply {
    /// A plain-text answer; a line feed ends `body`.
    pub fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
        }
    }

    /// A JSON answer on one line.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body: format!("{body}\n"),
        }
    }

    /// `200` with Prometheus text (OpenMetrics).
    pub fn openmetrics(body: String) -> Self {
        Reply {
            status: 200,
            content_type: OPENMETRICS,
            body,
        }
    }
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The address could not be bound.
    #[error("cannot serve metrics on {addr}: {reason}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The operating system refused a thread.
    #[error("cannot spawn the metrics endpoint thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// A running endpoint; [`Endpoint::stop`] (or dropping it) stops answering and has the socket
/// closed (by `tiny_http`'s accept thread, a moment later).
pub struct Endpoint {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

// Debug by hand: only the telling fields (others hold clients, threads or closures).
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Binds `addr` and answers every `GET` with `answer(path)` from a thread; other methods
    /// get 405.
    ///
    /// # Errors
    /// The address cannot be bound, or the thread cannot be spawned.
    pub fn start<F>(addr: SocketAddr, answer: F) -> Result<Self, EndpointError>
    where
        F: Fn(&str) -> Reply + Send + 'static,
    {
        let bind_error = |reason: String| EndpointError::Bind { addr, reason };
        let server =
            tiny_http::Server::http(addr).map_err(|error| bind_error(error.to_string()))?;
        let bound = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| bind_error("not an IP socket".to_owned()))?;
        let server = Arc::new(server);
        let serving = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("metrics-endpoint".to_owned())
            .spawn(move || serve(&serving, &answer))
            .map_err(EndpointError::Spawn)?;
        Ok(Endpoint {
            server,
            addr: bound,
            thread: Some(thread),
        })
    }

    /// The address bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and closes the socket.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the metrics endpoint thread panicked");
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Whether a request's `Accept` headers take OpenMetrics.
fn accepts_openmetrics(request: &tiny_http::Request) -> bool {
    request.headers().iter().any(|header| {
        header.field.equiv("Accept")
            && header
                .value
                .as_str()
                .contains("application/openmetrics-text")
    })
}

fn serve(server: &tiny_http::Server, answer: &dyn Fn(&str) -> Reply) {
    for request in server.incoming_requests() {
        let mut reply = if *request.method() == tiny_http::Method::Get {
            answer(request.url().split('?').next().unwrap_or_default())
        } else {
            Reply::text(405, "only GET")
        };
        if reply.content_type == OPENMETRICS && !accepts_openmetrics(&request) {
            reply = Reply {
                content_type: PROMETHEUS_TEXT,
                body: openmetrics_to_prometheus(&reply.body),
                ..reply
            };
        }
        let mut response =
            tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
        if let Ok(header) =
            tiny_http::Header::from_bytes(&b"Content-Type"[..], reply.content_type.as_bytes())
        {
            response.add_header(header);
        }
        if let Err(error) = request.respond(response) {
            tracing::debug!(%error, "metrics endpoint: cannot answer");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;

    const OPENMETRICS_TEXT: &str = "# HELP up_seconds Time up.\n# TYPE up_seconds counter\n\
        # UNIT up_seconds seconds\nup_seconds_total 7\n# HELP depth Depth.\n# TYPE depth gauge\n\
        depth 2\n# EOF\n";

    #[test]
    fn counters_are_named_by_their_total_in_prometheus_text() {
        assert_eq!(
            openmetrics_to_prometheus(OPENMETRICS_TEXT),
            "# HELP up_seconds_total Time up.\n# TYPE up_seconds_total counter\n\
             up_seconds_total 7\n# HELP depth Depth.\n# TYPE depth gauge\ndepth 2\n"
        );
    }

    fn request(addr: SocketAddr, head: &str) -> String {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        stream
            .write_all(format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        response
    }

    #[test]
    fn answers_get_by_path_refuses_other_methods_and_closes_on_stop() {
        let endpoint = Endpoint::start("127.0.0.1:0".parse().expect("addr"), |path| match path {
            "/metrics" => Reply::openmetrics(OPENMETRICS_TEXT.to_owned()),
            _ => Reply::text(404, "no"),
        })
        .expect("start");
        let addr = endpoint.local_addr();
        assert_ne!(addr.port(), 0);
        let ok = request(
            addr,
            "GET /metrics?x=1 HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,*/*;q=0.1",
        );
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains(OPENMETRICS), "{ok}");
        assert!(ok.ends_with(OPENMETRICS_TEXT), "{ok}");
        let classic = request(addr, "GET /metrics HTTP/1.1");
        assert!(classic.contains(PROMETHEUS_TEXT), "{classic}");
        assert!(classic.ends_with("depth 2\n"), "{classic}");
        assert!(request(addr, "GET /nothing HTTP/1.1").starts_with("HTTP/1.1 404"));
        assert!(request(addr, "POST /metrics HTTP/1.1").starts_with("HTTP/1.1 405"));
        endpoint.stop();
        // tiny_http's accept thread closes the socket right after the server is dropped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while TcpStream::connect(addr).is_ok() {
            assert!(std::time::Instant::now() < deadline, "still listening");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
