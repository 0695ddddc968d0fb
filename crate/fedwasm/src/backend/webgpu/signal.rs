//! A one-shot channel from a wgpu callback to an `async` caller.
//!
//! wgpu reports buffer mappings and finished submissions through callbacks
//! (`map_async`, `on_submitted_work_done`). [`oneshot`] turns one such
//! callback into a future. Natively the callback runs inside `Device::poll`,
//! which the caller drives ([`super::GpuContext::wait`]); in the browser it
//! runs from the event loop, so the future is simply awaited: nothing blocks.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// The sending half: called once from a wgpu callback.
pub(crate) struct Sender<T>(Arc<Mutex<Slot<T>>>);

/// The receiving half: a future of the sent value.
pub(crate) struct Receiver<T>(Arc<Mutex<Slot<T>>>);

/// A connected sender and receiver.
pub(crate) fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
    }));
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    /// Delivers `value` and wakes the receiver.
    pub(crate) fn send(self, value: T) {
        let waker = {
            let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
            slot.value = Some(value);
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match slot.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
