# The README's two commands:
#   make demo   — runs the demo (a Rust echo server and client talking over loopback)
#   make test   — installs what is missing and runs every test (what CI runs)
SHELL := /bin/bash
CARGO ?= cargo
NOSTD_TARGETS := thumbv6m-none-eabi riscv32imc-unknown-none-elf

.PHONY: demo test setup lint test-rust nostd doc conformance

demo: setup
	bash scripts/demo.sh

test: setup lint test-rust nostd doc
	@echo "make test: all checks passed"

setup:
	bash scripts/setup-rust.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace

# The core builds for microcontroller targets: no std, no alloc.
nostd:
	for t in $(NOSTD_TARGETS); do $(CARGO) build -p wsmachine --release --target $$t || exit 1; done

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p wsmachine --no-deps
