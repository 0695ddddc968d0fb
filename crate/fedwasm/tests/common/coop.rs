//! Helpers of the cooperative-pass tests (`cooperative.rs` on the CPU,
//! `webgpu_cooperative.rs` on WebGPU and in the browser).

use fedwasm::backend::Backend;
use fedwasm::data::{femnist_digits, Dataset};
use fedwasm::metrics::UnfinalizedMetrics;
use fedwasm::model::{builtin, GraphModel, VariableGroup};
use fedwasm::optim::OptimizerConfig;
use fedwasm::train::{optimizer_for, train_local, TrainOptions};
use fedwasm::Result;

/// The embedded FEMNIST digits of 10 writers as one dataset: 766 examples,
/// 39 batches of 20 (the last of 6).
pub fn digits() -> Dataset {
    let (train, _) = femnist_digits().unwrap();
    Dataset::from_examples(train.merged()).batch(20, false)
}

/// Batches of [`digits`].
pub const DIGIT_BATCHES: u64 = 39;
/// Examples of [`digits`].
pub const DIGIT_EXAMPLES: u64 = 766;

/// One pass of a fresh softmax regression (zero init) with SGD at `lr` on `b`.
pub async fn softmax_pass(
    b: &dyn Backend,
    data: &Dataset,
    lr: f32,
    opts: TrainOptions<'_>,
) -> Result<UnfinalizedMetrics> {
    let mut model = GraphModel::new(builtin::softmax_regression(), b, 1).unwrap();
    let groups = [VariableGroup::GlobalTrainable];
    let mut opt = optimizer_for(b, &model, &groups, OptimizerConfig::sgd(lr)).unwrap();
    train_local(b, &mut model, &mut opt, data, &groups, opts).await
}

/// A yield is a macrotask of the JS event loop: a timer set before a CPU
/// pass fires while it runs (the pass yields before every batch here) and
/// sees some but not all batches done. Without yields the timer cannot fire
/// until the pass is over: the same check then fails, as it must.
#[cfg(target_arch = "wasm32")]
pub async fn check_that_passes_yield_to_the_event_loop() {
    use std::cell::Cell;
    use std::rc::Rc;

    use fedwasm::backend::CpuBackend;
    use fedwasm::train::Progress;

    // 40 passes over the digits (1,560 batches, over 100 ms): several
    // yields even with the 16 ms floor between two (`train::MIN_YIELD_GAP_MS`).
    let data = digits().repeat(40);
    let total = 40 * DIGIT_BATCHES;
    for (every, mid_pass) in [(1, true), (0, false)] {
        let done = Rc::new(Cell::new(0u64));
        let fired_at = Rc::new(Cell::new(None));
        {
            let (done, fired_at) = (done.clone(), fired_at.clone());
            set_timeout(move || fired_at.set(Some(done.get())));
        }
        let mut record = |p: Progress| done.set(p.batches);
        let opts = TrainOptions {
            yield_every: every,
            progress: Some(&mut record),
            ..TrainOptions::default()
        };
        softmax_pass(&CpuBackend::new(), &data, 0.02, opts)
            .await
            .unwrap();
        let at_end = fired_at.get();
        if mid_pass {
            let k = at_end.expect("the timer fired during the pass");
            assert!(k > 0 && k < total, "fired after {k} of {total} batches");
        } else {
            assert_eq!(at_end, None, "without yields no timer runs mid-pass");
            // It fires once the event loop gets its turn.
            next_macrotask().await;
            assert_eq!(fired_at.get(), Some(total));
        }
    }
}

/// `setTimeout(f, 0)` through the global object (Node.js, browsers, workers).
#[cfg(target_arch = "wasm32")]
pub fn set_timeout(f: impl FnOnce() + 'static) {
    use wasm_bindgen::JsCast;
    let global = js_sys::global();
    let set: js_sys::Function = js_sys::Reflect::get(&global, &"setTimeout".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let cb = wasm_bindgen::closure::Closure::once_into_js(f);
    set.call2(&global, &cb, &0.into()).unwrap();
}

/// Resolves after a `setTimeout(0)`: timers set before it have run.
#[cfg(target_arch = "wasm32")]
pub async fn next_macrotask() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        set_timeout(move || {
            resolve.call0(&wasm_bindgen::JsValue::UNDEFINED).unwrap();
        })
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}
