//! Central-difference gradient checks in f64 for every layer and loss.
//!
//! Each check runs the layer's real forward and backward code on the CPU
//! backend in `f64` ([`CpuBackend::f64`]). For a layer with output `y`, the
//! scalar `L = sum(r * y)` with a fixed random `r` has `dL/dy = r`; the
//! analytic gradients from `backward(dy = r)` are compared with
//! `(L(v + h) - L(v - h)) / 2h` for every parameter and input element.
//! Relative error is `|a - n| / max(|a|, |n|, 1e-6)`; the bound is 1e-4.
//! Sparse parameter gradients (an embedding table's touched rows) are checked
//! through their dense form, element by element, so rows a batch did not
//! touch must be exactly zero in the numeric gradient too.

use fedwasm::backend::{Backend, CpuBackend, Padding};
use fedwasm::gradient::Gradient;
use fedwasm::layers::{Activation, Initializer, LayerKind, Mode, Want};
use fedwasm::rng::Rng;
use fedwasm::tensor::Tensor;

const H: f64 = 1e-5;
const TOL: f64 = 1e-4;

fn rel_err(a: f64, n: f64) -> f64 {
    (a - n).abs() / a.abs().max(n.abs()).max(1e-6)
}

fn random(shape: &[usize], rng: &mut Rng, scale: f64) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_f64(shape, (0..n).map(|_| scale * rng.normal()).collect()).unwrap()
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| x * y)
        .sum()
}

/// An input to a layer under test: real values (checked) or integer ids (not differentiable).
enum Input {
    Real(Vec<usize>),
    Ids(Vec<usize>, usize),
}

/// Checks a layer's gradients; returns its inputs and parameter gradients.
fn check_layer(
    kind: LayerKind,
    inputs: &[Input],
    mode: Mode,
    seed: u64,
) -> (Vec<Tensor>, Vec<Gradient>) {
    let b = CpuBackend::f64();
    let label = format!("{kind:?}");
    let layer = kind.build("gradcheck", "node").unwrap();
    let mut rng = Rng::new(seed);
    let mut xs: Vec<Tensor> = inputs
        .iter()
        .map(|i| match i {
            Input::Real(s) => random(s, &mut rng, 1.0),
            Input::Ids(s, v) => {
                let n: usize = s.iter().product();
                Tensor::from_f64(s, (0..n).map(|_| rng.below(*v as u64) as f64).collect()).unwrap()
            }
        })
        .collect();
    let per_example: Vec<Vec<usize>> = xs.iter().map(|x| x.shape()[1..].to_vec()).collect();
    let mut params: Vec<Tensor> = layer
        .params(&per_example)
        .unwrap()
        .iter()
        .map(|p| random(&p.shape, &mut rng, 0.5))
        .collect();
    let out_shape = {
        let mut s = vec![xs[0].shape()[0]];
        s.extend(layer.output_shape(&per_example).unwrap());
        s
    };
    let r = random(&out_shape, &mut rng, 1.0);
    let loss = |params: &[Tensor], xs: &[Tensor]| -> f64 {
        let p: Vec<&Tensor> = params.iter().collect();
        let x: Vec<&Tensor> = xs.iter().collect();
        let f = layer.forward(&b, &p, &x, mode, 3).unwrap();
        assert_eq!(
            f.output.shape(),
            out_shape.as_slice(),
            "{label}: output shape"
        );
        dot(&f.output, &r)
    };
    let fwd = {
        let p: Vec<&Tensor> = params.iter().collect();
        let x: Vec<&Tensor> = xs.iter().collect();
        layer.forward(&b, &p, &x, mode, 3).unwrap()
    };
    let need: Vec<bool> = inputs.iter().map(|i| matches!(i, Input::Real(_))).collect();
    let bw = {
        let p: Vec<&Tensor> = params.iter().collect();
        let x: Vec<&Tensor> = xs.iter().collect();
        layer
            .backward(
                &b,
                &p,
                &x,
                &fwd,
                &r,
                Want {
                    inputs: &need,
                    params: true,
                },
            )
            .unwrap()
    };
    assert_eq!(
        bw.params.len(),
        params.len(),
        "{label}: one gradient per parameter"
    );
    let dense: Vec<Tensor> = bw
        .params
        .iter()
        .map(|g| g.clone().into_dense(&b).unwrap())
        .collect();
    let mut worst = 0.0f64;
    for pi in 0..params.len() {
        assert_eq!(
            bw.params[pi].shape(),
            params[pi].shape(),
            "{label}: param {pi} grad shape"
        );
        assert_eq!(dense[pi].shape(), params[pi].shape());
        for e in 0..params[pi].len() {
            let v = params[pi].get(e);
            params[pi].set(e, v + H);
            let up = loss(&params, &xs);
            params[pi].set(e, v - H);
            let down = loss(&params, &xs);
            params[pi].set(e, v);
            let err = rel_err(dense[pi].get(e), (up - down) / (2.0 * H));
            assert!(
                err <= TOL,
                "{label}: param {pi} element {e}: rel err {err:e}"
            );
            worst = worst.max(err);
        }
    }
    for xi in 0..xs.len() {
        let Some(g) = &bw.inputs[xi] else {
            assert!(!need[xi], "{label}: missing input gradient {xi}");
            continue;
        };
        assert_eq!(g.shape(), xs[xi].shape(), "{label}: input {xi} grad shape");
        let g = g.clone();
        for e in 0..xs[xi].len() {
            let v = xs[xi].get(e);
            xs[xi].set(e, v + H);
            let up = loss(&params, &xs);
            xs[xi].set(e, v - H);
            let down = loss(&params, &xs);
            xs[xi].set(e, v);
            let err = rel_err(g.get(e), (up - down) / (2.0 * H));
            assert!(
                err <= TOL,
                "{label}: input {xi} element {e}: rel err {err:e}"
            );
            worst = worst.max(err);
        }
    }
    assert!(worst.is_finite());
    (xs, bw.params)
}

fn train() -> Mode {
    Mode::training(11, 2)
}

fn dense(units: usize, activation: Activation, use_bias: bool) -> LayerKind {
    LayerKind::Dense {
        units,
        activation,
        kernel_initializer: Initializer::GlorotUniform,
        bias_initializer: Initializer::Zeros,
        use_bias,
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn dense_gradients() {
    for (shape, units) in [
        (vec![1, 1], 1),
        (vec![3, 5], 7),
        (vec![1, 13], 4),
        (vec![2, 3, 5], 3),
    ] {
        for act in [Activation::Linear, Activation::Relu, Activation::Softmax] {
            check_layer(
                dense(units, act, true),
                &[Input::Real(shape.clone())],
                train(),
                1,
            );
        }
        check_layer(
            dense(units, Activation::Linear, false),
            &[Input::Real(shape)],
            train(),
            2,
        );
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn activation_gradients() {
    for shape in [vec![1, 1], vec![1, 9], vec![4, 7], vec![2, 3, 5]] {
        check_layer(LayerKind::Relu, &[Input::Real(shape.clone())], train(), 3);
        check_layer(LayerKind::Softmax, &[Input::Real(shape)], train(), 4);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn conv2d_gradients() {
    for kernel_size in [3, 5] {
        for padding in [Padding::Valid, Padding::Same] {
            for (shape, filters) in [
                (vec![1, 5, 5, 1], 1),
                (vec![2, 7, 6, 3], 4),
                (vec![1, 6, 9, 2], 3),
            ] {
                for activation in [Activation::Linear, Activation::Relu] {
                    let kind = LayerKind::Conv2d {
                        filters,
                        kernel_size,
                        padding,
                        activation,
                        kernel_initializer: Initializer::GlorotUniform,
                        bias_initializer: Initializer::Zeros,
                    };
                    check_layer(kind, &[Input::Real(shape.clone())], train(), 5);
                }
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn max_pool_and_reshape_gradients() {
    for shape in [vec![1, 2, 2, 1], vec![2, 5, 7, 3], vec![1, 6, 4, 2]] {
        check_layer(
            LayerKind::MaxPool2d,
            &[Input::Real(shape.clone())],
            train(),
            6,
        );
        check_layer(LayerKind::Flatten, &[Input::Real(shape)], train(), 7);
    }
    check_layer(
        LayerKind::Reshape {
            shape: vec![3, 4, 1],
        },
        &[Input::Real(vec![2, 12])],
        train(),
        8,
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn dropout_gradients() {
    for shape in [vec![1, 1], vec![3, 17], vec![2, 4, 5]] {
        check_layer(
            LayerKind::Dropout { rate: 0.4 },
            &[Input::Real(shape.clone())],
            train(),
            9,
        );
        check_layer(
            LayerKind::Dropout { rate: 0.4 },
            &[Input::Real(shape)],
            Mode::inference(),
            9,
        );
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn embedding_user_embedding_and_dot_gradients() {
    // The table's gradient is sparse: its rows are the unique ids, ascending.
    // [6, 1] ids in 3 rows and [3, 2] in 4 rows must repeat ids (summed rows);
    // [2, 1] in 40 rows leaves most rows untouched (zero in the numeric check).
    for (ids, vocab, dim) in [
        (vec![1, 1], 1, 1),
        (vec![5, 1], 7, 3),
        (vec![3, 2], 4, 5),
        (vec![6, 1], 3, 2),
        (vec![2, 1], 40, 3),
    ] {
        let kind = LayerKind::Embedding {
            input_dim: vocab,
            output_dim: dim,
            embeddings_initializer: Initializer::uniform(),
        };
        let (xs, grads) = check_layer(kind, &[Input::Ids(ids, vocab)], train(), 10);
        let Gradient::Rows(rows) = &grads[0] else {
            panic!("the embedding gradient should be sparse");
        };
        let mut unique: Vec<u32> = xs[0].to_f64_vec().iter().map(|&i| i as u32).collect();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(rows.rows(), unique.as_slice());
        assert_eq!(rows.values().shape(), &[unique.len(), dim]);
    }
    for (batch, units) in [(1, 1), (5, 3), (4, 50)] {
        let kind = LayerKind::UserEmbedding {
            units,
            initializer: Initializer::uniform(),
        };
        check_layer(kind, &[Input::Ids(vec![batch, 1], 9)], train(), 11);
        check_layer(
            LayerKind::Dot,
            &[
                Input::Real(vec![batch, units]),
                Input::Real(vec![batch, units]),
            ],
            train(),
            12,
        );
    }
}

/// Checks a loss's gradient with respect to its first argument.
fn check_loss(
    name: &str,
    input: Tensor,
    target: Tensor,
    f: impl Fn(&CpuBackend, &Tensor, &Tensor) -> (f64, Tensor),
) {
    let b = CpuBackend::f64();
    let (_, grad) = f(&b, &input, &target);
    assert_eq!(grad.shape(), input.shape(), "{name}: grad shape");
    let mut x = input.clone();
    for e in 0..x.len() {
        let v = x.get(e);
        x.set(e, v + H);
        let up = f(&b, &x, &target).0;
        x.set(e, v - H);
        let down = f(&b, &x, &target).0;
        x.set(e, v);
        let err = rel_err(grad.get(e), (up - down) / (2.0 * H));
        assert!(err <= TOL, "{name}: element {e}: rel err {err:e}");
    }
}

fn labels(n: usize, classes: usize, rng: &mut Rng) -> Tensor {
    Tensor::from_f64(
        &[n],
        (0..n).map(|_| rng.below(classes as u64) as f64).collect(),
    )
    .unwrap()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn loss_gradients() {
    let mut rng = Rng::new(13);
    for (n, c) in [(1, 1), (1, 2), (3, 5), (7, 10), (2, 62)] {
        let logits = random(&[n, c], &mut rng, 2.0);
        let y = labels(n, c, &mut rng);
        check_loss(
            "softmax_cross_entropy",
            logits.clone(),
            y.clone(),
            |b, x, t| {
                let o = b.softmax_cross_entropy(x, t).unwrap();
                (o.loss.get(0), o.grad)
            },
        );
        let probs = CpuBackend::f64().softmax(&logits).unwrap();
        // Keep probabilities away from the clip at 1e-7 so the check is of the smooth part.
        if probs
            .to_f64_vec()
            .iter()
            .all(|&p| p > 1e-4 && p < 1.0 - 1e-4)
        {
            check_loss("sparse_cross_entropy", probs, y.clone(), |b, x, t| {
                let o = b.sparse_cross_entropy(x, t).unwrap();
                (o.loss.get(0), o.grad)
            });
        }
        let pred = random(&[n, 1], &mut rng, 1.0);
        let target = random(&[n], &mut rng, 1.0);
        check_loss("mean_squared_error", pred, target, |b, x, t| {
            let o = b.mean_squared_error(x, t).unwrap();
            (o.loss.get(0), o.grad)
        });
    }
}

/// dL/dz for softmax + cross-entropy is `softmax(z) - onehot(y)` over n:
/// for z = [0, ln 3] and y = 1, softmax = [1/4, 3/4], so the gradient is
/// [1/4, -1/4] and the loss is -ln(3/4).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn softmax_cross_entropy_hand_case_and_stability() {
    let b = CpuBackend::f64();
    let z = Tensor::from_f64(&[1, 2], vec![0.0, 3f64.ln()]).unwrap();
    let y = Tensor::from_f64(&[1], vec![1.0]).unwrap();
    let o = b.softmax_cross_entropy(&z, &y).unwrap();
    assert!((o.loss.get(0) + (0.75f64).ln()).abs() < 1e-12);
    assert!((o.grad.get(0) - 0.25).abs() < 1e-12 && (o.grad.get(1) + 0.25).abs() < 1e-12);
    // Huge logits stay finite in f32.
    let b32 = CpuBackend::new();
    let z = Tensor::new(&[1, 3], vec![1000.0, -1000.0, 999.0]).unwrap();
    let y = Tensor::new(&[1], vec![2.0]).unwrap();
    let o = b32.softmax_cross_entropy(&z, &y).unwrap();
    let loss = o.loss.get(0);
    // loss = 1000 + ln(1 + e^-1 + e^-2000) - 999
    assert!(
        loss.is_finite() && (loss - (1.0 + (1.0 + (-1f64).exp()).ln())).abs() < 1e-4,
        "{loss}"
    );
}
