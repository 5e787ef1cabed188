//! Writes the memory map of the QEMU board used for $TARGET as `memory.x` on the linker
//! search path (cortex-m-rt's and riscv-rt's `link.x` include it) and links the images with
//! `link.x`. Host builds (no bare-metal --target) link nothing. Shared by the `ews` package
//! (`build = "../images/build.rs"`).
use std::{env, fs, path::PathBuf};

/// QEMU -machine microbit: nRF51822, Cortex-M0, 256 KiB flash, 16 KiB RAM.
const MICROBIT: &str = "MEMORY
{
  FLASH : ORIGIN = 0x00000000, LENGTH = 256K
  RAM   : ORIGIN = 0x20000000, LENGTH = 16K
}
";

/// QEMU -machine mps2-an386: Cortex-M4F. The board has 4 MiB at each address; the images are
/// held to a typical 256 KiB flash / 64 KiB RAM part so that an overflow shows at link time.
const MPS2_AN386: &str = "MEMORY
{
  FLASH : ORIGIN = 0x00000000, LENGTH = 256K
  RAM   : ORIGIN = 0x20000000, LENGTH = 64K
}
";

/// QEMU -machine virt -bios none (an ESP32-C3 class RV32IMC CPU; no ESP peripherals):
/// execution starts at 0x8000_0000 in DRAM, so "flash" and RAM are both carved out of DRAM.
const RISCV_VIRT: &str = "MEMORY
{
  FLASH : ORIGIN = 0x80000000, LENGTH = 256K
  RAM   : ORIGIN = 0x80040000, LENGTH = 64K
}
REGION_ALIAS(\"REGION_TEXT\", FLASH);
REGION_ALIAS(\"REGION_RODATA\", FLASH);
REGION_ALIAS(\"REGION_DATA\", RAM);
REGION_ALIAS(\"REGION_BSS\", RAM);
REGION_ALIAS(\"REGION_HEAP\", RAM);
REGION_ALIAS(\"REGION_STACK\", RAM);
";

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let map = if target.starts_with("thumbv6m") {
        MICROBIT
    } else if target.starts_with("thumbv7") {
        MPS2_AN386
    } else if target.starts_with("riscv32") {
        RISCV_VIRT
    } else {
        return;
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out.join("memory.x"), map).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
