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
    // Backend selection probes for a Vulkan GPU; Mesa's loader complains on
    // stderr when there is no runtime dir (CI containers, sudo shells).
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: nothing else runs yet: no other thread reads the environment.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
