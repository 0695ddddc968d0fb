//! Getting a WebGPU device, running work on it inside error scopes, and
//! waiting for it without blocking the browser.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use super::signal::oneshot;
use crate::error::{Error, Result};

/// The adapter a [`GpuContext`] runs on, for logs and benchmark reports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AdapterSummary {
    /// The adapter's name (`"llvmpipe (LLVM 15.0.6, 256 bits)"` for Mesa's CPU driver).
    pub name: String,
    /// The wgpu backend behind it (`"vulkan"`, `"webgpu"`).
    pub backend: String,
    /// Discrete, integrated, virtual or CPU.
    pub device_type: String,
    /// The driver and its version, where the platform tells.
    pub driver: String,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {}", self.name, self.backend, self.device_type)?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        f.write_str(")")
    }
}

/// A WebGPU device and queue, the compiled shader modules and compute
/// pipelines, and the GPU errors that happened outside any error scope.
///
/// Each WGSL source is compiled to one shader module, shared by the
/// pipelines of all its entry points; each pipeline is compiled once, on
/// first use, and cached by name with its bind group layout.
///
/// GPU work runs inside out-of-memory, validation and internal error scopes,
/// whose catches become [`Error::Gpu`]: [`GpuContext::scoped`] wraps one
/// piece of work, and the backend keeps one set open between two reads.
/// Errors the scopes miss, and device loss, are recorded by handlers
/// installed here instead of wgpu's default (which panics) and reported by
/// every later [`GpuContext::check`]: an uncaptured error is fatal for the
/// context ([`Error::Gpu`]), a lost device is [`Error::DeviceLost`].
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: AdapterSummary,
    pipelines: Mutex<HashMap<&'static str, Compiled>>,
    /// One module per WGSL source (keyed by the source text).
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    /// First uncaptured error, if any.
    failure: Arc<Mutex<Option<String>>>,
    /// Why the device was lost, if it was.
    lost: Arc<Mutex<Option<String>>>,
}

/// A compute pipeline and the layout of its bind group 0 (asking for the
/// layout makes a new handle each time: a JavaScript object in browsers).
#[derive(Clone)]
pub(crate) struct Compiled {
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.adapter)
            .finish_non_exhaustive()
    }
}

impl GpuContext {
    /// Requests a high-performance adapter and a device with WebGPU's default
    /// limits (WebGL-level downlevel limits where the adapter offers less),
    /// with the storage-buffer and buffer size limits raised to what the
    /// adapter allows.
    ///
    /// # Errors
    /// [`Error::NoAdapter`] when there is no adapter (no Vulkan driver
    /// natively, no WebGPU in the browser); [`Error::Gpu`] when the adapter
    /// refuses a device.
    pub async fn new() -> Result<GpuContext> {
        // wgpu aborts when asked for the GPU where JavaScript has none (Node,
        // shared workers): ask `navigator.gpu` first.
        #[cfg(target_arch = "wasm32")]
        if !browser_has_webgpu() {
            return Err(Error::NoAdapter {
                detail: "this JavaScript environment has no WebGPU (navigator.gpu is missing)"
                    .into(),
            });
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoAdapter {
                detail: e.to_string(),
            })?;
        let info = adapter.get_info();
        let available = adapter.limits();
        let base = if wgpu::Limits::default().check_limits(&available) {
            wgpu::Limits::default()
        } else {
            wgpu::Limits::downlevel_defaults()
        };
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: available.max_storage_buffer_binding_size,
            max_buffer_size: available.max_buffer_size,
            ..base
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("fedwasm"),
                required_limits: limits,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::gpu("GpuContext::new (request_device)", e.to_string()))?;

        let failure: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let slot = failure.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            record(&slot, format!("uncaptured GPU error: {e}"));
        }));
        let lost: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let slot = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            record(&slot, format!("{reason:?}: {message}"));
        });
        #[allow(unused_mut)] // reassigned in wasm only
        let mut name = info.name;
        #[cfg(target_arch = "wasm32")]
        if name.is_empty() {
            name = browser_adapter_name().await;
        }
        Ok(GpuContext {
            device,
            queue,
            adapter: AdapterSummary {
                name,
                backend: info.backend.to_string(),
                device_type: format!("{:?}", info.device_type),
                driver: format!("{} {}", info.driver, info.driver_info)
                    .trim()
                    .to_string(),
            },
            pipelines: Mutex::new(HashMap::new()),
            modules: Mutex::new(HashMap::new()),
            failure,
            lost,
        })
    }

    /// The adapter this context runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    /// The device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// A buffer holding `bytes` (zero-padded to the copy alignment, at least
    /// 4 bytes), written through the queue rather than mapped at creation:
    /// on a lost device that is a reported error, where mapping panics.
    pub fn buffer_with_data(
        &self,
        label: &str,
        usage: wgpu::BufferUsages,
        bytes: &[u8],
    ) -> wgpu::Buffer {
        let align = wgpu::COPY_BUFFER_ALIGNMENT as usize;
        let size = bytes.len().max(1).div_ceil(align) * align;
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size as u64,
            usage: usage | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if bytes.len() == size {
            self.queue.write_buffer(&buffer, 0, bytes);
        } else if !bytes.is_empty() {
            let mut padded = bytes.to_vec();
            padded.resize(size, 0);
            self.queue.write_buffer(&buffer, 0, &padded);
        }
        buffer
    }

    /// Fails if the device was lost or an error escaped every error scope.
    ///
    /// # Errors
    /// [`Error::DeviceLost`] once the device is lost; [`Error::Gpu`] naming
    /// `op` and the recorded failure.
    pub fn check(&self, op: &'static str) -> Result<()> {
        if let Some(detail) = lock(&self.lost).clone() {
            return Err(Error::DeviceLost { op, detail });
        }
        match lock(&self.failure).clone() {
            Some(detail) => Err(Error::gpu(op, detail)),
            None => Ok(()),
        }
    }

    /// True once the device is lost (destroyed, reset by the driver or the browser).
    pub fn is_lost(&self) -> bool {
        lock(&self.lost).is_some()
    }

    /// Runs `work` (which creates resources, encodes or submits) inside
    /// out-of-memory, validation and internal error scopes; the first error
    /// they catch becomes [`Error::Gpu`] naming `op`.
    ///
    /// Scopes are per thread natively, so `work` must not hand GPU calls to
    /// other threads.
    ///
    /// # Errors
    /// [`Error::Gpu`] for a caught error or an earlier uncaptured one;
    /// [`Error::DeviceLost`] after a device loss.
    pub async fn scoped<T>(&self, op: &'static str, work: impl FnOnce(&Self) -> T) -> Result<T> {
        self.check(op)?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let out = work(self);
        // Pop in reverse order of pushing; the pops take effect at once.
        let internal = internal.pop();
        let validation = validation.pop();
        let oom = oom.pop();
        let errors = [internal.await, validation.await, oom.await];
        if let Some(e) = errors.into_iter().flatten().next() {
            return Err(Error::gpu(op, describe(&e)));
        }
        self.check(op)?;
        Ok(out)
    }

    /// The compute pipeline of `entry` in the WGSL `source` named `name`,
    /// compiled once and then served from the cache. Bind group layouts are
    /// derived from the shader (`layout: None`).
    ///
    /// # Errors
    /// [`Error::Gpu`] when the shader does not compile or validate.
    pub async fn pipeline(
        &self,
        name: &'static str,
        source: &'static str,
        entry: &'static str,
    ) -> Result<wgpu::ComputePipeline> {
        if let Some(c) = self.cached(name) {
            return Ok(c.pipeline);
        }
        let compiled = self
            .scoped("GpuContext::pipeline", |ctx| {
                ctx.create_pipeline(name, source, entry)
            })
            .await
            .map_err(|e| match e {
                Error::Gpu { detail, .. } => {
                    Error::gpu("GpuContext::pipeline", format!("kernel {name}: {detail}"))
                }
                other => other,
            })?;
        lock(&self.pipelines).insert(name, compiled.clone());
        Ok(compiled.pipeline)
    }

    /// [`GpuContext::pipeline`] and its bind group layout, without waiting
    /// for the error scopes: served from the same cache, or compiled and
    /// cached at once. Call inside open error scopes; a shader that fails to
    /// compile is reported by them (and stays cached: the context's work
    /// then keeps failing visibly).
    pub(crate) fn pipeline_now(
        &self,
        name: &'static str,
        source: &'static str,
        entry: &'static str,
    ) -> Compiled {
        if let Some(c) = self.cached(name) {
            return c;
        }
        let compiled = self.create_pipeline(name, source, entry);
        lock(&self.pipelines).insert(name, compiled.clone());
        compiled
    }

    /// The pipeline cached under `name`, if any.
    pub(crate) fn cached(&self, name: &str) -> Option<Compiled> {
        lock(&self.pipelines).get(name).cloned()
    }

    /// Compiles `entry` of `source` (its module compiled once per source),
    /// with the layout derived from the shader.
    fn create_pipeline(&self, name: &str, source: &'static str, entry: &str) -> Compiled {
        let module = lock(&self.modules)
            .entry(source)
            .or_insert_with(|| {
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(name),
                        source: wgpu::ShaderSource::Wgsl(source.into()),
                    })
            })
            .clone();
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        Compiled {
            layout: pipeline.get_bind_group_layout(0),
            pipeline,
        }
    }

    /// Waits until everything submitted so far has finished: by polling the
    /// device natively, by awaiting the browser's callback in wasm.
    ///
    /// # Errors
    /// [`Error::Gpu`] when polling fails; [`Error::DeviceLost`] when the
    /// device is lost.
    pub async fn wait(&self, op: &'static str) -> Result<()> {
        let (tx, rx) = oneshot();
        self.queue.on_submitted_work_done(move || tx.send(()));
        self.drive(rx, op).await?;
        self.check(op)
    }

    /// Awaits `signal`, first polling the device until it is idle natively
    /// (callbacks fire inside `poll`); in wasm the browser fires them.
    pub(crate) async fn drive<T>(
        &self,
        signal: impl Future<Output = T>,
        op: &'static str,
    ) -> Result<T> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::gpu(op, format!("device poll failed: {e}")))?;
        #[cfg(target_arch = "wasm32")]
        let _ = op;
        Ok(signal.await)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps the first failure: later ones are usually its consequences.
fn record(slot: &Mutex<Option<String>>, message: String) {
    lock(slot).get_or_insert(message);
}

/// A wgpu error as one line: its kind, then its description.
pub(crate) fn describe(e: &wgpu::Error) -> String {
    match e {
        wgpu::Error::OutOfMemory { .. } => "out of GPU memory".into(),
        wgpu::Error::Validation { description, .. } => format!("validation error: {description}"),
        wgpu::Error::Internal { description, .. } => format!("internal error: {description}"),
    }
}

/// The browser's own name for its adapter, `"<vendor> <architecture>"` of
/// `GPUAdapterInfo` (`"google swiftshader"` for Chromium's software
/// adapter): wgpu takes the name from `description`, which Chromium leaves
/// empty. Asks `navigator.gpu` for an adapter again, only for its info.
#[cfg(target_arch = "wasm32")]
async fn browser_adapter_name() -> String {
    use wasm_bindgen::{JsCast, JsValue};
    fn get(v: &JsValue, key: &str) -> JsValue {
        js_sys::Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
    }
    let gpu = get(&get(&js_sys::global(), "navigator"), "gpu");
    let Ok(request) = get(&gpu, "requestAdapter").dyn_into::<js_sys::Function>() else {
        return "unnamed WebGPU adapter".into();
    };
    let adapter = match request.call0(&gpu).map(js_sys::Promise::from) {
        Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise).await,
        Err(e) => Err(e),
    };
    let info = match adapter {
        Ok(a) if !a.is_null() && !a.is_undefined() => get(&a, "info"),
        _ => return "unnamed WebGPU adapter".into(),
    };
    let parts: Vec<String> = ["vendor", "architecture", "device"]
        .iter()
        .filter_map(|k| get(&info, k).as_string())
        .filter(|v| !v.is_empty())
        .collect();
    if parts.is_empty() {
        "unnamed WebGPU adapter".into()
    } else {
        parts.join(" ")
    }
}

/// True when `navigator.gpu` exists on a page or in a dedicated worker, the
/// only places wgpu may use it.
#[cfg(target_arch = "wasm32")]
fn browser_has_webgpu() -> bool {
    use wasm_bindgen::JsValue;
    let global = js_sys::global();
    let get = |v: &JsValue, key: &str| js_sys::Reflect::get(v, &key.into()).ok();
    // A window or a dedicated worker: wgpu refuses every other global.
    let has = |name: &str| get(&global, name).is_some_and(|v| !v.is_undefined());
    let is_window = has("window") && has("document");
    let is_dedicated_worker = has("DedicatedWorkerGlobalScope");
    (is_window || is_dedicated_worker)
        && get(&global, "navigator")
            .and_then(|n| get(&n, "gpu"))
            .is_some_and(|g| !g.is_undefined() && !g.is_null())
}
