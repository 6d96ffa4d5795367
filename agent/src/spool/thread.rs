//! The spool on a thread of its own: its file I/O (append and fsync, reads, settling, cursor
//! commits) never runs on the async runtime's worker threads. [`SpoolThread`] is the handle
//! the shipper keeps; requests are served in the order they are sent, so a record appended
//! (and fsynced) before a read is what that read can return.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::{Spool, SpoolError, SpoolStats, SpooledRecord};

/// What the spool looked like after the last answered request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Status {
    stats: SpoolStats,
    has_unread: bool,
}

impl Status {
    fn of(spool: &Spool) -> Self {
        Status {
            stats: spool.stats(),
            has_unread: spool.has_unread(),
        }
    }
}

/// Where a request's answer goes, with the spool's status after it.
type Reply<T> = oneshot::Sender<(T, Status)>;

enum Request {
    Append(Arc<[Vec<u8>]>, Reply<Result<u64, SpoolError>>),
    Read(usize, Reply<Result<Vec<SpooledRecord>, SpoolError>>),
    Settle(Vec<u64>),
    Rewind(Reply<()>),
    CommitCursor(Durability, Reply<Result<(), SpoolError>>),
}

/// How far a cursor commit goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// [`Spool::write_cursor`]: written, not fsynced.
    Written,
    /// [`Spool::commit_cursor`]: written and fsynced.
    Synced,
}

/// The handle of the thread that owns a [`Spool`]. Dropping it lets the thread finish the
/// requests already sent, then end.
#[derive(Debug)]
pub struct SpoolThread {
    requests: mpsc::UnboundedSender<Request>,
    status: Status,
    _thread: JoinHandle<()>,
}

impl SpoolThread {
    /// Moves `spool` to a new thread named `spool`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(spool: Spool) -> std::io::Result<Self> {
        let status = Status::of(&spool);
        let (requests, inbox) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("spool".to_owned())
            .spawn(move || serve(spool, inbox))?;
        Ok(SpoolThread {
            requests,
            status,
            _thread: thread,
        })
    }

    /// [`Spool::append`] on the spool's thread: once this returns `Ok`, the records are on
    /// disk. The records are shared, so the caller keeps them should this fail.
    ///
    /// # Errors
    /// As [`Spool::append`], or [`SpoolError::Stopped`].
    pub async fn append(&mut self, records: Arc<[Vec<u8>]>) -> Result<u64, SpoolError> {
        self.ask(|reply| Request::Append(records, reply)).await?
    }

    /// [`Spool::read`] on the spool's thread.
    ///
    /// # Errors
    /// As [`Spool::read`], or [`SpoolError::Stopped`].
    pub async fn read(&mut self, max: usize) -> Result<Vec<SpooledRecord>, SpoolError> {
        self.ask(|reply| Request::Read(max, reply)).await?
    }

    /// [`Spool::settle`] of every sequence number of `seqs` on the spool's thread, without
    /// waiting: a failure is logged there (the record is then only settled again after a
    /// restart, as a duplicate).
    pub fn settle(&self, seqs: Vec<u64>) {
        // Only a stopped thread refuses, and then nothing can be settled anyway.
        let _ = self.requests.send(Request::Settle(seqs));
    }

    /// [`Spool::rewind`] on the spool's thread.
    ///
    /// # Errors
    /// [`SpoolError::Stopped`].
    pub async fn rewind(&mut self) -> Result<(), SpoolError> {
        self.ask(Request::Rewind).await
    }

    /// [`Spool::write_cursor`] or [`Spool::commit_cursor`] (as `durability` says) on the
    /// spool's thread, after every settlement sent before.
    ///
    /// # Errors
    /// As [`Spool::commit_cursor`], or [`SpoolError::Stopped`].
    pub async fn commit_cursor(&mut self, durability: Durability) -> Result<(), SpoolError> {
        self.ask(|reply| Request::CommitCursor(durability, reply))
            .await?
    }

    /// [`Spool::stats`] as of the last answered request (settlements sent since are not
    /// counted yet).
    pub fn stats(&self) -> SpoolStats {
        self.status.stats
    }

    /// [`Spool::has_unread`] as of the last answered request.
    pub fn has_unread(&self) -> bool {
        self.status.has_unread
    }

    async fn ask<T>(&mut self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T, SpoolError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(request(reply))
            .map_err(|_| SpoolError::Stopped)?;
        let (value, status) = answer.await.map_err(|_| SpoolError::Stopped)?;
        self.status = status;
        Ok(value)
    }
}

/// The spool thread: serves requests until the handle is dropped.
fn serve(mut spool: Spool, mut inbox: mpsc::UnboundedReceiver<Request>) {
    while let Some(request) = inbox.blocking_recv() {
        // A dropped reply means the asker stopped waiting: nothing to do about it.
        match request {
            Request::Append(records, reply) => {
                let result = spool.append(&records);
                let _ = reply.send((result, Status::of(&spool)));
            }
            Request::Read(max, reply) => {
                let result = spool.read(max);
                let _ = reply.send((result, Status::of(&spool)));
            }
            Request::Settle(seqs) => {
                for seq in seqs {
                    if let Err(error) = spool.settle(seq) {
                        tracing::error!(%error, "cannot settle a delivered record in the spool");
                    }
                }
            }
            Request::Rewind(reply) => {
                spool.rewind();
                let _ = reply.send(((), Status::of(&spool)));
            }
            Request::CommitCursor(durability, reply) => {
                let result = match durability {
                    Durability::Written => spool.write_cursor(),
                    Durability::Synced => spool.commit_cursor(),
                };
                let _ = reply.send((result, Status::of(&spool)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::SpoolLimits;

    const LIMITS: SpoolLimits = SpoolLimits {
        max_bytes: 1 << 20,
        segment_bytes: 1 << 16,
    };

    fn round(texts: &[&str]) -> Arc<[Vec<u8>]> {
        texts.iter().map(|t| t.as_bytes().to_vec()).collect()
    }

    #[tokio::test]
    async fn requests_are_served_in_order_and_the_cursor_reaches_the_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (spool, _) = Spool::open(dir.path(), LIMITS).expect("open");
        let mut thread = SpoolThread::start(spool).expect("start");
        assert_eq!(
            thread
                .append(round(&["a", "b", "c"]))
                .await
                .expect("append"),
            0
        );
        assert!(thread.has_unread());
        let read = thread.read(10).await.expect("read");
        assert_eq!(read.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(!thread.has_unread());
        thread.settle(vec![0, 1]);
        // The commit is served after the settlements sent before it.
        thread
            .commit_cursor(Durability::Synced)
            .await
            .expect("commit");
        assert_eq!(thread.stats().depth, 1);
        thread.rewind().await.expect("rewind");
        let again = thread.read(10).await.expect("read again");
        assert_eq!(
            again,
            [SpooledRecord {
                seq: 2,
                payload: b"c".to_vec()
            }]
        );
        drop(thread);

        let (reopened, recovery) = Spool::open(dir.path(), LIMITS).expect("reopen");
        assert_eq!(recovery.replay, 1, "the committed cursor is on disk");
        assert_eq!(reopened.stats().depth, 1);
    }
}
