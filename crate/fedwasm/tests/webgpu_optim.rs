//! WebGPU optimizer updates against the CPU backend, natively (llvmpipe) and
//! in headless Chromium: every rule and option, TFF's defaults and custom
//! hyper-parameters (epsilons large enough to matter), five steps in a row
//! (so the slots and Adam's and Yogi's bias correction are exercised) with a
//! new gradient each step, dense on sizes 1, 255, 257 and 10,007, and by
//! rows for the rules that allow it; the CPU's errors; copy on write.

mod common;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use common::gpu::{assert_close, both, host, ids, read, values};
use fedwasm::backend::webgpu::WebGpuBackend;
use fedwasm::backend::{Backend, CpuBackend};
use fedwasm::gradient::RowGradient;
use fedwasm::optim::UpdateRule;
use fedwasm::{Error, Tensor};

const SIZES: [usize; 4] = [1, 255, 257, 10_007];
const STEPS: u64 = 5;
const LR: f32 = 0.05;
/// Relative tolerance: the kernels do the CPU's operations in its order, but
/// GPU square roots and divisions may differ by an ulp or two (and a driver
/// may fuse a multiply-add), over five steps.
const RTOL: f32 = 1e-5;

fn every_rule() -> Vec<(&'static str, UpdateRule)> {
    vec![
        ("sgd", UpdateRule::sgd()),
        (
            "sgd momentum",
            UpdateRule::Sgd {
                momentum: Some(0.9),
                nesterov: false,
            },
        ),
        (
            "sgd nesterov",
            UpdateRule::Sgd {
                momentum: Some(0.7),
                nesterov: true,
            },
        ),
        ("adam", UpdateRule::adam()),
        (
            "adam custom",
            UpdateRule::Adam {
                beta_1: 0.8,
                beta_2: 0.95,
                epsilon: 0.1,
            },
        ),
        ("adagrad", UpdateRule::adagrad()),
        (
            "adagrad custom",
            UpdateRule::Adagrad {
                initial_accumulator_value: 0.5,
                epsilon: 0.2,
            },
        ),
        ("yogi", UpdateRule::yogi()),
        (
            "yogi custom",
            UpdateRule::Yogi {
                beta_1: 0.8,
                beta_2: 0.95,
                epsilon: 0.1,
                initial_preconditioner_value: 0.3,
            },
        ),
        ("rmsprop", UpdateRule::rmsprop()),
        (
            "rmsprop custom",
            UpdateRule::Rmsprop {
                decay: 0.7,
                epsilon: 0.1,
            },
        ),
    ]
}

/// The rule's slots, filled with their initial values, on both backends.
fn slots(b: &WebGpuBackend, rule: &UpdateRule, shape: &[usize]) -> (Vec<Tensor>, Vec<Tensor>) {
    let n: usize = shape.iter().product();
    rule.slot_inits()
        .into_iter()
        .map(|v| both(b, shape, &vec![v; n]))
        .unzip()
}

/// Reads `var` and the slots of both backends and compares them.
async fn compare(
    b: &WebGpuBackend,
    what: &str,
    gv: &Tensor,
    gs: &[Tensor],
    cv: &Tensor,
    cs: &[Tensor],
) {
    let mut ts = vec![gv];
    ts.extend(gs);
    let got = b.read_many(&ts).await.unwrap();
    assert_close(&format!("{what}: var"), &got[0], &host(cv), RTOL);
    for (i, c) in cs.iter().enumerate() {
        assert_close(&format!("{what}: slot {i}"), &got[i + 1], &host(c), RTOL);
    }
}

gpu_tests! {
    async fn dense_steps_match_the_cpu_for_every_rule(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        for (name, rule) in every_rule() {
            for (s, &n) in SIZES.iter().enumerate() {
                let shape = [n];
                let (mut gv, mut cv) = both(b, &shape, &values(n, s as u64));
                let (mut gs, mut cs) = slots(b, &rule, &shape);
                for step in 1..=STEPS {
                    // Gradients of either sign and a few exact zeros.
                    let mut g = values(n, 10 * step + s as u64);
                    g.iter_mut().step_by(7).for_each(|x| *x = 0.0);
                    let (gg, cg) = both(b, &shape, &g);
                    b.optimizer_step(&rule, step, LR, &mut gv, &gg, &mut gs).unwrap();
                    cpu.optimizer_step(&rule, step, LR, &mut cv, &cg, &mut cs).unwrap();
                    if step == 1 || step == STEPS {
                        compare(b, &format!("{name} [{n}] step {step}"), &gv, &gs, &cv, &cs).await;
                    }
                }
            }
        }
    }

    async fn row_steps_match_the_cpu_and_leave_other_rows_alone(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        let sparse_rules: Vec<_> = every_rule()
            .into_iter()
            .filter(|(_, r)| r.sparse_exact())
            .collect();
        assert_eq!(sparse_rules.len(), 3);
        // (table rows, k, lookups per step): k = 1, odd sizes, one row, and
        // matrix factorisation's 4,000 x 50 table with a few hundred ids.
        for (name, rule) in sparse_rules {
            for (s, &(v, k, n)) in [(1, 1, 1), (300, 1, 257), (37, 7, 255), (4_000, 50, 300)].iter().enumerate() {
                let shape = [v, k];
                let w0 = values(v * k, 40 + s as u64);
                let (mut gv, mut cv) = both(b, &shape, &w0);
                let (mut gs, mut cs) = slots(b, &rule, &shape);
                let mut touched = vec![false; v];
                for step in 1..=STEPS {
                    let id = ids(n, v, 50 * step + s as u64);
                    id.iter().for_each(|&i| touched[i as usize] = true);
                    let (gi, ci) = both(b, &[n], &id);
                    let (gd, cd) = both(b, &[n, k], &values(n * k, 60 * step + s as u64));
                    let gg = b.gather_rows_backward(&gd, &gi, v).unwrap();
                    let cg = cpu.gather_rows_backward(&cd, &ci, v).unwrap();
                    b.optimizer_step_rows(&rule, step, LR, &mut gv, &gg, &mut gs).unwrap();
                    cpu.optimizer_step_rows(&rule, step, LR, &mut cv, &cg, &mut cs).unwrap();
                }
                let what = format!("{name} rows [{v}, {k}]");
                compare(b, &what, &gv, &gs, &cv, &cs).await;
                // Untouched rows keep their values exactly.
                let got = read(b, &gv).await;
                for r in (0..v).filter(|&r| !touched[r]) {
                    assert_eq!(&got[r * k..(r + 1) * k], &w0[r * k..(r + 1) * k], "{what}: row {r}");
                }
            }
        }
    }

    async fn a_row_step_equals_the_dense_step(b: &WebGpuBackend) {
        // On the GPU itself: the rows of a sparse gradient and its dense form.
        for rule in [UpdateRule::sgd(), UpdateRule::adagrad()] {
            let (v, k, n) = (50, 3, 40);
            let w0 = b.upload(&[v, k], &values(v * k, 1)).unwrap();
            let (mut sparse, mut dense) = (w0.clone(), w0.clone());
            let (mut ss, _) = slots(b, &rule, &[v, k]);
            let (mut ds, _) = slots(b, &rule, &[v, k]);
            for step in 1..=3 {
                let id = b.upload(&[n], &ids(n, v, step)).unwrap();
                let dy = b.upload(&[n, k], &values(n * k, 10 + step)).unwrap();
                let g = b.gather_rows_backward(&dy, &id, v).unwrap();
                b.optimizer_step_rows(&rule, step, LR, &mut sparse, &g, &mut ss).unwrap();
                b.optimizer_step(&rule, step, LR, &mut dense, &g.to_dense(b).unwrap(), &mut ds).unwrap();
            }
            let got = b.read_many(&[&sparse, &dense]).await.unwrap();
            assert_close(&format!("{} rows vs dense", rule.name()), &got[0], &got[1], 0.0);
        }
    }

    async fn clones_taken_before_a_step_keep_their_values(b: &WebGpuBackend) {
        let n = 10_007;
        let rule = UpdateRule::adam();
        let w0 = values(n, 1);
        let mut var = b.upload(&[n], &w0).unwrap();
        let (mut gs, _) = slots(b, &rule, &[n]);
        let grad = b.upload(&[n], &values(n, 2)).unwrap();
        let (var_before, slots_before) = (var.clone(), gs.clone());
        b.optimizer_step(&rule, 1, LR, &mut var, &grad, &mut gs).unwrap();
        let got = b.read_many(&[&var_before, &slots_before[0], &slots_before[1], &var]).await.unwrap();
        assert_eq!(got[0], w0, "the clone of the variable");
        assert!(got[1].iter().chain(&got[2]).all(|&x| x == 0.0), "the clones of the slots");
        assert!(got[3].iter().zip(&w0).all(|(x, y)| x != y), "the variable moved");

        // By rows, too; and a variable updated twice keeps updating in place.
        let (v, k) = (20, 3);
        let t0 = values(v * k, 3);
        let mut table = b.upload(&[v, k], &t0).unwrap();
        let before = table.clone();
        let id = b.upload(&[4], &[1.0, 5.0, 5.0, 19.0]).unwrap();
        let dy = b.upload(&[4, k], &values(4 * k, 4)).unwrap();
        let g = b.gather_rows_backward(&dy, &id, v).unwrap();
        b.optimizer_step_rows(&UpdateRule::sgd(), 1, LR, &mut table, &g, &mut []).unwrap();
        let after_one = table.clone();
        b.optimizer_step_rows(&UpdateRule::sgd(), 2, LR, &mut table, &g, &mut []).unwrap();
        let got = b.read_many(&[&before, &after_one, &table]).await.unwrap();
        assert_eq!(got[0], t0);
        assert_ne!(got[1], got[0]);
        assert_ne!(got[2], got[1]);
    }

    async fn bad_steps_are_the_cpus_errors_and_change_nothing(b: &WebGpuBackend) {
        let cpu = CpuBackend::new();
        let adam = UpdateRule::adam();
        let w0 = values(4, 1);
        let (mut gv, mut cv) = both(b, &[4], &w0);
        let (gg, cg) = both(b, &[4], &values(4, 2));
        let (mut gs, mut cs) = slots(b, &adam, &[4]);
        let (g3, c3) = both(b, &[3], &values(3, 2));
        let (mut gs3, mut cs3) = slots(b, &adam, &[3]);
        let bad_rule = UpdateRule::Adam { beta_1: 1.0, beta_2: 0.999, epsilon: 1e-7 };
        let nesterov_alone = UpdateRule::Sgd { momentum: None, nesterov: true };
        let cases: Vec<(Result<(), Error>, Result<(), Error>)> = vec![
            // Hyper-parameters, learning rate, step, slot count: Optimizer.
            (b.optimizer_step(&bad_rule, 1, LR, &mut gv, &gg, &mut gs), cpu.optimizer_step(&bad_rule, 1, LR, &mut cv, &cg, &mut cs)),
            (b.optimizer_step(&nesterov_alone, 1, LR, &mut gv, &gg, &mut []), cpu.optimizer_step(&nesterov_alone, 1, LR, &mut cv, &cg, &mut [])),
            (b.optimizer_step(&adam, 1, -0.1, &mut gv, &gg, &mut gs), cpu.optimizer_step(&adam, 1, -0.1, &mut cv, &cg, &mut cs)),
            (b.optimizer_step(&adam, 1, f32::NAN, &mut gv, &gg, &mut gs), cpu.optimizer_step(&adam, 1, f32::NAN, &mut cv, &cg, &mut cs)),
            (b.optimizer_step(&adam, 0, LR, &mut gv, &gg, &mut gs), cpu.optimizer_step(&adam, 0, LR, &mut cv, &cg, &mut cs)),
            (b.optimizer_step(&adam, 1, LR, &mut gv, &gg, &mut gs[..1]), cpu.optimizer_step(&adam, 1, LR, &mut cv, &cg, &mut cs[..1])),
            // Shapes: the gradient, a slot.
            (b.optimizer_step(&adam, 1, LR, &mut gv, &g3, &mut gs), cpu.optimizer_step(&adam, 1, LR, &mut cv, &c3, &mut cs)),
            (b.optimizer_step(&adam, 1, LR, &mut gv, &gg, &mut gs3), cpu.optimizer_step(&adam, 1, LR, &mut cv, &cg, &mut cs3)),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            let (got, want) = (got.unwrap_err(), want.unwrap_err());
            assert_eq!(std::mem::discriminant(&got), std::mem::discriminant(&want), "case {i}: {got} vs {want}");
            assert!(matches!(got, Error::Optimizer { .. } | Error::Shape { .. }), "case {i}: {got}");
            assert_eq!(got.to_string(), want.to_string(), "case {i}");
        }
        // A host slot (or gradient) is a storage error, before anything is written.
        let mut mixed = vec![gs[0].clone(), cs[1].clone()];
        assert!(matches!(b.optimizer_step(&adam, 1, LR, &mut gv, &gg, &mut mixed), Err(Error::Storage { .. })));
        assert!(matches!(b.optimizer_step(&adam, 1, LR, &mut gv, &cg, &mut gs), Err(Error::Storage { .. })));

        // By rows: rules that are not sparse-exact, and shape mismatches.
        let (v, k) = (6, 2);
        let (mut gt, mut ct) = both(b, &[v, k], &values(v * k, 3));
        let (gi, ci) = both(b, &[3], &[4.0, 0.0, 4.0]);
        let (gd, cd) = both(b, &[3, k], &values(3 * k, 4));
        let grow = b.gather_rows_backward(&gd, &gi, v).unwrap();
        let crow = cpu.gather_rows_backward(&cd, &ci, v).unwrap();
        let grow_other = b.gather_rows_backward(&gd, &gi, v + 1).unwrap();
        let crow_other = cpu.gather_rows_backward(&cd, &ci, v + 1).unwrap();
        let no_eps = UpdateRule::Adagrad { initial_accumulator_value: 0.0, epsilon: 0.0 };
        let momentum = UpdateRule::Sgd { momentum: Some(0.9), nesterov: false };
        let mut cases: Vec<(Result<(), Error>, Result<(), Error>)> = Vec::new();
        for rule in [adam.clone(), UpdateRule::yogi(), UpdateRule::rmsprop(), momentum, no_eps] {
            let (mut g_sl, mut c_sl) = slots(b, &rule, &[v, k]);
            cases.push((
                b.optimizer_step_rows(&rule, 1, LR, &mut gt, &grow, &mut g_sl),
                cpu.optimizer_step_rows(&rule, 1, LR, &mut ct, &crow, &mut c_sl),
            ));
        }
        let sgd = UpdateRule::sgd();
        cases.push((
            b.optimizer_step_rows(&sgd, 1, LR, &mut gt, &grow_other, &mut []),
            cpu.optimizer_step_rows(&sgd, 1, LR, &mut ct, &crow_other, &mut []),
        ));
        let adagrad = UpdateRule::adagrad();
        let (mut g_small, mut c_small) = slots(b, &adagrad, &[v - 1, k]);
        cases.push((
            b.optimizer_step_rows(&adagrad, 1, LR, &mut gt, &grow, &mut g_small),
            cpu.optimizer_step_rows(&adagrad, 1, LR, &mut ct, &crow, &mut c_small),
        ));
        for (i, (got, want)) in cases.into_iter().enumerate() {
            let (got, want) = (got.unwrap_err(), want.unwrap_err());
            let kind = if i < 5 { matches!(got, Error::Optimizer { .. }) } else { matches!(got, Error::Shape { .. }) };
            assert!(kind, "rows case {i}: {got}");
            assert_eq!(got.to_string(), want.to_string(), "rows case {i}");
        }

        // Nothing was written.
        let got = b.read_many(&[&gv, &gs[0], &gs[1], &gt]).await.unwrap();
        assert_eq!(got[0], w0);
        assert!(got[1].iter().chain(&got[2]).all(|&x| x == 0.0));
        assert_eq!(got[3], values(v * k, 3));
    }

    async fn empty_variables_are_fine(b: &WebGpuBackend) {
        let rule = UpdateRule::adam();
        let mut var = b.upload(&[0, 3], &[]).unwrap();
        let grad = b.upload(&[0, 3], &[]).unwrap();
        let (mut gs, _) = slots(b, &rule, &[0, 3]);
        b.optimizer_step(&rule, 1, LR, &mut var, &grad, &mut gs).unwrap();
        assert!(read(b, &var).await.is_empty());
        // A sparse gradient with no rows.
        let mut table = b.upload(&[3, 2], &values(6, 1)).unwrap();
        let none = RowGradient::new(3, vec![], b.upload(&[0, 2], &[]).unwrap()).unwrap();
        b.optimizer_step_rows(&UpdateRule::sgd(), 1, LR, &mut table, &none, &mut []).unwrap();
        assert_eq!(read(b, &table).await, values(6, 1));
    }
}
