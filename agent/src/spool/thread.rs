//! The spool on a thread of its own: its file I/O (append and fsync, reads, settling, cursor
//! commits) never runs on the async runtime's worker threads. [`SpoolThread`] is the handle
//! the shipper keeps; requests are served in the order they are sent, so a record appended
//! (and fsynced) before a read is what that read can return. A tick of the agent costs one
//! request ([`SpoolThread::round`]: the settlements since the last one, the append, the read
//! back and the cursor together), so one wake-up of this thread and one of the asker.

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
    Round(Round, Reply<RoundOutcome>),
    Read(usize, Reply<Result<Vec<SpooledRecord>, SpoolError>>),
    Rewind(Reply<()>),
    CommitCursor(Vec<u64>, Durability, Reply<Result<(), SpoolError>>),
}

/// What [`SpoolThread::round`] does, in this order: settle, append (and fsync), read, cursor.
#[derive(Debug)]
pub struct Round {
    /// Delivered records to settle first ([`Spool::settle`]).
    pub settled: Vec<u64>,
    /// The records to append ([`Spool::append`]); shared, so the caller keeps them should the
    /// append fail.
    pub records: Arc<[Vec<u8>]>,
    /// How many records to read after appending ([`Spool::read`]); 0 reads nothing.
    pub read: usize,
    /// Whether to write (or commit) the cursor last.
    pub cursor: Option<Durability>,
}

/// What a [`Round`] did: each step's outcome (a failed step does not stop the next ones).
#[derive(Debug)]
pub struct RoundOutcome {
    /// The first sequence number given to the records: once `Ok`, they are on disk.
    pub appended: Result<u64, SpoolError>,
    /// The records read.
    pub read: Result<Vec<SpooledRecord>, SpoolError>,
    /// The cursor's write or commit, if asked.
    pub cursor: Result<(), SpoolError>,
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
    thread: JoinHandle<()>,
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
            thread,
        })
    }

    /// A [`Round`] on the spool's thread, in one request.
    ///
    /// # Errors
    /// [`SpoolError::Stopped`]; the steps' own errors are in the [`RoundOutcome`].
    pub async fn round(&mut self, round: Round) -> Result<RoundOutcome, SpoolError> {
        self.ask(|reply| Request::Round(round, reply)).await
    }

    /// [`Spool::read`] on the spool's thread.
    ///
    /// # Errors
    /// As [`Spool::read`], or [`SpoolError::Stopped`].
    pub async fn read(&mut self, max: usize) -> Result<Vec<SpooledRecord>, SpoolError> {
        self.ask(|reply| Request::Read(max, reply)).await?
    }

    /// [`Spool::rewind`] on the spool's thread.
    ///
    /// # Errors
    /// [`SpoolError::Stopped`].
    pub async fn rewind(&mut self) -> Result<(), SpoolError> {
        self.ask(Request::Rewind).await
    }

    /// [`Spool::settle`] of every sequence number of `settled`, then [`Spool::write_cursor`]
    /// or [`Spool::commit_cursor`] (as `durability` says), on the spool's thread.
    ///
    /// # Errors
    /// As [`Spool::commit_cursor`], or [`SpoolError::Stopped`].
    pub async fn commit_cursor(
        &mut self,
        settled: Vec<u64>,
        durability: Durability,
    ) -> Result<(), SpoolError> {
        self.ask(|reply| Request::CommitCursor(settled, durability, reply))
            .await?
    }

    /// Lets the thread end and waits for it (on tokio's blocking pool, not on the caller's
    /// thread): it drops the spool, which cuts the active segment back to its data, so a spool
    /// closed this way holds no zero-filled room on disk.
    pub async fn close(self) {
        let SpoolThread {
            requests, thread, ..
        } = self;
        drop(requests);
        // A panic of the thread has been printed already.
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
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
            Request::Round(round, reply) => {
                settle(&mut spool, round.settled);
                let appended = spool.append(&round.records);
                let read = match round.read {
                    0 => Ok(Vec::new()),
                    max => spool.read(max),
                };
                let cursor = round
                    .cursor
                    .map_or(Ok(()), |durability| cursor(&mut spool, durability));
                let outcome = RoundOutcome {
                    appended,
                    read,
                    cursor,
                };
                let _ = reply.send((outcome, Status::of(&spool)));
            }
            Request::Read(max, reply) => {
                let result = spool.read(max);
                let _ = reply.send((result, Status::of(&spool)));
            }
            Request::Rewind(reply) => {
                spool.rewind();
                let _ = reply.send(((), Status::of(&spool)));
            }
            Request::CommitCursor(settled, durability, reply) => {
                settle(&mut spool, settled);
                let result = cursor(&mut spool, durability);
                let _ = reply.send((result, Status::of(&spool)));
            }
        }
    }
}

/// Settles every sequence number of `seqs`; a failure is logged (the record is then only
/// settled again after a restart, as a duplicate).
fn settle(spool: &mut Spool, seqs: Vec<u64>) {
    for seq in seqs {
        if let Err(error) = spool.settle(seq) {
            tracing::error!(%error, "cannot settle a delivered record in the spool");
        }
    }
}

/// Writes or commits the cursor, as `durability` says.
fn cursor(spool: &mut Spool, durability: Durability) -> Result<(), SpoolError> {
    match durability {
        Durability::Written => spool.write_cursor(),
        Durability::Synced => spool.commit_cursor(),
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
        let first = thread
            .round(Round {
                settled: Vec::new(),
                records: round(&["a", "b", "c"]),
                read: 10,
                cursor: None,
            })
            .await
            .expect("round");
        assert_eq!(first.appended.expect("append"), 0);
        let read = first.read.expect("read");
        assert_eq!(read.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(!thread.has_unread());
        // A round settles before it appends and writes the cursor last.
        let second = thread
            .round(Round {
                settled: vec![0, 1],
                records: round(&["d"]),
                read: 0,
                cursor: Some(Durability::Synced),
            })
            .await
            .expect("round");
        assert_eq!(second.appended.expect("append"), 3);
        assert!(second.read.expect("nothing read").is_empty());
        second.cursor.expect("cursor committed");
        assert!(thread.has_unread());
        assert_eq!(thread.stats().depth, 2);
        thread.rewind().await.expect("rewind");
        let again = thread.read(10).await.expect("read again");
        assert_eq!(
            again,
            [
                SpooledRecord {
                    seq: 2,
                    payload: b"c".to_vec()
                },
                SpooledRecord {
                    seq: 3,
                    payload: b"d".to_vec()
                }
            ]
        );
        thread
            .commit_cursor(vec![2], Durability::Written)
            .await
            .expect("settle and write");
        assert_eq!(thread.stats().depth, 1);
        thread.close().await;
        let on_disk: u64 = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "seg"))
            .map(|path| std::fs::metadata(path).expect("stat").len())
            .sum();
        assert_eq!(
            on_disk,
            4 * (crate::spool::frame::HEADER_LEN as u64 + 1),
            "closed, the spool holds its four records and no zeros"
        );

        let (reopened, recovery) = Spool::open(dir.path(), LIMITS).expect("reopen");
        assert_eq!(recovery.replay, 1, "the written cursor is in the file");
        assert_eq!(reopened.stats().depth, 1);
    }
}
