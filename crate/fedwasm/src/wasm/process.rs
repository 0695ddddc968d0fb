//! `ProcessHandle` and `RoundHandle`: a learning process as the server side
//! sees it. The state crosses to JS as `FWCK` bytes, tasks as `FWTK`,
//! updates as `FWUP` and client states as `FWCS` (see
//! [`fedwasm_protocol::encoding`]): the same bytes whether the clients run in
//! this instance, in workers or across a network.

use std::rc::Rc;

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::{bytes_to_js, get, js_error, to_js};
use crate::backend::{Backend, CpuBackend};
use crate::data::DatasetPlan;
use crate::error::Error;
use crate::federated::{
    build_fed_eval, build_fed_prox, build_fed_recon, build_fed_recon_eval, build_stateful_fed_avg,
    build_unweighted_fed_avg, build_weighted_fed_avg, model_fn, ClientState, ClientUpdate,
    ClientWeighting, FedAvgConfig, FedReconConfig, FedReconEvalConfig, LearningProcess,
    LearningProcessState, ModelWeights, ServerRound, StatefulConfig, StatefulProcess,
};
use crate::model::{ModelSpec, NamedTensor};
use crate::optim::OptimizerConfig;
use fedwasm_protocol::work::{ReconstructionConfig, ReconstructionSplit};

/// Every option a builder may take, as the glue sends it (snake_case JSON;
/// unknown fields refused). Each algorithm takes some of them and refuses
/// the others by name.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildOptions {
    client_optimizer: Option<OptimizerConfig>,
    server_optimizer: Option<OptimizerConfig>,
    reconstruction_optimizer: Option<OptimizerConfig>,
    local_optimizer: Option<OptimizerConfig>,
    proximal_strength: Option<f32>,
    client_weighting: Option<ClientWeighting>,
    split: Option<ReconstructionSplit>,
    seed: Option<u64>,
}

impl BuildOptions {
    /// Refuses any option outside `allowed`.
    fn only(&self, algorithm: &str, allowed: &[&str]) -> Result<(), JsValue> {
        let given = [
            ("clientOptimizer", self.client_optimizer.is_some()),
            ("serverOptimizer", self.server_optimizer.is_some()),
            (
                "reconstructionOptimizer",
                self.reconstruction_optimizer.is_some(),
            ),
            ("localOptimizer", self.local_optimizer.is_some()),
            ("proximalStrength", self.proximal_strength.is_some()),
            ("clientWeighting", self.client_weighting.is_some()),
            ("split", self.split.is_some()),
            ("seed", self.seed.is_some()),
        ];
        match given.iter().find(|(n, set)| *set && !allowed.contains(n)) {
            Some((name, _)) => Err(js_error(Error::invalid(
                "build",
                format!(
                    "{algorithm} takes no option {name:?} (it takes {})",
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ),
            ))),
            None => Ok(()),
        }
    }
}

enum Inner {
    Plain(LearningProcess),
    Stateful(StatefulProcess),
}

impl Inner {
    fn process(&self) -> &LearningProcess {
        match self {
            Inner::Plain(p) => p,
            Inner::Stateful(s) => s.process(),
        }
    }
}

/// A learning process (TFF's `LearningProcess`), server side: built from an
/// algorithm name, a model spec and options; its model runs on the CPU here
/// (for the initial weights only); clients run with [`super::client`].
#[wasm_bindgen]
pub struct ProcessHandle {
    inner: Rc<Inner>,
    model_spec: String,
}

fn decode_state(bytes: &[u8]) -> Result<LearningProcessState, JsValue> {
    LearningProcessState::from_bytes(bytes).map_err(js_error)
}

fn encode_state(state: &LearningProcessState) -> Result<Uint8Array, JsValue> {
    Ok(bytes_to_js(&state.to_bytes().map_err(js_error)?))
}

#[wasm_bindgen]
impl ProcessHandle {
    /// Builds `algorithm` (`weighted_fed_avg`, `unweighted_fed_avg`,
    /// `fed_prox`, `fed_eval`, `fed_recon`, `fed_recon_eval`,
    /// `stateful_fed_avg`) for the model `model_spec` (JSON) with
    /// `options_json` (see [`BuildOptions`]).
    #[wasm_bindgen(constructor)]
    pub fn new(
        algorithm: &str,
        model_spec: &str,
        options_json: &str,
    ) -> Result<ProcessHandle, JsValue> {
        let spec = ModelSpec::from_json(model_spec).map_err(js_error)?;
        let o: BuildOptions = serde_json::from_str(options_json)
            .map_err(|e| js_error(Error::invalid("build", format!("options: {e}"))))?;
        let f = model_fn(spec.clone());
        let b: Rc<dyn Backend> = Rc::new(CpuBackend::new());
        let fed_avg = |o: &BuildOptions| {
            let d = FedAvgConfig::default();
            FedAvgConfig {
                client_optimizer: o.client_optimizer.clone().unwrap_or(d.client_optimizer),
                server_optimizer: o.server_optimizer.clone().unwrap_or(d.server_optimizer),
                seed: o.seed.unwrap_or(d.seed),
            }
        };
        const AVG: &[&str] = &[
            "clientOptimizer",
            "serverOptimizer",
            "clientWeighting",
            "seed",
        ];
        let weighting = o.client_weighting.unwrap_or_default();
        let plain = match algorithm {
            "weighted_fed_avg" => {
                o.only(algorithm, AVG)?;
                build_weighted_fed_avg(f, b, fed_avg(&o), weighting)
            }
            "unweighted_fed_avg" => {
                o.only(algorithm, &["clientOptimizer", "serverOptimizer", "seed"])?;
                build_unweighted_fed_avg(f, b, fed_avg(&o))
            }
            "fed_prox" => {
                o.only(algorithm, &[AVG, &["proximalStrength"]].concat())?;
                let mu = o.proximal_strength.ok_or_else(|| {
                    js_error(Error::invalid(
                        "buildFedProx",
                        "proximalStrength is required",
                    ))
                })?;
                build_fed_prox(f, b, fed_avg(&o), mu, weighting)
            }
            "fed_eval" => {
                o.only(algorithm, &[])?;
                build_fed_eval(f, b)
            }
            "fed_recon" => {
                o.only(
                    algorithm,
                    &[
                        "clientOptimizer",
                        "serverOptimizer",
                        "reconstructionOptimizer",
                        "clientWeighting",
                        "split",
                        "seed",
                    ],
                )?;
                let d = FedReconConfig::default();
                let r = d.reconstruction.clone();
                build_fed_recon(
                    f,
                    b,
                    FedReconConfig {
                        reconstruction: ReconstructionConfig {
                            reconstruction_optimizer: o
                                .reconstruction_optimizer
                                .clone()
                                .unwrap_or(r.reconstruction_optimizer),
                            client_optimizer: o
                                .client_optimizer
                                .clone()
                                .unwrap_or(r.client_optimizer),
                            split: o.split.clone().unwrap_or(r.split),
                        },
                        server_optimizer: o.server_optimizer.clone().unwrap_or(d.server_optimizer),
                        client_weighting: weighting,
                        seed: o.seed.unwrap_or(d.seed),
                    },
                )
            }
            "fed_recon_eval" => {
                o.only(algorithm, &["reconstructionOptimizer", "split", "seed"])?;
                let d = FedReconEvalConfig::default();
                build_fed_recon_eval(
                    f,
                    b,
                    FedReconEvalConfig {
                        reconstruction_optimizer: o
                            .reconstruction_optimizer
                            .clone()
                            .unwrap_or(d.reconstruction_optimizer),
                        split: o.split.clone().unwrap_or(d.split),
                        seed: o.seed.unwrap_or(d.seed),
                    },
                )
            }
            "stateful_fed_avg" => {
                o.only(
                    algorithm,
                    &[
                        "clientOptimizer",
                        "serverOptimizer",
                        "localOptimizer",
                        "clientWeighting",
                        "seed",
                    ],
                )?;
                let d = StatefulConfig::default();
                return Ok(ProcessHandle {
                    inner: Rc::new(Inner::Stateful(
                        build_stateful_fed_avg(
                            f,
                            b,
                            StatefulConfig {
                                client_optimizer: o
                                    .client_optimizer
                                    .clone()
                                    .unwrap_or(d.client_optimizer),
                                local_optimizer: o
                                    .local_optimizer
                                    .clone()
                                    .unwrap_or(d.local_optimizer),
                                server_optimizer: o
                                    .server_optimizer
                                    .clone()
                                    .unwrap_or(d.server_optimizer),
                                client_weighting: weighting,
                                seed: o.seed.unwrap_or(d.seed),
                            },
                        )
                        .map_err(js_error)?,
                    )),
                    model_spec: spec.to_json(),
                });
            }
            other => {
                return Err(js_error(Error::invalid(
                    "build",
                    format!("unknown algorithm {other:?}"),
                )))
            }
        };
        Ok(ProcessHandle {
            inner: Rc::new(Inner::Plain(plain.map_err(js_error)?)),
            model_spec: spec.to_json(),
        })
    }

    /// The algorithm's name (`"weighted_fed_avg"`, ..).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.process().name().to_string()
    }

    /// Whether clients keep state (`stateful_fed_avg`).
    #[wasm_bindgen(getter, js_name = isStateful)]
    pub fn is_stateful(&self) -> bool {
        matches!(&*self.inner, Inner::Stateful(_))
    }

    /// The model spec (JSON) a client needs to run this process's tasks.
    #[wasm_bindgen(getter, js_name = modelSpec)]
    pub fn model_spec(&self) -> String {
        self.model_spec.clone()
    }

    /// The process as data ([`crate::federated::ProcessSpec`]), a plain object.
    #[wasm_bindgen(getter)]
    pub fn spec(&self) -> JsValue {
        to_js(self.inner.process().spec())
    }

    /// The element spec the model takes (`{x_shape, label}`).
    #[wasm_bindgen(getter, js_name = inputSpec)]
    pub fn input_spec(&self) -> JsValue {
        to_js(self.inner.process().input_spec())
    }

    /// The initial state, as `FWCK` bytes (a promise).
    pub fn initialize(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let state = match &*inner {
                Inner::Plain(p) => p.initialize().await,
                Inner::Stateful(s) => s.initialize().await,
            }
            .map_err(js_error)?;
            Ok(encode_state(&state)?.into())
        })
    }

    /// A stateful client's first state (`FWCS` bytes; a promise): its local
    /// variables as the process initialises them for client `index`.
    #[wasm_bindgen(js_name = initialClientState)]
    pub fn initial_client_state(&self, index: f64) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let Inner::Stateful(s) = &*inner else {
                return Err(js_error(Error::invalid(
                    "initialClientState",
                    "only stateful processes have client states",
                )));
            };
            let index = whole(index, "initialClientState", "index")?;
            let state = s.initial_client_state(index).await.map_err(js_error)?;
            Ok(bytes_to_js(&state.to_bytes()).into())
        })
    }

    /// The round a state is at (rounds completed).
    #[wasm_bindgen(js_name = stateRound)]
    pub fn state_round(&self, state: &[u8]) -> Result<f64, JsValue> {
        let state = decode_state(state)?;
        self.inner
            .process()
            .check_state("stateRound", &state)
            .map_err(js_error)?;
        Ok(state.round() as f64)
    }

    /// Starts a round from `state` (checked against this process).
    #[wasm_bindgen(js_name = beginRound)]
    pub fn begin_round(&self, state: &[u8]) -> Result<RoundHandle, JsValue> {
        let state = decode_state(state)?;
        let round = self.inner.process().begin_round(&state).map_err(js_error)?;
        Ok(RoundHandle { round: Some(round) })
    }

    /// `{trainable, nonTrainable}`, each a list of `{name, shape, data:
    /// Float32Array}` (TFF's `get_model_weights`).
    #[wasm_bindgen(js_name = getModelWeights)]
    pub fn get_model_weights(&self, state: &[u8]) -> Result<JsValue, JsValue> {
        let state = decode_state(state)?;
        let w = self
            .inner
            .process()
            .get_model_weights(&state)
            .map_err(js_error)?;
        let out = Object::new();
        Reflect::set(&out, &"trainable".into(), &tensors_to_js(&w.trainable)?)?;
        Reflect::set(
            &out,
            &"nonTrainable".into(),
            &tensors_to_js(&w.non_trainable)?,
        )?;
        Ok(out.into())
    }

    /// `state` with its model weights replaced (TFF's `set_model_weights`);
    /// `weights` as [`ProcessHandle::get_model_weights`] gives them.
    #[wasm_bindgen(js_name = setModelWeights)]
    pub fn set_model_weights(&self, state: &[u8], weights: JsValue) -> Result<Uint8Array, JsValue> {
        const OP: &str = "setModelWeights";
        let state = decode_state(state)?;
        let list = |key: &str| -> Result<Vec<NamedTensor>, JsValue> {
            let v = get(&weights, key)
                .ok_or_else(|| js_error(Error::invalid(OP, format!("weights.{key} is missing"))))?;
            tensors_from_js(OP, key, &v)
        };
        let w = ModelWeights {
            trainable: list("trainable")?,
            non_trainable: list("nonTrainable")?,
        };
        let new = self
            .inner
            .process()
            .set_model_weights(&state, w)
            .map_err(js_error)?;
        encode_state(&new)
    }
}

/// A `u64` from a JS number that must be a whole number.
pub(crate) fn whole(v: f64, op: &'static str, what: &str) -> Result<u64, JsValue> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(js_error(Error::invalid(
            op,
            format!("{what} must be a whole number >= 0, got {v}"),
        )))
    }
}

fn tensors_to_js(list: &[NamedTensor]) -> Result<JsValue, JsValue> {
    let out = Array::new();
    for t in list {
        let o = Object::new();
        Reflect::set(&o, &"name".into(), &t.name.as_str().into())?;
        let shape: Array = t.shape.iter().map(|&d| JsValue::from(d as f64)).collect();
        Reflect::set(&o, &"shape".into(), &shape)?;
        Reflect::set(&o, &"data".into(), &Float32Array::from(t.data.as_slice()))?;
        out.push(&o);
    }
    Ok(out.into())
}

fn tensors_from_js(op: &'static str, key: &str, v: &JsValue) -> Result<Vec<NamedTensor>, JsValue> {
    let bad = |detail: String| js_error(Error::invalid(op, detail));
    let list = v
        .dyn_ref::<Array>()
        .ok_or_else(|| bad(format!("weights.{key} is not an array")))?;
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let name = get(&t, "name")
                .and_then(|n| n.as_string())
                .ok_or_else(|| bad(format!("weights.{key}[{i}].name is not a string")))?;
            let shape = get(&t, "shape")
                .and_then(|s| s.dyn_into::<Array>().ok())
                .ok_or_else(|| bad(format!("weights.{key}[{i}].shape is not an array")))?
                .iter()
                .map(|d| d.as_f64().map(|d| whole(d, op, "a dimension")))
                .collect::<Option<Result<Vec<u64>, JsValue>>>()
                .ok_or_else(|| bad(format!("weights.{key}[{i}].shape holds a non-number")))??;
            let data = get(&t, "data")
                .and_then(|d| d.dyn_into::<Float32Array>().ok())
                .ok_or_else(|| bad(format!("weights.{key}[{i}].data is not a Float32Array")))?;
            Ok(NamedTensor {
                name,
                shape: shape.into_iter().map(|d| d as usize).collect(),
                data: data.to_vec(),
            })
        })
        .collect()
}

/// One round ([`ServerRound`]): `task` for each client, `accept` their
/// updates in any order (each validated before it changes anything), then
/// `finish`.
#[wasm_bindgen]
pub struct RoundHandle {
    round: Option<ServerRound>,
}

impl RoundHandle {
    fn round(&mut self, op: &'static str) -> Result<&mut ServerRound, JsValue> {
        self.round
            .as_mut()
            .ok_or_else(|| js_error(Error::invalid(op, "the round is finished")))
    }
}

#[wasm_bindgen]
impl RoundHandle {
    /// The round's id (the state's round).
    #[wasm_bindgen(getter, js_name = roundId)]
    pub fn round_id(&mut self) -> Result<f64, JsValue> {
        Ok(self.round("roundId")?.round_id() as f64)
    }

    /// Updates accepted so far.
    #[wasm_bindgen(getter)]
    pub fn accepted(&mut self) -> Result<u32, JsValue> {
        Ok(self.round("accepted")?.accepted() as u32)
    }

    /// The `FWTK` task of client `key` with dataset plan `plan` (JSON
    /// `{"ops": [..]}`; see [`DatasetPlan`]).
    pub fn task(&mut self, key: f64, plan: &str) -> Result<Uint8Array, JsValue> {
        const OP: &str = "task";
        let key = whole(key, OP, "a client key")?;
        let plan: DatasetPlan = serde_json::from_str(plan)
            .map_err(|e| js_error(Error::invalid(OP, format!("dataset plan: {e}"))))?;
        plan.validate().map_err(js_error)?;
        let task = self.round(OP)?.task(key, plan);
        Ok(bytes_to_js(&task.to_bytes().map_err(js_error)?))
    }

    /// Validates and adds an `FWUP` update; a refused update changes nothing.
    pub fn accept(&mut self, update: &[u8]) -> Result<(), JsValue> {
        let update = ClientUpdate::from_bytes(update).map_err(js_error)?;
        self.round("accept")?.accept(&update).map_err(js_error)
    }

    /// Ends the round: `{state: Uint8Array (FWCK), metrics}` with the
    /// metrics as TFF's nested plain objects.
    pub fn finish(&mut self) -> Result<JsValue, JsValue> {
        let round = self
            .round
            .take()
            .ok_or_else(|| js_error(Error::invalid("finish", "the round is finished")))?;
        let (state, metrics) = round.finish().map_err(js_error)?;
        let out = Object::new();
        Reflect::set(&out, &"state".into(), &encode_state(&state)?.into())?;
        Reflect::set(&out, &"metrics".into(), &to_js(&metrics))?;
        Ok(out.into())
    }
}

/// Checks `FWCS` bytes (a stateful client's state) and returns its index.
#[wasm_bindgen(js_name = clientStateIndex)]
pub fn client_state_index(bytes: &[u8]) -> Result<f64, JsValue> {
    Ok(ClientState::from_bytes(bytes).map_err(js_error)?.index as f64)
}

/// Checks `FWCK` bytes (a process state) and returns its round.
#[wasm_bindgen(js_name = checkpointRound)]
pub fn checkpoint_round(bytes: &[u8]) -> Result<f64, JsValue> {
    Ok(decode_state(bytes)?.round() as f64)
}
