//! The HTTP adapter: a `tiny_http` server on its own thread answering with [`Monitor::answer`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::Monitor;

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

/// A running endpoint; [`Endpoint::stop`] (or dropping it) closes the socket.
pub struct Endpoint {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Binds `addr` and serves `monitor` from a thread.
    pub fn start(addr: SocketAddr, monitor: Arc<Monitor>) -> Result<Self, EndpointError> {
        let server = tiny_http::Server::http(addr).map_err(|error| EndpointError::Bind {
            addr,
            reason: error.to_string(),
        })?;
        let bound = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| EndpointError::Bind {
                addr,
                reason: "not an IP socket".to_owned(),
            })?;
        let server = Arc::new(server);
        let serving = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("metrics-endpoint".to_owned())
            .spawn(move || serve(&serving, &monitor))
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

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.shut();
    }
}

fn serve(server: &tiny_http::Server, monitor: &Monitor) {
    for request in server.incoming_requests() {
        let reply = if *request.method() == tiny_http::Method::Get {
            let path = request.url().split('?').next().unwrap_or_default();
            monitor.answer(path)
        } else {
            super::Reply {
                status: 405,
                content_type: "text/plain",
                body: "only GET\n".to_owned(),
            }
        };
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
