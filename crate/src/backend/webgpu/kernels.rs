//! The registry of WGSL kernels: every `(name, source, entry point)` the
//! backend may run, compiled on first use. Each `ops` module lists its own.

use super::matmul::{MatmulKernel, MATMUL_SMALL_WGSL, MATMUL_WGSL};
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

/// The tiled GEMM (`kernels/matmul.wgsl`).
pub(crate) const MATMUL: Kernel = Kernel {
    name: "matmul",
    source: MATMUL_WGSL,
    entry: "main",
};

/// The GEMM for small or skinny results (`kernels/matmul_small.wgsl`).
pub(crate) const MATMUL_SMALL: Kernel = Kernel {
    name: "matmul_small",
    source: MATMUL_SMALL_WGSL,
    entry: "main",
};

/// The registered kernel of a GEMM variant.
pub(crate) fn matmul(kernel: MatmulKernel) -> &'static Kernel {
    match kernel {
        MatmulKernel::Large => &MATMUL,
        MatmulKernel::Small => &MATMUL_SMALL,
    }
}

/// Every kernel, each once.
pub(crate) fn all() -> impl Iterator<Item = &'static Kernel> {
    [&MATMUL, &MATMUL_SMALL]
        .into_iter()
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
