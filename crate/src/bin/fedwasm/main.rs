//! The `fedwasm` command line (native only; see `cli.rs` for the commands).
//!
//! On wasm32 this binary is an empty stub, so that `cargo test --target
//! wasm32-unknown-unknown` can build the package: the wasm build exposes its
//! functions to JavaScript through the library instead.

#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod simulate;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
