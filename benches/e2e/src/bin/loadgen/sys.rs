//! The few system calls std has no safe wrapper for: epoll and `sysconf(_SC_CLK_TCK)`. Every
//! `unsafe` block of the load generator is in this file.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Readiness for reading (and hang-ups and errors, which epoll always reports).
pub const IN: u32 = libc::EPOLLIN as u32;
/// Readiness for writing.
pub const OUT: u32 = libc::EPOLLOUT as u32;

/// A level-triggered epoll instance; each registered descriptor carries a `u64` token.
pub struct Epoll {
    fd: OwnedFd,
}

/// One readiness report: the token given at registration and the ready events.
#[derive(Clone, Copy)]
pub struct Ready {
    pub token: u64,
    pub events: u32,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a non-negative result of epoll_create1 is a new descriptor that nothing else
        // owns, so OwnedFd may take it (and close it once).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: both descriptors are open (the caller holds `fd`, we hold the epoll one);
        // `ev` is a valid epoll_event that outlives the call (the kernel copies it).
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn add(&self, fd: &impl AsRawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd.as_raw_fd(), events, token)
    }

    pub fn modify(&self, fd: &impl AsRawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd.as_raw_fd(), events, token)
    }

    /// Waits up to `timeout_ms` (-1: no limit) and replaces the contents of `out` with what
    /// is ready (nothing on a timeout or an interrupted wait). `buf` is scratch space: at most
    /// `buf.capacity()` reports are taken at once.
    pub fn wait(
        &self,
        buf: &mut Vec<libc::epoll_event>,
        out: &mut Vec<Ready>,
        timeout_ms: i32,
    ) -> io::Result<()> {
        out.clear();
        let cap = buf.capacity().clamp(1, i32::MAX as usize);
        // SAFETY: `buf` has room for `cap` epoll_event entries and the kernel writes at most
        // `cap` (the maxevents argument); the epoll descriptor is open.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr(),
                cap as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        // SAFETY: epoll_wait initialised the first `n` (<= cap) entries.
        unsafe { buf.set_len(n as usize) };
        out.extend(buf.iter().map(|e| Ready {
            token: e.u64,
            events: e.events,
        }));
        buf.clear();
        Ok(())
    }
}

/// Clock ticks per second, the unit of the CPU times in /proc/PID/stat.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf takes no pointers and has no side effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}
