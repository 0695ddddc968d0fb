//! Optimizer tests: every rule against hand-computed steps, convergence on a
//! quadratic in f32 and f64, learning-rate schedules, state save/restore, and
//! error cases. Runs natively and under wasm32 (Node).

mod common;
use common::ready;

use fedwasm::backend::{Backend, CpuBackend};
use fedwasm::optim::{LearningRate, Optimizer, OptimizerConfig, OptimizerState, UpdateRule};
use fedwasm::{Error, Tensor};

/// Applies `config` to one variable starting at `w0` with the same gradient
/// `g` for `steps` steps; returns the variable after each step (f64 backend).
fn trajectory(config: OptimizerConfig, w0: &[f32], g: &[f32], steps: usize) -> Vec<Vec<f64>> {
    let grads = vec![g; steps];
    let backend = CpuBackend::f64();
    let mut opt = Optimizer::new(config, &backend, &[vec![w0.len()]]).unwrap();
    let mut w = backend.upload(&[w0.len()], w0).unwrap();
    grads
        .iter()
        .map(|g| {
            let g = backend.upload(&[g.len()], g).unwrap();
            opt.apply(&backend, &mut [&mut w], &[&g]).unwrap();
            w.to_f64_vec()
        })
        .collect()
}

/// Hyper-parameters are `f32`, so expected values derived with exact
/// decimals agree with the f64 kernels to about 1e-7 relative.
fn assert_close(got: &[Vec<f64>], want: &[&[f64]]) {
    assert_eq!(got.len(), want.len());
    for (step, (g, w)) in got.iter().zip(want).enumerate() {
        for (i, (a, b)) in g.iter().zip(w.iter()).enumerate() {
            assert!(
                (a - b).abs() < 1e-6,
                "step {} element {i}: got {a}, want {b}",
                step + 1
            );
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn sgd_by_hand() {
    // lr 0.1, w = 1, g = 0.5: each step w -= 0.05 -> 0.95, 0.9, 0.85.
    let got = trajectory(OptimizerConfig::sgd(0.1), &[1.0], &[0.5], 3);
    assert_close(&got, &[&[0.95], &[0.9], &[0.85]]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn momentum_by_hand() {
    // lr 0.1, m 0.9, w = 1, g = 0.5:
    // acc = 0.5;               w = 1     - 0.1 * 0.5   = 0.95
    // acc = 0.9*0.5  + 0.5 = 0.95;  w = 0.95  - 0.095       = 0.855
    // acc = 0.9*0.95 + 0.5 = 1.355; w = 0.855 - 0.1355      = 0.7195
    let got = trajectory(OptimizerConfig::sgdm(0.1, Some(0.9)), &[1.0], &[0.5], 3);
    assert_close(&got, &[&[0.95], &[0.855], &[0.7195]]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn nesterov_by_hand() {
    // lr 0.1, m 0.9, w = 1, g = 0.5; w -= lr * (g + m * acc_new):
    // acc = 0.5;   w = 1      - 0.1 * (0.5 + 0.45)   = 0.905
    // acc = 0.95;  w = 0.905  - 0.1 * (0.5 + 0.855)  = 0.7695
    // acc = 1.355; w = 0.7695 - 0.1 * (0.5 + 1.2195) = 0.59755
    let got = trajectory(OptimizerConfig::nesterov(0.1, 0.9), &[1.0], &[0.5], 3);
    assert_close(&got, &[&[0.905], &[0.7695], &[0.59755]]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn adam_by_hand() {
    // lr 0.1, b1 0.9, b2 0.999, eps 1e-7, constant g:
    // m_t = g (1 - 0.9^t), v_t = g^2 (1 - 0.999^t),
    // lr_t = 0.1 sqrt(1 - 0.999^t) / (1 - 0.9^t), so the step is
    // lr_t m_t / (sqrt(v_t) + eps) = 0.1 g / (|g| + eps / sqrt(1 - 0.999^t)):
    // about lr * sign(g) every step, whatever |g| is.
    let delta = |g: f64, t: i32| 0.1 * g / (g.abs() + 1e-7 / (1.0 - 0.999f64.powi(t)).sqrt());
    // t = 1: 0.1 * 0.5 / (0.5 + 3.1623e-6) = 0.0999937; -2 gives -0.0999984.
    let (mut a, mut b) = (1.0, 1.0);
    let mut want = vec![];
    for t in 1..=3 {
        a -= delta(0.5, t);
        b -= delta(-2.0, t);
        want.push(vec![a, b]);
    }
    let got = trajectory(OptimizerConfig::adam(0.1), &[1.0, 1.0], &[0.5, -2.0], 3);
    let want: Vec<&[f64]> = want.iter().map(Vec::as_slice).collect();
    assert_close(&got, &want);
    assert!((got[0][0] - 0.9).abs() < 1e-5 && (got[0][1] - 1.1).abs() < 1e-5);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn adagrad_by_hand() {
    // lr 0.1, acc starts at 0.1, eps 1e-7, w = 1, g = 0.5 (g^2 = 0.25):
    // acc = 0.35: w = 1 - 0.05 / (sqrt(0.35) + 1e-7) = 1 - 0.0845154 = 0.9154846
    // acc = 0.60: w -= 0.05 / sqrt(0.60) = 0.0645497 -> 0.8509349
    // acc = 0.85: w -= 0.05 / sqrt(0.85) = 0.0542326 -> 0.7967023
    let d = |acc: f64| 0.05 / (acc.sqrt() + 1e-7);
    let w1 = 1.0 - d(0.35);
    let w2 = w1 - d(0.6);
    let w3 = w2 - d(0.85);
    let got = trajectory(OptimizerConfig::adagrad(0.1), &[1.0], &[0.5], 3);
    assert_close(&got, &[&[w1], &[w2], &[w3]]);
    assert!((w3 - 0.7967023).abs() < 1e-6);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn rmsprop_by_hand() {
    // lr 0.1, decay 0.9, eps 1e-7, w = 1, g = 0.5: v = 0.9 v + 0.1 * 0.25
    // v = 0.025:   w = 1 - 0.05 / sqrt(0.025)   = 1 - 0.3162278 = 0.6837722
    // v = 0.0475:  w -= 0.05 / sqrt(0.0475)  = 0.2294157 -> 0.4543565
    // v = 0.06775: w -= 0.05 / sqrt(0.06775) = 0.1920944 -> 0.2622621
    let d = |v: f64| 0.05 / (v.sqrt() + 1e-7);
    let w1 = 1.0 - d(0.025);
    let w2 = w1 - d(0.0475);
    let w3 = w2 - d(0.06775);
    let got = trajectory(OptimizerConfig::rmsprop(0.1), &[1.0], &[0.5], 3);
    assert_close(&got, &[&[w1], &[w2], &[w3]]);
    assert!((w3 - 0.2622621).abs() < 1e-6);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn yogi_by_hand() {
    // lr 0.1, b1 0.9, b2 0.999, eps 1e-3, v starts at 1e-6; g = 1 then 0.01.
    // t = 1: m = 0.1; v = 1e-6 - 0.001 * sign(1e-6 - 1) * 1 = 0.001001;
    //        lr_1 = 0.1 sqrt(0.001) / 0.1 = 0.0316228;
    //        w = 1 - 0.0316228 * 0.1 / (0.0316386 + 1e-3) = 0.9031123
    // t = 2: m = 0.1 + (0.01 - 0.1) * 0.1 = 0.091;
    //        v > g^2 = 1e-4, so v = 0.001001 - 0.001 * 1e-4 = 0.0010009;
    //        lr_2 = 0.1 sqrt(1 - 0.999^2) / (1 - 0.81);
    //        w -= lr_2 * 0.091 / (sqrt(0.0010009) + 1e-3)
    let lr1 = 0.1 * 0.001f64.sqrt() / 0.1;
    let w1 = 1.0 - lr1 * 0.1 / (0.001001f64.sqrt() + 1e-3);
    let lr2 = 0.1 * (1.0 - 0.999f64.powi(2)).sqrt() / (1.0 - 0.81);
    let w2 = w1 - lr2 * 0.091 / (0.0010009f64.sqrt() + 1e-3);
    let backend = CpuBackend::f64();
    let mut opt = Optimizer::new(OptimizerConfig::yogi(0.1), &backend, &[vec![1]]).unwrap();
    let mut w = backend.upload(&[1], &[1.0]).unwrap();
    let mut got = vec![];
    for g in [1.0, 0.01] {
        let g = backend.upload(&[1], &[g]).unwrap();
        opt.apply(&backend, &mut [&mut w], &[&g]).unwrap();
        got.push(w.to_f64_vec());
    }
    assert_close(&got, &[&[w1], &[w2]]);
    assert!((w1 - 0.9031123).abs() < 1e-6, "{w1}");
    // 1 - 0.999f32 is 0.00099998713, so the slot is 0.0010008871, not 0.0010009;
    // adding instead of subtracting would give 0.0010011.
    let v = opt.slots()[0][1].get(0);
    assert!((v - 0.0010009).abs() < 5e-8, "preconditioner {v}");
}

/// Minimises `sum((w - c)^2)` (gradient `2 (w - c)`) from `w = 0` on
/// `backend`; returns the largest distance to `c`.
fn minimise(backend: &dyn Backend, config: OptimizerConfig, steps: u64) -> f64 {
    let c = [1.0f32, -2.0, 0.5];
    let mut opt = Optimizer::new(config, backend, &[vec![3]]).unwrap();
    let mut w = backend.zeros(&[3]).unwrap();
    for step in 0..steps {
        opt.set_round(step);
        let wv = ready(backend.read(&w)).unwrap();
        let g: Vec<f32> = wv.iter().zip(&c).map(|(w, c)| 2.0 * (w - c)).collect();
        let g = backend.upload(&[3], &g).unwrap();
        opt.apply(backend, &mut [&mut w], &[&g]).unwrap();
    }
    let wv = ready(backend.read(&w)).unwrap();
    wv.iter()
        .zip(&c)
        .map(|(w, c)| (w - c).abs() as f64)
        .fold(0.0, f64::max)
}

/// A schedule that halves the rate every `every` rounds (one round per step here).
fn halving(initial: f32, every: u64) -> LearningRate {
    LearningRate::ExponentialDecay {
        initial,
        decay_rate: 0.5,
        decay_rounds: every,
        staircase: true,
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_optimizer_minimises_a_quadratic() {
    let cases = [
        ("sgd", OptimizerConfig::sgd(0.1), 200),
        ("sgdm", OptimizerConfig::sgdm(0.05, Some(0.9)), 500),
        ("nesterov", OptimizerConfig::nesterov(0.05, 0.9), 500),
        ("adam", OptimizerConfig::adam(halving(0.1, 200)), 2000),
        ("adagrad", OptimizerConfig::adagrad(1.0), 2000),
        ("yogi", OptimizerConfig::yogi(halving(0.1, 200)), 2000),
        (
            "rmsprop",
            OptimizerConfig::rmsprop(halving(0.05, 200)),
            2000,
        ),
    ];
    for backend in [CpuBackend::new(), CpuBackend::f64()] {
        for (name, config, steps) in cases.iter().cloned() {
            let err = minimise(&backend, config, steps);
            assert!(
                err < 1e-3,
                "{name} on {:?}: distance {err}",
                backend.precision()
            );
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn schedules_by_round() {
    let close = |a: f32, b: f64| (a as f64 - b).abs() < 1e-7;
    // 0.1 * 0.5^(round / 10)
    let exp = LearningRate::ExponentialDecay {
        initial: 0.1,
        decay_rate: 0.5,
        decay_rounds: 10,
        staircase: false,
    };
    assert!(close(exp.at(0).unwrap(), 0.1));
    assert!(close(exp.at(5).unwrap(), 0.1 * 0.5f64.sqrt()));
    assert!(close(exp.at(10).unwrap(), 0.05));
    let stair = halving(0.1, 10);
    assert!(close(stair.at(9).unwrap(), 0.1));
    assert!(close(stair.at(19).unwrap(), 0.05));
    assert!(close(stair.at(20).unwrap(), 0.025));
    // 0.1 / (1 + 1 * round / 10)
    let inv = LearningRate::InverseTimeDecay {
        initial: 0.1,
        decay_rate: 1.0,
        decay_rounds: 10,
        staircase: false,
    };
    assert!(close(inv.at(5).unwrap(), 0.1 / 1.5));
    assert!(close(inv.at(10).unwrap(), 0.05));
    let inv_stair = LearningRate::InverseTimeDecay {
        initial: 0.1,
        decay_rate: 1.0,
        decay_rounds: 10,
        staircase: true,
    };
    assert!(close(inv_stair.at(5).unwrap(), 0.1));
    // values[0] through round 10, values[1] through round 20, then values[2].
    let piecewise = LearningRate::PiecewiseConstant {
        boundaries: vec![10, 20],
        values: vec![1.0, 0.5, 0.1],
    };
    let at: Vec<f32> = [0, 10, 11, 20, 21, 1000]
        .iter()
        .map(|&r| piecewise.at(r).unwrap())
        .collect();
    assert_eq!(at, vec![1.0, 1.0, 0.5, 0.5, 0.1, 0.1]);
    assert_eq!(LearningRate::Constant(0.3).at(12345).unwrap(), 0.3);
    // The optimizer follows its round.
    let backend = CpuBackend::new();
    let mut opt = Optimizer::new(OptimizerConfig::sgd(piecewise), &backend, &[vec![1]]).unwrap();
    assert_eq!(opt.learning_rate().unwrap(), 1.0);
    opt.set_round(15);
    assert_eq!((opt.round(), opt.learning_rate().unwrap()), (15, 0.5));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn schedule_validation_errors() {
    let bad = [
        LearningRate::PiecewiseConstant {
            boundaries: vec![10, 20],
            values: vec![1.0, 0.5],
        },
        LearningRate::PiecewiseConstant {
            boundaries: vec![10, 10],
            values: vec![1.0, 0.5, 0.1],
        },
        LearningRate::PiecewiseConstant {
            boundaries: vec![],
            values: vec![f32::NAN],
        },
        LearningRate::ExponentialDecay {
            initial: 0.1,
            decay_rate: 0.5,
            decay_rounds: 0,
            staircase: false,
        },
        LearningRate::InverseTimeDecay {
            initial: -0.1,
            decay_rate: 0.5,
            decay_rounds: 1,
            staircase: false,
        },
        LearningRate::Constant(-1.0),
    ];
    for lr in bad {
        assert!(lr.validate().is_err(), "{lr:?}");
        assert!(lr.at(0).is_err(), "{lr:?}");
        let err =
            Optimizer::new(OptimizerConfig::sgd(lr.clone()), &CpuBackend::new(), &[]).unwrap_err();
        assert!(matches!(err, Error::Optimizer { .. }), "{err}");
    }
    // Valid, but 0.1 * 10^100 overflows f32.
    let growing = LearningRate::ExponentialDecay {
        initial: 0.1,
        decay_rate: 10.0,
        decay_rounds: 1,
        staircase: false,
    };
    assert!(growing.at(2).is_ok());
    assert!(growing
        .at(100)
        .unwrap_err()
        .to_string()
        .contains("not finite"));
}

/// All configurations, for the state tests.
fn all_configs() -> Vec<OptimizerConfig> {
    vec![
        OptimizerConfig::sgd(0.1),
        OptimizerConfig::sgdm(0.1, Some(0.9)),
        OptimizerConfig::nesterov(0.1, 0.9),
        OptimizerConfig::adam(halving(0.01, 2)),
        OptimizerConfig::adagrad(0.1),
        OptimizerConfig::yogi(0.01),
        OptimizerConfig::rmsprop(0.01),
    ]
}

/// Runs steps `from..to` of a deterministic two-variable problem (gradient
/// `2 (w - c)` plus a step-dependent wiggle), one round per step.
fn run_steps(backend: &dyn Backend, opt: &mut Optimizer, vars: &mut [Tensor], from: u64, to: u64) {
    for step in from..to {
        opt.set_round(step);
        let grads: Vec<Tensor> = vars
            .iter()
            .map(|v| {
                let w = ready(backend.read(v)).unwrap();
                let g: Vec<f32> = w
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| {
                        2.0 * (w - i as f32 * 0.37) + ((step as f32 + 1.0) * 0.7 + i as f32).sin()
                    })
                    .collect();
                backend.upload(v.shape(), &g).unwrap()
            })
            .collect();
        let mut refs: Vec<&mut Tensor> = vars.iter_mut().collect();
        let grefs: Vec<&Tensor> = grads.iter().collect();
        opt.apply(backend, &mut refs, &grefs).unwrap();
    }
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.as_f32().unwrap().iter().map(|x| x.to_bits()).collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn state_round_trip_is_bit_exact() {
    let backend = CpuBackend::new();
    let shapes = vec![vec![2, 3], vec![3]];
    let init = |b: &CpuBackend| -> Vec<Tensor> {
        vec![
            b.upload(&[2, 3], &[0.1, -0.2, 0.3, 1.5, -2.5, 0.0])
                .unwrap(),
            b.upload(&[3], &[3.0, -1.0, 0.25]).unwrap(),
        ]
    };
    for config in all_configs() {
        // Five uninterrupted steps.
        let mut straight = Optimizer::new(config.clone(), &backend, &shapes).unwrap();
        let mut a = init(&backend);
        run_steps(&backend, &mut straight, &mut a, 0, 5);

        // Three steps, save to JSON, restore, two more.
        let mut first = Optimizer::new(config.clone(), &backend, &shapes).unwrap();
        let mut b = init(&backend);
        run_steps(&backend, &mut first, &mut b, 0, 3);
        let json = ready(first.state(&backend)).unwrap().to_json().unwrap();
        drop(first);
        let state = OptimizerState::from_json(&json).unwrap();
        assert_eq!((state.step, state.round), (3, 2));
        let mut resumed = Optimizer::from_state(config.clone(), &backend, state).unwrap();
        assert_eq!(resumed.step_count(), 3);
        run_steps(&backend, &mut resumed, &mut b, 3, 5);

        let name = config.rule.name();
        assert_eq!(resumed.step_count(), 5);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(bits(x), bits(y), "{name}: variables differ");
        }
        let s1 = ready(straight.state(&backend)).unwrap();
        let s2 = ready(resumed.state(&backend)).unwrap();
        assert_eq!(
            s1.to_json().unwrap(),
            s2.to_json().unwrap(),
            "{name}: states differ"
        );
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn slots_start_at_tff_initial_values() {
    let backend = CpuBackend::new();
    let opt = Optimizer::new(OptimizerConfig::adagrad(0.1), &backend, &[vec![2]]).unwrap();
    assert_eq!(opt.slots()[0][0].as_f32().unwrap(), &[0.1, 0.1]);
    let opt = Optimizer::new(OptimizerConfig::yogi(0.1), &backend, &[vec![2]]).unwrap();
    assert_eq!(opt.slots()[0][0].as_f32().unwrap(), &[0.0, 0.0]);
    assert_eq!(opt.slots()[0][1].as_f32().unwrap(), &[1e-6, 1e-6]);
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.1), &backend, &[vec![2]]).unwrap();
    assert!(opt.slots()[0].is_empty());
    let mut w = backend.zeros(&[2]).unwrap();
    let g = backend.upload(&[2], &[1.0, 1.0]).unwrap();
    opt.apply(&backend, &mut [&mut w], &[&g]).unwrap();
    assert_eq!(opt.step_count(), 1);
    opt.reset(&backend).unwrap();
    assert_eq!(opt.step_count(), 0);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn mismatches_are_errors() {
    let backend = CpuBackend::new();
    let mut opt =
        Optimizer::new(OptimizerConfig::adam(0.1), &backend, &[vec![2], vec![3]]).unwrap();
    let mut a = backend.zeros(&[2]).unwrap();
    let mut b = backend.zeros(&[3]).unwrap();
    let ga = backend.zeros(&[2]).unwrap();
    let gb = backend.zeros(&[3]).unwrap();
    // Wrong counts.
    let err = opt.apply(&backend, &mut [&mut a], &[&ga]).unwrap_err();
    assert!(matches!(err, Error::Optimizer { .. }), "{err}");
    let err = opt
        .apply(&backend, &mut [&mut a, &mut b], &[&ga])
        .unwrap_err();
    assert!(err.to_string().contains("1 gradients"), "{err}");
    // Wrong shapes, either side.
    let err = opt
        .apply(&backend, &mut [&mut b, &mut a], &[&gb, &ga])
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let err = opt
        .apply(&backend, &mut [&mut a, &mut b], &[&ga, &ga])
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    // Wrong precision.
    let g64 = CpuBackend::f64().zeros(&[3]).unwrap();
    let err = opt
        .apply(&backend, &mut [&mut a, &mut b], &[&ga, &g64])
        .unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err}");
    assert_eq!(opt.step_count(), 0, "failed applies must not count");
    opt.apply(&backend, &mut [&mut a, &mut b], &[&ga, &gb])
        .unwrap();
    assert_eq!(opt.step_count(), 1);

    // The backend kernel checks slots directly too.
    let mut slots = vec![backend.zeros(&[2]).unwrap()];
    let err = backend
        .optimizer_step(&UpdateRule::adam(), 1, 0.1, &mut a, &ga, &mut slots)
        .unwrap_err();
    assert!(matches!(err, Error::Optimizer { .. }), "{err}");
    let mut slots = vec![backend.zeros(&[2]).unwrap(), backend.zeros(&[3]).unwrap()];
    let err = backend
        .optimizer_step(&UpdateRule::adam(), 1, 0.1, &mut a, &ga, &mut slots)
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");

    // Restoring a state into the wrong optimizer or with broken slots.
    let state = ready(opt.state(&backend)).unwrap();
    let err =
        Optimizer::from_state(OptimizerConfig::yogi(0.1), &backend, state.clone()).unwrap_err();
    assert!(err.to_string().contains("adam"), "{err}");
    let mut short = state.clone();
    short.slots[1].pop();
    assert!(Optimizer::from_state(OptimizerConfig::adam(0.1), &backend, short).is_err());
    let mut reshaped = state.clone();
    reshaped.slots[1][0].shape = vec![2];
    reshaped.slots[1][0].data = vec![0.0; 2];
    let err = Optimizer::from_state(OptimizerConfig::adam(0.1), &backend, reshaped).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let mut wrong_len = state.clone();
    wrong_len.slots[0][0].data.push(1.0);
    assert!(Optimizer::from_state(OptimizerConfig::adam(0.1), &backend, wrong_len).is_err());
    let mut fewer_vars = state;
    fewer_vars.slots.pop();
    assert!(Optimizer::from_state(OptimizerConfig::adam(0.1), &backend, fewer_vars).is_err());
    assert!(OptimizerState::from_json(
        r#"{"optimizer":"sgd","step":0,"round":0,"shapes":[],"slots":[],"x":1}"#
    )
    .is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn invalid_hyper_parameters_are_errors() {
    let backend = CpuBackend::new();
    let nesterov_alone = OptimizerConfig::with_rule(
        UpdateRule::Sgd {
            momentum: None,
            nesterov: true,
        },
        0.1,
    );
    for config in [
        nesterov_alone,
        OptimizerConfig::sgd(-0.1),
        OptimizerConfig::sgdm(0.1, Some(1.5)),
        OptimizerConfig::with_rule(
            UpdateRule::Adam {
                beta_1: 0.9,
                beta_2: 1.0,
                epsilon: 1e-7,
            },
            0.1,
        ),
        OptimizerConfig::with_rule(
            UpdateRule::Adagrad {
                initial_accumulator_value: -1.0,
                epsilon: 1e-7,
            },
            0.1,
        ),
    ] {
        let err = Optimizer::new(config.clone(), &backend, &[vec![1]]).unwrap_err();
        assert!(matches!(err, Error::Optimizer { .. }), "{config:?}: {err}");
        let mut w = backend.zeros(&[1]).unwrap();
        let g = backend.zeros(&[1]).unwrap();
        let mut slots = vec![backend.zeros(&[1]).unwrap(); config.rule.slot_inits().len()];
        let LearningRate::Constant(lr) = config.learning_rate else {
            unreachable!("constant rates only")
        };
        assert!(backend
            .optimizer_step(&config.rule, 1, lr, &mut w, &g, &mut slots)
            .is_err());
    }
}
