//! Training benchmarks, shared by the native CLI (`fedwasm bench train`,
//! `fedwasm bench recon`) and the wasm build (measured under Node by
//! `tests/node/bench.mjs`).
//!
//! * [`run_train_bench`]: an epoch of local training (softmax or CNN);
//! * [`run_recon_bench`]: the client side of one Federated Reconstruction
//!   round of the matrix-factorisation tutorial ([`recon`]);
//! * [`run_matmul_bench`]: square GEMM rates of the WebGPU kernel and the CPU
//!   backend (`fedwasm bench matmul`; [`matmul`]).
//!
//! FLOPs are counted, not estimated: [`FlopCounter`] wraps a backend and adds
//! `2 m n k` for every GEMM-shaped operation (matmul, convolution forward and
//! both convolution gradients) of one training step. GFLOP/s is that count
//! over the measured time. The GEMM reference rate is a square `sgemm` of the
//! same backend measured in the same run.

pub mod matmul;
pub mod recon;

pub use matmul::{run_matmul_bench, MatmulBenchResult, MatmulBenchRow};
pub use recon::{run_recon_bench, ReconBench, ReconBenchResult};

use std::cell::Cell;

use serde::{Deserialize, Serialize};

use crate::backend::{
    Backend, BackendInfo, Conv2dGrads, LossOutput, Padding, ReadFuture, ReadManyFuture,
};
use crate::data::{Dataset, ElementSpec, Examples, LabelSpec};
use crate::error::{Error, Result};
use crate::gradient::RowGradient;
use crate::model::{builtin, GraphModel, ModelSpec};
use crate::optim::{OptimizerConfig, UpdateRule};
use crate::rng::Rng;
use crate::tensor::Tensor;
use crate::train::{optimizer_for, train_local, TrainOptions};

/// Seconds from an arbitrary origin, monotonic where the platform allows.
pub fn now_seconds() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_secs_f64()
    }
    #[cfg(target_arch = "wasm32")]
    {
        crate::wasm::performance_now_ms() / 1000.0
    }
}

/// Which model a benchmark trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchModel {
    /// The tutorial's 784 -> 10 softmax regression.
    Softmax,
    /// TFF's EMNIST `cnn_dropout` (10 classes).
    Cnn,
}

impl std::str::FromStr for BenchModel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "softmax" => Ok(BenchModel::Softmax),
            "cnn" => Ok(BenchModel::Cnn),
            other => Err(Error::invalid(
                "bench",
                format!("unknown model {other:?}; use softmax or cnn"),
            )),
        }
    }
}

/// A training benchmark configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainBench {
    /// Model.
    pub model: BenchModel,
    /// Batch size.
    pub batch: usize,
    /// Examples per epoch.
    pub examples: usize,
    /// Timed epochs (after one warm-up epoch); the best is reported.
    pub epochs: usize,
}

/// What a training benchmark measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainBenchResult {
    /// The configuration.
    pub config: TrainBench,
    /// Backend and adapter.
    pub backend: BackendInfo,
    /// Best epoch time in seconds.
    pub epoch_seconds: f64,
    /// Examples per second in the best epoch.
    pub examples_per_second: f64,
    /// GEMM-shaped FLOPs per example (forward + backward), counted.
    pub flops_per_example: f64,
    /// Achieved GFLOP/s in the best epoch.
    pub gflops: f64,
    /// Square sgemm rate of the same backend in the same run.
    pub gemm_gflops: f64,
    /// `gflops / gemm_gflops`.
    pub fraction_of_gemm: f64,
}

/// Random 28x28 "images" with random labels: the benchmark's data.
fn bench_data(examples: usize, seed: u64) -> Result<Examples> {
    let mut rng = Rng::new(seed);
    let x = (0..examples * 784).map(|_| rng.uniform() as f32).collect();
    let y = (0..examples).map(|_| rng.below(10) as f32).collect();
    Examples::new(
        ElementSpec {
            x_shape: vec![784],
            label: LabelSpec::Class { num_classes: 10 },
        },
        x,
        y,
    )
}

fn spec_of(model: BenchModel) -> ModelSpec {
    match model {
        BenchModel::Softmax => builtin::softmax_regression(),
        BenchModel::Cnn => builtin::cnn_dropout(10),
    }
}

/// GFLOP/s of an `n x n x n` matmul on `b` (best of `reps`).
///
/// # Errors
/// Whatever the backend reports.
pub async fn gemm_gflops(b: &dyn Backend, n: usize, reps: usize) -> Result<f64> {
    let mut rng = Rng::new(5);
    let data: Vec<f32> = (0..n * n).map(|_| rng.uniform() as f32).collect();
    let a = b.upload(&[n, n], &data)?;
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t0 = now_seconds();
        let c = b.matmul(&a, &a, false, false)?;
        b.read(&c).await?;
        best = best.min(now_seconds() - t0);
    }
    Ok(2.0 * (n as f64).powi(3) / best / 1e9)
}

/// Runs a training benchmark on `b`: SGD 0.02, one warm-up epoch, then
/// `epochs` timed epochs over the same shuffled data.
///
/// # Errors
/// Whatever the backend or model reports.
pub async fn run_train_bench(b: &dyn Backend, config: &TrainBench) -> Result<TrainBenchResult> {
    if config.batch == 0 || config.examples < config.batch {
        return Err(Error::invalid(
            "bench",
            "need batch >= 1 and examples >= batch",
        ));
    }
    let data = Dataset::from_examples(bench_data(config.examples, 1)?)
        .shuffle(config.examples.min(1000), 7)
        .batch(config.batch, true);
    let mut model = GraphModel::new(spec_of(config.model), b, 3)?;
    let flops_per_example = count_flops(config.model, config.batch)? / config.batch as f64;
    let groups = [crate::model::VariableGroup::GlobalTrainable];
    let mut opt = optimizer_for(b, &model, &groups, OptimizerConfig::sgd(0.02))?;
    let mut best = f64::INFINITY;
    for epoch in 0..=config.epochs {
        let t0 = now_seconds();
        let metrics = train_local(
            b,
            &mut model,
            &mut opt,
            &data,
            &groups,
            TrainOptions::default(),
        )
        .await?;
        // The metrics read-back ends the epoch: all work is done.
        let seconds = now_seconds() - t0;
        if metrics.0.is_empty() {
            return Err(Error::invalid("bench", "training reported no metrics"));
        }
        if epoch > 0 {
            best = best.min(seconds);
        }
    }
    let examples = (config.examples / config.batch * config.batch) as f64;
    let gflops = flops_per_example * examples / best / 1e9;
    let gemm = gemm_gflops(b, 512, 5).await?;
    Ok(TrainBenchResult {
        config: config.clone(),
        backend: b.info(),
        epoch_seconds: best,
        examples_per_second: examples / best,
        flops_per_example,
        gflops,
        gemm_gflops: gemm,
        fraction_of_gemm: gflops / gemm,
    })
}

/// GEMM-shaped FLOPs of one training step of `model` at `batch` (all global
/// trainable variables), counted on the CPU backend (whatever backend the
/// benchmark runs on: the count does not depend on it).
fn count_flops(kind: BenchModel, batch: usize) -> Result<f64> {
    use crate::layers::Mode;
    use crate::model::{DeviceBatch, Model};
    let cpu = crate::backend::CpuBackend::new();
    let model = GraphModel::new(spec_of(kind), &cpu, 3)?;
    let counter = FlopCounter::new(&cpu);
    let spec = model.input_spec();
    let x_len: usize = spec.x_shape.iter().product();
    let mut shape = vec![batch];
    shape.extend(&spec.x_shape);
    let db = DeviceBatch {
        x: Tensor::new(&shape, vec![0.5; batch * x_len])?,
        y: Tensor::new(&[batch], vec![0.0; batch])?,
    };
    let wrt = model.mask(crate::model::VariableGroup::GlobalTrainable);
    model.forward_backward(&counter, &db, Mode::training(0, 0), &wrt)?;
    Ok(counter.flops())
}

/// A backend wrapper that counts GEMM-shaped FLOPs and delegates everything.
pub struct FlopCounter<'a> {
    inner: &'a dyn Backend,
    flops: Cell<f64>,
}

impl<'a> FlopCounter<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn Backend) -> Self {
        FlopCounter {
            inner,
            flops: Cell::new(0.0),
        }
    }

    /// FLOPs counted so far.
    pub fn flops(&self) -> f64 {
        self.flops.get()
    }

    fn add(&self, f: f64) {
        self.flops.set(self.flops.get() + f);
    }
}

impl Backend for FlopCounter<'_> {
    fn info(&self) -> BackendInfo {
        self.inner.info()
    }
    fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        self.inner.upload(shape, data)
    }
    fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        self.inner.zeros(shape)
    }
    fn read<'b>(&'b self, t: &'b Tensor) -> ReadFuture<'b> {
        self.inner.read(t)
    }
    fn read_many<'b>(&'b self, ts: &'b [&'b Tensor]) -> ReadManyFuture<'b> {
        self.inner.read_many(ts)
    }
    fn matmul(&self, a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
        let out = self.inner.matmul(a, b, ta, tb)?;
        let k = if ta { a.shape()[0] } else { a.shape()[1] };
        self.add(2.0 * out.len() as f64 * k as f64);
        Ok(out)
    }
    fn add_bias(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        self.inner.add_bias(x, bias)
    }
    fn sum_leading(&self, dy: &Tensor) -> Result<Tensor> {
        self.inner.sum_leading(dy)
    }
    fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        self.inner.add(a, b)
    }
    fn mul(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        self.inner.mul(a, b)
    }
    fn add_assign(&self, acc: &mut Tensor, x: &Tensor) -> Result<()> {
        self.inner.add_assign(acc, x)
    }
    fn relu(&self, x: &Tensor) -> Result<Tensor> {
        self.inner.relu(x)
    }
    fn relu_backward(&self, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        self.inner.relu_backward(y, dy)
    }
    fn softmax(&self, x: &Tensor) -> Result<Tensor> {
        self.inner.softmax(x)
    }
    fn softmax_backward(&self, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        self.inner.softmax_backward(y, dy)
    }
    fn dropout_mask(&self, shape: &[usize], rate: f32, seed: u64, stream: u32) -> Result<Tensor> {
        self.inner.dropout_mask(shape, rate, seed, stream)
    }
    fn conv2d(&self, x: &Tensor, w: &Tensor, b: &Tensor, padding: Padding) -> Result<Tensor> {
        let y = self.inner.conv2d(x, w, b, padding)?;
        let patch: usize = w.shape()[..3].iter().product();
        self.add(2.0 * y.len() as f64 * patch as f64);
        Ok(y)
    }
    fn conv2d_backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        dy: &Tensor,
        padding: Padding,
        need_dx: bool,
    ) -> Result<Conv2dGrads> {
        let patch: usize = w.shape()[..3].iter().product();
        let one = 2.0 * dy.len() as f64 * patch as f64;
        self.add(if need_dx { 2.0 * one } else { one });
        self.inner.conv2d_backward(x, w, dy, padding, need_dx)
    }
    fn max_pool2d(&self, x: &Tensor) -> Result<Tensor> {
        self.inner.max_pool2d(x)
    }
    fn max_pool2d_backward(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
        self.inner.max_pool2d_backward(x, dy)
    }
    fn gather_rows(&self, table: &Tensor, ids: &Tensor) -> Result<Tensor> {
        self.inner.gather_rows(table, ids)
    }
    fn scatter_add_rows(&self, dy: &Tensor, ids: &Tensor, rows: usize) -> Result<Tensor> {
        self.inner.scatter_add_rows(dy, ids, rows)
    }
    fn gather_rows_backward(&self, dy: &Tensor, ids: &Tensor, rows: usize) -> Result<RowGradient> {
        self.inner.gather_rows_backward(dy, ids, rows)
    }
    fn broadcast_rows(&self, v: &Tensor, n: usize) -> Result<Tensor> {
        self.inner.broadcast_rows(v, n)
    }
    fn row_dot(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        self.inner.row_dot(a, b)
    }
    fn scale_rows(&self, a: &Tensor, s: &Tensor) -> Result<Tensor> {
        self.inner.scale_rows(a, s)
    }
    fn sparse_cross_entropy(&self, probs: &Tensor, labels: &Tensor) -> Result<LossOutput> {
        self.inner.sparse_cross_entropy(probs, labels)
    }
    fn softmax_cross_entropy(&self, logits: &Tensor, labels: &Tensor) -> Result<LossOutput> {
        self.inner.softmax_cross_entropy(logits, labels)
    }
    fn mean_squared_error(&self, pred: &Tensor, target: &Tensor) -> Result<LossOutput> {
        self.inner.mean_squared_error(pred, target)
    }
    fn count_correct(&self, scores: &Tensor, labels: &Tensor) -> Result<Tensor> {
        self.inner.count_correct(scores, labels)
    }
    fn count_within(&self, pred: &Tensor, target: &Tensor, tol: f32) -> Result<Tensor> {
        self.inner.count_within(pred, target, tol)
    }
    fn squared_error_sum(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
        self.inner.squared_error_sum(pred, target)
    }
    fn add_count_finite(&self, count: &mut Tensor, x: &Tensor) -> Result<()> {
        self.inner.add_count_finite(count, x)
    }
    fn optimizer_step(
        &self,
        rule: &UpdateRule,
        step: u64,
        lr: f32,
        var: &mut Tensor,
        grad: &Tensor,
        slots: &mut [Tensor],
    ) -> Result<()> {
        self.inner.optimizer_step(rule, step, lr, var, grad, slots)
    }
    fn optimizer_step_rows(
        &self,
        rule: &UpdateRule,
        step: u64,
        lr: f32,
        var: &mut Tensor,
        grad: &RowGradient,
        slots: &mut [Tensor],
    ) -> Result<()> {
        self.inner
            .optimizer_step_rows(rule, step, lr, var, grad, slots)
    }
}
