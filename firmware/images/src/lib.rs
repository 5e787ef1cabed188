//! Runtime glue for the QEMU test images (Cortex-M and RISC-V): reporting over semihosting,
//! exit codes, a check counter, stack painting, and the panic and fault handlers.
//!
//! Exit codes (the shell sees them through `qemu-system-* -semihosting-config
//! enable=on,target=native`, see `scripts/tools/run-qemu.sh`):
//!
//! | code | meaning |
//! |---:|---|
//! | 0 | every check passed |
//! | 1 | a [`check`] failed (`FAIL: <what>` printed) |
//! | 101 | panic (`PANIC at file:line` printed) |
//! | 102 | HardFault / CPU exception (`FAULT` printed) |
//!
//! A hang is caught by the runner's timeout (124). Semihosting works only under QEMU or a
//! debugger: on a real board without one, the `bkpt`/`ebreak` traps. These images are tests.
//!
//! Nothing here formats with `core::fmt`, so the images measure the library, not the harness.
#![no_std]

#[cfg(target_arch = "arm")]
pub use cortex_m_rt::entry;
#[cfg(target_arch = "riscv32")]
pub use riscv_rt::entry;

pub use core::hint::black_box;

pub mod vectors;
pub mod work;

/// Exit code of a failed check.
pub const EXIT_CHECK: u32 = 1;
/// Exit code of a panic.
pub const EXIT_PANIC: u32 = 101;
/// Exit code of a HardFault or CPU exception.
pub const EXIT_FAULT: u32 = 102;

/// Semihosting (ARM "Semihosting for AArch32 and AArch64" v2; RISC-V semihosting uses the same
/// operations through `ebreak`).
pub mod semihosting {
    const SYS_OPEN: usize = 0x01;
    const SYS_WRITE: usize = 0x05;
    const SYS_EXIT_EXTENDED: usize = 0x20;
    /// `ADP_Stopped_ApplicationExit`: the reason that carries an exit status.
    const ADP_STOPPED_APPLICATION_EXIT: usize = 0x2_0026;

    /// One semihosting call: operation `op`, parameter (usually a pointer to a block).
    ///
    /// # Safety
    /// `arg` must be what `op` expects (a valid parameter block for the block operations).
    #[cfg(target_arch = "arm")]
    #[inline(never)]
    pub unsafe fn call(op: usize, arg: usize) -> isize {
        let r: isize;
        // SAFETY: `bkpt 0xab` is the Thumb semihosting trap; QEMU services it and returns.
        unsafe {
            core::arch::asm!("bkpt #0xab", inout("r0") op => r, in("r1") arg, options(nostack))
        };
        r
    }

    /// One semihosting call (RISC-V: the `slli/ebreak/srai` sequence, uncompressed and within
    /// one 16-byte block so that the debugger recognises it).
    ///
    /// # Safety
    /// As for the ARM version.
    #[cfg(target_arch = "riscv32")]
    #[inline(never)]
    pub unsafe fn call(op: usize, arg: usize) -> isize {
        let r: isize;
        // SAFETY: the magic sequence is a no-op around `ebreak`, which QEMU services.
        unsafe {
            core::arch::asm!(
                ".balign 16",
                ".option push",
                ".option norvc",
                "slli zero, zero, 0x1f",
                "ebreak",
                "srai zero, zero, 0x7",
                ".option pop",
                inout("a0") op => r,
                in("a1") arg,
                options(nostack),
            )
        };
        r
    }

    static mut STDOUT: isize = -1;

    fn stdout() -> isize {
        // SAFETY: single-threaded firmware without interrupt handlers that print.
        unsafe {
            let h = core::ptr::addr_of_mut!(STDOUT);
            if *h < 0 {
                // ":tt" opened with mode 4 ("w") is the debugger's stdout.
                let block = [c":tt".as_ptr() as usize, 4, 3];
                *h = call(SYS_OPEN, block.as_ptr() as usize);
            }
            *h
        }
    }

    /// Writes `bytes` to the host's stdout.
    pub fn write(bytes: &[u8]) {
        let h = stdout();
        if h >= 0 && !bytes.is_empty() {
            let block = [h as usize, bytes.as_ptr() as usize, bytes.len()];
            // SAFETY: a valid SYS_WRITE block; the bytes outlive the call.
            unsafe { call(SYS_WRITE, block.as_ptr() as usize) };
        }
    }

    /// Ends the emulation; `code` (0-255) becomes QEMU's exit status.
    pub fn exit(code: u32) -> ! {
        let block = [ADP_STOPPED_APPLICATION_EXIT, code as usize];
        // SAFETY: a valid SYS_EXIT_EXTENDED block.
        unsafe { call(SYS_EXIT_EXTENDED, block.as_ptr() as usize) };
        // Not under a debugger that honours it: stop here.
        loop {
            core::hint::spin_loop();
        }
    }
}

/// Writes bytes to the host's stdout.
pub fn out(bytes: &[u8]) {
    semihosting::write(bytes);
}

/// Writes a string.
pub fn print(s: &str) {
    out(s.as_bytes());
}

/// Writes an unsigned number in decimal (without `core::fmt`).
pub fn print_u32(n: u32) {
    let mut buf = [0u8; 10];
    let mut start = buf.len();
    let mut rest = n;
    for (i, d) in buf.iter_mut().enumerate().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            start = i;
            break;
        }
    }
    out(buf.get(start..).unwrap_or_default());
}

/// Writes `key=value` and a newline.
pub fn kv(key: &str, value: u32) {
    print(key);
    print("=");
    print_u32(value);
    print("\n");
}

/// Writes bytes as lowercase hex.
pub fn print_hex(bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
    }
}

/// Ends the run with `code` (see the table at the top).
pub fn exit(code: u32) -> ! {
    semihosting::exit(code)
}

static mut CHECKS: u32 = 0;

/// A test assertion: counts it, or prints `FAIL: <what>` and exits with status 1.
#[inline(never)]
pub fn check(cond: bool, what: &str) {
    if !cond {
        print("FAIL: ");
        print(what);
        print("\n");
        exit(EXIT_CHECK);
    }
    // SAFETY: single-threaded.
    unsafe { *core::ptr::addr_of_mut!(CHECKS) += 1 };
}

/// The connection a check needs: a constructor that refuses the configuration fails the run
/// (`what` names the check).
#[inline(never)]
pub fn built(
    conn: Result<wsmachine::Connection, wsmachine::Error>,
    what: &str,
) -> wsmachine::Connection {
    match conn {
        Ok(c) => c,
        Err(_) => {
            check(false, what);
            exit(EXIT_CHECK)
        }
    }
}

/// [`built`] for a connection that lives in `slot` (static memory, as in firmware): moves it
/// straight from the constructor's `Result` into the slot. Inlined so that no second
/// `Connection`-sized temporary (the return value of an out-of-line `built`) lands on the
/// caller's stack.
#[inline(always)]
pub fn built_in<'s>(
    slot: &'s mut core::mem::MaybeUninit<wsmachine::Connection>,
    conn: Result<wsmachine::Connection, wsmachine::Error>,
    what: &str,
) -> &'s mut wsmachine::Connection {
    match conn {
        Ok(c) => slot.write(c),
        Err(_) => {
            check(false, what);
            exit(EXIT_CHECK)
        }
    }
}

/// Like [`check`] for byte strings, printing both in hex on a mismatch.
#[inline(never)]
pub fn check_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        print("FAIL: ");
        print(what);
        print("\n  got  ");
        print_hex(got);
        print("\n  want ");
        print_hex(want);
        print("\n");
        exit(EXIT_CHECK);
    }
    check(true, what);
}

/// How many checks have passed.
pub fn checks_passed() -> u32 {
    // SAFETY: single-threaded.
    unsafe { *core::ptr::addr_of!(CHECKS) }
}

/// Stack high-water mark by painting: [`stack::paint`] first thing in `main`, run the work,
/// then [`stack::used`] is the deepest stack use in bytes, counted from the top of the stack
/// (so it includes the reset handler's and `main`'s frames). It measures the path executed,
/// not a proven worst case.
pub mod stack {
    const PAINT: u32 = 0xCCCC_CCCC;

    #[cfg(target_arch = "arm")]
    extern "C" {
        /// Top of the stack (cortex-m-rt).
        static _stack_start: u32;
        /// Lowest stack address: the end of .bss/.uninit (cortex-m-rt).
        static _stack_end: u32;
    }
    #[cfg(target_arch = "riscv32")]
    extern "C" {
        /// Top of the stack (riscv-rt).
        static _stack_start: u32;
        /// Lowest stack address (riscv-rt's `.stack` region starts here).
        static __estack: u32;
    }

    fn top() -> usize {
        core::ptr::addr_of!(_stack_start) as usize
    }

    fn bottom() -> usize {
        #[cfg(target_arch = "arm")]
        let b = core::ptr::addr_of!(_stack_end) as usize;
        #[cfg(target_arch = "riscv32")]
        let b = core::ptr::addr_of!(__estack) as usize;
        (b + 3) & !3
    }

    #[inline(always)]
    fn sp() -> usize {
        let sp: usize;
        // SAFETY: reads the stack pointer.
        #[cfg(target_arch = "arm")]
        unsafe {
            core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        // SAFETY: reads the stack pointer.
        #[cfg(target_arch = "riscv32")]
        unsafe {
            core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }

    /// Bytes between the end of static RAM and the top of RAM.
    pub fn size() -> u32 {
        (top() - bottom()) as u32
    }

    /// Paints everything below the current frame.
    #[inline(never)]
    pub fn paint() {
        let limit = (sp() - 64) & !3;
        let mut p = bottom();
        while p < limit {
            // SAFETY: free stack between the end of static RAM and our own frame.
            unsafe { (p as *mut u32).write_volatile(PAINT) };
            p += 4;
        }
    }

    /// Deepest stack use since [`paint`], in bytes.
    #[inline(never)]
    pub fn used() -> u32 {
        let mut p = bottom();
        let t = top();
        // SAFETY: reads RAM between the end of statics and the top of the stack.
        while p < t && unsafe { (p as *const u32).read_volatile() } == PAINT {
            p += 4;
        }
        (t - p) as u32
    }
}

/// Prints the closing lines (`stack_used`, `checks`, `<name>: ok`) and exits 0.
pub fn finish(name: &str) -> ! {
    kv("stack_used", stack::used());
    kv("checks", checks_passed());
    print(name);
    print(": ok\n");
    exit(0)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    print("PANIC");
    if let Some(loc) = info.location() {
        print(" at ");
        print(loc.file());
        print(":");
        print_u32(loc.line());
    }
    if let Some(msg) = info.message().as_str() {
        print(": ");
        print(msg);
    }
    print("\n");
    exit(EXIT_PANIC)
}

#[cfg(target_arch = "arm")]
#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    print("FAULT: HardFault\n");
    exit(EXIT_FAULT)
}

#[cfg(target_arch = "arm")]
#[cortex_m_rt::exception]
unsafe fn DefaultHandler(_irqn: i16) {
    print("FAULT: unexpected exception or interrupt\n");
    exit(EXIT_FAULT)
}

#[cfg(target_arch = "riscv32")]
#[export_name = "ExceptionHandler"]
fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    print("FAULT: exception\n");
    exit(EXIT_FAULT)
}
