//! A yield to the host: the one place where a pass gives up its turn (see
//! [`super::control`] for what it does on each target).
//!
//! * **wasm32**: a macrotask of the JS event loop, so that timers, input,
//!   rendering and `postMessage` handlers run before the next batch (a
//!   resolved promise would not do: microtasks run before the event loop gets
//!   its turn). The scheduler is chosen once, by what the global object has:
//!   `setImmediate` (Node.js, Bun), else a `MessageChannel` (browsers and Web
//!   Workers: a posted message is a task and, unlike `setTimeout(0)`, is not
//!   clamped to 4 ms once timers nest), else `setTimeout(0)`; with none of
//!   them the yield is a no-op.
//! * **natively**: the future wakes itself and returns `Pending` once, so an
//!   executor may run other tasks first; under `pollster` it costs one
//!   wake-up.

#[cfg(target_arch = "wasm32")]
pub(crate) use js::yield_now;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::yield_now;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Returns `Pending` once (waking itself first), then `Ready`.
    pub(crate) fn yield_now() -> YieldNow {
        YieldNow { yielded: false }
    }

    pub(crate) struct YieldNow {
        yielded: bool,
    }

    impl Future for YieldNow {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.yielded {
                Poll::Ready(())
            } else {
                self.yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod js {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    use js_sys::{Array, Function, Promise, Reflect};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    /// How this JS environment runs a callback as a new task.
    enum Scheduler {
        /// `setImmediate(resolve)` (Node.js).
        Immediate(Function),
        /// One `MessageChannel` for every yield: `port2.postMessage()`, and
        /// `port1.onmessage` resolves the oldest waiting yield.
        Channel {
            port2: JsValue,
            post: Function,
            waiting: Rc<RefCell<VecDeque<Function>>>,
            _onmessage: Closure<dyn FnMut(JsValue)>,
        },
        /// `setTimeout(resolve, 0)`.
        Timeout(Function),
        /// Nothing to yield to.
        None,
    }

    thread_local! {
        static SCHEDULER: Scheduler = Scheduler::detect();
    }

    fn global_fn(name: &str) -> Option<Function> {
        Reflect::get(&js_sys::global(), &JsValue::from_str(name))
            .ok()?
            .dyn_into::<Function>()
            .ok()
    }

    impl Scheduler {
        fn detect() -> Self {
            if let Some(f) = global_fn("setImmediate") {
                return Scheduler::Immediate(f);
            }
            if let Some(s) = Self::channel() {
                return s;
            }
            match global_fn("setTimeout") {
                Some(f) => Scheduler::Timeout(f),
                None => Scheduler::None,
            }
        }

        fn channel() -> Option<Self> {
            let ctor = global_fn("MessageChannel")?;
            let channel = Reflect::construct(&ctor, &Array::new()).ok()?;
            let port1 = Reflect::get(&channel, &JsValue::from_str("port1")).ok()?;
            let port2 = Reflect::get(&channel, &JsValue::from_str("port2")).ok()?;
            let post = Reflect::get(&port2, &JsValue::from_str("postMessage"))
                .ok()?
                .dyn_into::<Function>()
                .ok()?;
            let waiting: Rc<RefCell<VecDeque<Function>>> = Rc::default();
            let queue = waiting.clone();
            let onmessage = Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
                let next = queue.borrow_mut().pop_front();
                if let Some(resolve) = next {
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            });
            Reflect::set(
                &port1,
                &JsValue::from_str("onmessage"),
                onmessage.as_ref().unchecked_ref(),
            )
            .ok()?;
            // Where ports hold a process open (Deno, Node), this one must not.
            if let Ok(unref) = Reflect::get(&port1, &JsValue::from_str("unref")) {
                if let Ok(unref) = unref.dyn_into::<Function>() {
                    let _ = unref.call0(&port1);
                }
            }
            Some(Scheduler::Channel {
                port2,
                post,
                waiting,
                _onmessage: onmessage,
            })
        }

        /// Arranges for `resolve` to be called from a new task; false when
        /// it could not be.
        fn schedule(&self, resolve: &Function) -> bool {
            let global = js_sys::global();
            match self {
                Scheduler::Immediate(f) => f.call1(&global, resolve).is_ok(),
                Scheduler::Channel {
                    port2,
                    post,
                    waiting,
                    ..
                } => {
                    waiting.borrow_mut().push_back(resolve.clone());
                    if post.call1(port2, &JsValue::UNDEFINED).is_ok() {
                        true
                    } else {
                        waiting.borrow_mut().pop_back();
                        false
                    }
                }
                Scheduler::Timeout(f) => f.call2(&global, resolve, &JsValue::from(0)).is_ok(),
                Scheduler::None => false,
            }
        }
    }

    /// Resolves in a later task of the JS event loop.
    pub(crate) async fn yield_now() {
        let mut scheduled = true;
        let promise = Promise::new(&mut |resolve, _reject| {
            scheduled = SCHEDULER.with(|s| s.schedule(&resolve));
            if !scheduled {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        });
        if scheduled {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        }
    }
}
