//! The registry of WGSL kernels: every `(name, source, entry point)` the
//! backend may run, compiled on first use. Each `ops` module lists its own.

use super::matmul::MatmulKernel;
use super::ops;

/// One compute entry point of a WGSL file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernel {
    /// Unique name, used to look the pipeline up.
    pub name: &'static str,
    /// The WGSL source (a file under `kernels/`).
    pub source: &'static str,
    /// The `@compute` function.
    pub entry: &'static str,
}

impl Kernel {
    /// The entry point `entry` of `source`, registered under the same name
    /// (entry point names are unique across all kernel files).
    pub(crate) const fn entry(source: &'static str, entry: &'static str) -> Kernel {
        Kernel {
            name: entry,
            source,
            entry,
        }
    }
}

/// The two GEMM kernels (`kernels/matmul.wgsl`, `kernels/matmul_small.wgsl`),
/// registered under [`MatmulKernel::name`].
const MATMULS: &[Kernel] = &[MatmulKernel::Large.kernel(), MatmulKernel::Small.kernel()];

/// Every kernel, each once.
pub(crate) fn all() -> impl Iterator<Item = &'static Kernel> {
    MATMULS
        .iter()
        .chain(ops::elementwise::KERNELS)
        .chain(ops::loss::KERNELS)
        .chain(ops::conv::KERNELS)
        .chain(ops::embed::KERNELS)
        .chain(ops::optim::KERNELS)
}

/// The kernel called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Kernel> {
    all().find(|k| k.name == name)
}
