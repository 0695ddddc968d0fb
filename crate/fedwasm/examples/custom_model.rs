//! A hand-written model, as in seed 002's "Customizing the model
//! implementation": softmax regression with its own variables, forward pass,
//! gradients and metrics, implementing [`fedwasm::model::Model`] directly and
//! trained by the same local training loop as described models.
//!
//! Run: `cargo run --release -p fedwasm --example custom_model`

use fedwasm::backend::{Backend, CpuBackend};
use fedwasm::data::{femnist_digits, Dataset, ElementSpec, LabelSpec};
use fedwasm::layers::Mode;
use fedwasm::metrics::MetricKind;
use fedwasm::model::{BatchOutput, DeviceBatch, Model, VariableGroup, VariableInfo};
use fedwasm::optim::OptimizerConfig;
use fedwasm::train::{evaluate, optimizer_for, train_local, TrainOptions};
use fedwasm::{Result, Tensor};

/// `softmax(x W + b)`, zero-initialised, with cross-entropy from the logits.
struct MnistModel {
    spec: ElementSpec,
    variables: Vec<VariableInfo>,
    /// `[weights [784, 10], bias [10]]`.
    values: Vec<Tensor>,
}

impl MnistModel {
    fn new(b: &dyn Backend) -> Result<Self> {
        let var = |name: &str, shape: Vec<usize>| VariableInfo {
            name: name.into(),
            shape,
            group: VariableGroup::GlobalTrainable,
        };
        Ok(MnistModel {
            spec: ElementSpec::new(vec![784], LabelSpec::Class { num_classes: 10 }),
            variables: vec![var("weights", vec![784, 10]), var("bias", vec![10])],
            values: vec![b.zeros(&[784, 10])?, b.zeros(&[10])?],
        })
    }

    fn logits(&self, b: &dyn Backend, x: &Tensor) -> Result<Tensor> {
        b.add_bias(
            &b.matmul(x, &self.values[0], false, false)?,
            &self.values[1],
        )
    }
}

impl Model for MnistModel {
    fn name(&self) -> &str {
        "mnist_by_hand"
    }
    fn input_spec(&self) -> &ElementSpec {
        &self.spec
    }
    fn variables(&self) -> &[VariableInfo] {
        &self.variables
    }
    fn values(&self) -> &[Tensor] {
        &self.values
    }
    fn values_mut(&mut self) -> &mut [Tensor] {
        &mut self.values
    }
    fn metrics(&self) -> &[MetricKind] {
        &[MetricKind::SparseCategoricalAccuracy]
    }

    fn forward(&self, b: &dyn Backend, batch: &DeviceBatch, _mode: Mode) -> Result<BatchOutput> {
        let z = self.logits(b, &batch.x)?;
        Ok(BatchOutput {
            loss: b.softmax_cross_entropy(&z, &batch.y)?.loss,
            predictions: b.softmax(&z)?,
            num_examples: batch.size(),
        })
    }

    fn forward_backward(
        &self,
        b: &dyn Backend,
        batch: &DeviceBatch,
        _mode: Mode,
        wrt: &[bool],
    ) -> Result<(BatchOutput, Vec<Option<Tensor>>)> {
        let z = self.logits(b, &batch.x)?;
        let loss = b.softmax_cross_entropy(&z, &batch.y)?;
        // dL/dW = x^T dL/dz and dL/db = column sums of dL/dz.
        let dw = b.matmul(&batch.x, &loss.grad, true, false)?;
        let db = b.sum_leading(&loss.grad)?;
        let grads = vec![wrt[0].then_some(dw), wrt[1].then_some(db)];
        let out = BatchOutput {
            loss: loss.loss,
            predictions: b.softmax(&z)?,
            num_examples: batch.size(),
        };
        Ok((out, grads))
    }

    fn reinitialize(
        &mut self,
        b: &dyn Backend,
        groups: &[VariableGroup],
        _seed: u64,
    ) -> Result<()> {
        if groups.contains(&VariableGroup::GlobalTrainable) {
            self.values = vec![b.zeros(&[784, 10])?, b.zeros(&[10])?];
        }
        Ok(())
    }
}

fn main() -> Result<()> {
    let b = CpuBackend::new();
    let (train, test) = femnist_digits()?;
    let mut model = MnistModel::new(&b)?;
    let groups = [VariableGroup::GlobalTrainable];
    let mut opt = optimizer_for(&b, &model, &groups, OptimizerConfig::sgd(0.02))?;
    let examples = std::sync::Arc::new(train.merged());
    // MNIST's convention, ink 1 and background 0 (LEAF stores background 1).
    let invert = |x: &[f32], y: f32| Ok((x.iter().map(|v| 1.0 - v).collect(), y));
    for epoch in 0..5u64 {
        let ds = Dataset::from_arc(examples.clone())
            .map(vec![784], invert)
            .shuffle(examples.len(), epoch)
            .batch(20, false);
        let m = pollster::block_on(train_local(
            &b,
            &mut model,
            &mut opt,
            &ds,
            &groups,
            TrainOptions::default(),
        ))?;
        println!(
            "epoch {}: loss {:.4} accuracy {:.4}",
            epoch + 1,
            m.value(MetricKind::Loss).unwrap_or(f64::NAN),
            m.value(MetricKind::SparseCategoricalAccuracy)
                .unwrap_or(f64::NAN)
        );
    }
    let test_ds = Dataset::from_examples(test.merged())
        .map(vec![784], invert)
        .batch(20, false);
    let m = pollster::block_on(evaluate(&b, &model, &test_ds))?;
    println!(
        "test: accuracy {:.4} on {} examples",
        m.value(MetricKind::SparseCategoricalAccuracy)
            .unwrap_or(f64::NAN),
        m.value(MetricKind::NumExamples).unwrap_or(0.0)
    );
    Ok(())
}
