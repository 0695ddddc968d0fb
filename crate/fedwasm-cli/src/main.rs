//! The `fedwasm` command line (native only; see `cli.rs` for the commands).
//!
//! The CLI is its own crate (`fedwasm-cli`), so the library's wasm32 build
//! (`fedwasm.wasm`) and this binary never share a file name. On wasm32 the
//! binary is an empty stub, so that workspace-wide wasm32 builds succeed.

#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod help;
#[cfg(not(target_arch = "wasm32"))]
mod simulate;

/// Counts allocations for `fedwasm bench fuzz` (otherwise it only forwards
/// to the system allocator, at the cost of one thread-local check).
#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static ALLOC: fedwasm::fuzz::CountingAlloc = fedwasm::fuzz::CountingAlloc;

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
