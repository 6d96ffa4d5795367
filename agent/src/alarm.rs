//! [`Alarm`]: a reusable one-shot timer that wakes the runtime's thread once, at its deadline.
//!
//! tokio's timer wheel wakes its thread at the start of the wheel slot that holds a deadline
//! (64 ms wide for deadlines between 64 ms and 4 s away), then again at the deadline: two
//! wake-ups where one would do, for each sampling tick and each delivery poll. On Linux an
//! alarm is a `timerfd` registered with the runtime's reactor, so the thread wakes only when
//! it fires; elsewhere, or when no `timerfd` can be had, it is tokio's own sleep.

use tokio::time::Instant;

/// A one-shot timer, re-armed by each [`Alarm::sleep_until`]. See the module documentation.
#[derive(Debug)]
pub struct Alarm {
    #[cfg(target_os = "linux")]
    timer: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl Alarm {
    /// An alarm on the current runtime's reactor when there is one (inside a runtime with its
    /// I/O driver enabled, on Linux); tokio's sleep otherwise.
    pub fn new() -> Self {
        Alarm {
            #[cfg(target_os = "linux")]
            timer: timerfd::new().ok(),
        }
    }

    /// Completes at `at`, at once if it has passed. Cancel-safe: a call dropped before it
    /// completes leaves the alarm ready for the next one.
    pub async fn sleep_until(&mut self, at: Instant) {
        #[cfg(target_os = "linux")]
        if let Some(timer) = &self.timer {
            match timerfd::sleep_until(timer, at).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::debug!(%error, "timerfd failed; using tokio's timer");
                    self.timer = None;
                }
            }
        }
        tokio::time::sleep_until(at).await;
    }
}

impl Default for Alarm {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(target_os = "linux")]
mod timerfd {
    use std::io;
    use std::os::fd::OwnedFd;

    use rustix::time::{
        Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
        timerfd_settime,
    };
    use tokio::io::unix::AsyncFd;
    use tokio::time::Instant;

    /// A non-blocking monotonic `timerfd` registered with the current runtime's reactor.
    pub(super) fn new() -> io::Result<AsyncFd<OwnedFd>> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // Fails outside a runtime, or in one without its I/O driver. `new` is deprecated for
        // lacking I/O safety (tokio#8587: an `AsyncFd<T>` over a `T` whose descriptor can be
        // closed, and the number reused, while it is registered); here the `AsyncFd` owns the
        // `OwnedFd` and only ever lends it by shared reference, so the descriptor lives exactly
        // as long as the registration. Its replacement, `register`, is `unsafe`.
        #[allow(deprecated)]
        AsyncFd::new(fd)
    }

    /// Arms `timer` for `at` and waits until it fires (a new arming discards an expiry left
    /// unread by a cancelled wait, which at worst costs one empty read).
    pub(super) async fn sleep_until(timer: &AsyncFd<OwnedFd>, at: Instant) -> io::Result<()> {
        loop {
            let now = Instant::now();
            if at <= now {
                return Ok(());
            }
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            let value = Timespec::try_from(at - now)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "deadline too far"))?;
            timerfd_settime(
                timer.get_ref(),
                TimerfdTimerFlags::empty(),
                &Itimerspec {
                    it_interval: zero,
                    it_value: value,
                },
            )?;
            let mut ready = timer.readable().await?;
            let mut expirations = [0u8; 8];
            match ready.try_io(|fd| {
                rustix::io::read(fd.get_ref(), &mut expirations).map_err(io::Error::from)
            }) {
                // Fired: it is one-shot, so nothing more comes until it is armed again.
                Ok(read) => {
                    read?;
                    ready.clear_ready();
                }
                // A stale readiness (try_io cleared it): arm again and wait.
                Err(_would_block) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn wakes_at_its_deadline_and_survives_a_cancelled_wait() {
        let mut alarm = Alarm::new();
        #[cfg(target_os = "linux")]
        assert!(alarm.timer.is_some(), "a timerfd inside a runtime");
        let start = Instant::now();
        // A wait cancelled before its deadline, whose expiry is then left unread.
        let cancelled = tokio::time::timeout(
            Duration::from_millis(5),
            alarm.sleep_until(start + Duration::from_millis(20)),
        )
        .await;
        assert!(cancelled.is_err(), "the first wait was cancelled");
        tokio::time::sleep(Duration::from_millis(30)).await;
        let deadline = Instant::now() + Duration::from_millis(50);
        alarm.sleep_until(deadline).await;
        assert!(
            Instant::now() >= deadline,
            "the stale expiry did not end the wait"
        );
        let deadline = Instant::now() + Duration::from_millis(10);
        alarm.sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
        // A deadline already passed completes at once.
        alarm.sleep_until(start).await;
    }
}
