//! `describeModel`: a model spec checked by building it, for the glue's
//! `models.*` constructors.

use wasm_bindgen::prelude::*;

use super::{get, js_error, process::whole};
use crate::backend::CpuBackend;
use crate::error::Error;
use crate::model::builtin::{cnn_dropout, matrix_factorization, softmax_regression_for};
use crate::model::{GraphModel, Model, ModelSpec};

fn size(options: &JsValue, key: &str, default: Option<u64>) -> Result<usize, JsValue> {
    const OP: &str = "models";
    match get(options, key) {
        Some(v) => {
            let n = v.as_f64().ok_or_else(|| {
                js_error(Error::invalid(
                    OP,
                    format!("{key} must be a number, got {v:?}"),
                ))
            })?;
            let n = whole(n, OP, key)?;
            if n == 0 {
                return Err(js_error(Error::invalid(
                    OP,
                    format!("{key} must be at least 1"),
                )));
            }
            Ok(n as usize)
        }
        None => default
            .map(|d| d as usize)
            .ok_or_else(|| js_error(Error::invalid(OP, format!("{key} is required")))),
    }
}

/// The spec of a built-in model (`kind`: `softmaxRegression {inputs = 784,
/// classes = 10}`, `cnnDropout {classes = 10}`, `matrixFactorization
/// {items, dim}`) or of `spec` (`kind` `"spec"`, `options` the JSON text),
/// checked by building it on the CPU: `{spec: JSON text, name, parameters,
/// inputShape}`.
#[wasm_bindgen(js_name = describeModel)]
pub fn describe_model(kind: &str, options: JsValue) -> Result<JsValue, JsValue> {
    let spec = match kind {
        "softmaxRegression" => softmax_regression_for(
            size(&options, "inputs", Some(784))?,
            size(&options, "classes", Some(10))?,
        ),
        "cnnDropout" => cnn_dropout(size(&options, "classes", Some(10))?),
        "matrixFactorization" => {
            matrix_factorization(size(&options, "items", None)?, size(&options, "dim", None)?)
        }
        "spec" => {
            let text = options.as_string().ok_or_else(|| {
                js_error(Error::invalid(
                    "models.fromSpec",
                    "the spec must be JSON text or an object",
                ))
            })?;
            ModelSpec::from_json(&text).map_err(js_error)?
        }
        other => {
            return Err(js_error(Error::invalid(
                "models",
                format!("unknown model kind {other:?}"),
            )))
        }
    };
    let model = GraphModel::new(spec.clone(), &CpuBackend::new(), 0).map_err(js_error)?;
    let parameters: usize = model
        .variables()
        .iter()
        .map(|v| v.shape.iter().product::<usize>())
        .sum();
    let out = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&out, &k.into(), &v).map(drop);
    set("spec", spec.to_json().into())?;
    set("name", spec.name.as_str().into())?;
    set("parameters", (parameters as f64).into())?;
    set("inputShape", super::to_js(&spec.input_shape))?;
    Ok(out.into())
}

/// Parses and validates an optimizer config (JSON as
/// [`crate::optim::OptimizerConfig`]); returns it normalised.
#[wasm_bindgen(js_name = checkOptimizer)]
pub fn check_optimizer(json: &str) -> Result<String, JsValue> {
    let config = crate::optim::OptimizerConfig::from_json(json).map_err(js_error)?;
    config.to_json().map_err(js_error)
}
