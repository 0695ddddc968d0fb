//! The JSON of the protocol's configuration types, as their serde derives
//! write and read it (see the parent module): [`ToJson`] and [`FromJson`]
//! for the process spec and everything in it, dataset plans, limits and a
//! round's metrics. The tests check both against serde_json.

use super::{obj, Json, JsonError, Obj};
use crate::aggregation::ClientWeighting;
use crate::exact::MAX_WEIGHT;
use crate::limits::Limits;
use crate::metrics::MetricKind;
use crate::optim::{LearningRate, OptimizerConfig, UpdateRule};
use crate::plan::{DatasetOp, DatasetPlan};
use crate::round_metrics::{
    ClientWorkMetrics, EvalMetrics, FinalizerMetrics, MetricValues, RoundMetrics,
};
use crate::server::ProcessSpec;
use crate::variables::{VariableGroup, VariableInfo};
use crate::work::{ClientWork, ReconstructionConfig, ReconstructionSplit};

type JResult<T> = Result<T, JsonError>;

/// A type that can be written as a [`Json`] value.
pub trait ToJson {
    /// The value.
    fn to_json_value(&self) -> Json;
}

/// A type that can be read from a [`Json`] value.
pub trait FromJson: Sized {
    /// Reads it.
    ///
    /// # Errors
    /// A [`JsonError`] naming the field.
    fn from_json_value(v: &Json) -> JResult<Self>;
}

impl ToJson for Json {
    fn to_json_value(&self) -> Json {
        self.clone()
    }
}

impl<T: ToJson> ToJson for [T] {
    fn to_json_value(&self) -> Json {
        Json::Arr(self.iter().map(ToJson::to_json_value).collect())
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json_value(&self) -> Json {
        self.as_slice().to_json_value()
    }
}

fn usizes(v: &Json) -> JResult<Vec<usize>> {
    v.list(Json::as_usize)
}

fn usizes_json(xs: &[usize]) -> Json {
    Json::Arr(xs.iter().map(|&x| Json::from(x)).collect())
}

// ---- optimizers ----

const RULES: [&str; 5] = ["sgd", "adam", "adagrad", "yogi", "rmsprop"];

impl ToJson for UpdateRule {
    fn to_json_value(&self) -> Json {
        match *self {
            UpdateRule::Sgd { momentum, nesterov } => obj([
                ("type", "sgd".into()),
                ("momentum", momentum.into()),
                ("nesterov", nesterov.into()),
            ]),
            UpdateRule::Adam {
                beta_1,
                beta_2,
                epsilon,
            } => obj([
                ("type", "adam".into()),
                ("beta_1", beta_1.into()),
                ("beta_2", beta_2.into()),
                ("epsilon", epsilon.into()),
            ]),
            UpdateRule::Adagrad {
                initial_accumulator_value,
                epsilon,
            } => obj([
                ("type", "adagrad".into()),
                (
                    "initial_accumulator_value",
                    initial_accumulator_value.into(),
                ),
                ("epsilon", epsilon.into()),
            ]),
            UpdateRule::Yogi {
                beta_1,
                beta_2,
                epsilon,
                initial_preconditioner_value,
            } => obj([
                ("type", "yogi".into()),
                ("beta_1", beta_1.into()),
                ("beta_2", beta_2.into()),
                ("epsilon", epsilon.into()),
                (
                    "initial_preconditioner_value",
                    initial_preconditioner_value.into(),
                ),
            ]),
            UpdateRule::Rmsprop { decay, epsilon } => obj([
                ("type", "rmsprop".into()),
                ("decay", decay.into()),
                ("epsilon", epsilon.into()),
            ]),
        }
    }
}

impl FromJson for UpdateRule {
    fn from_json_value(v: &Json) -> JResult<Self> {
        const WHAT: &str = "internally tagged enum UpdateRule";
        let (i, _) = v.tagged(WHAT, "type", &RULES)?;
        let f = |fields: &[&str]| v.object(WHAT, fields);
        Ok(match i {
            0 => {
                let o = f(&["type", "momentum", "nesterov"])?;
                UpdateRule::Sgd {
                    momentum: o.opt("momentum", Json::as_f32)?,
                    nesterov: o.or("nesterov", false, Json::as_bool)?,
                }
            }
            1 => {
                let o = f(&["type", "beta_1", "beta_2", "epsilon"])?;
                UpdateRule::Adam {
                    beta_1: o.req("beta_1", Json::as_f32)?,
                    beta_2: o.req("beta_2", Json::as_f32)?,
                    epsilon: o.req("epsilon", Json::as_f32)?,
                }
            }
            2 => {
                let o = f(&["type", "initial_accumulator_value", "epsilon"])?;
                UpdateRule::Adagrad {
                    initial_accumulator_value: o.req("initial_accumulator_value", Json::as_f32)?,
                    epsilon: o.req("epsilon", Json::as_f32)?,
                }
            }
            3 => {
                let o = f(&[
                    "type",
                    "beta_1",
                    "beta_2",
                    "epsilon",
                    "initial_preconditioner_value",
                ])?;
                UpdateRule::Yogi {
                    beta_1: o.req("beta_1", Json::as_f32)?,
                    beta_2: o.req("beta_2", Json::as_f32)?,
                    epsilon: o.req("epsilon", Json::as_f32)?,
                    initial_preconditioner_value: o
                        .req("initial_preconditioner_value", Json::as_f32)?,
                }
            }
            _ => {
                let o = f(&["type", "decay", "epsilon"])?;
                UpdateRule::Rmsprop {
                    decay: o.req("decay", Json::as_f32)?,
                    epsilon: o.req("epsilon", Json::as_f32)?,
                }
            }
        })
    }
}

const SCHEDULES: [&str; 4] = [
    "constant",
    "exponential_decay",
    "inverse_time_decay",
    "piecewise_constant",
];

impl ToJson for LearningRate {
    fn to_json_value(&self) -> Json {
        match self {
            LearningRate::Constant(lr) => Json::F32(*lr),
            LearningRate::ExponentialDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            }
            | LearningRate::InverseTimeDecay {
                initial,
                decay_rate,
                decay_rounds,
                staircase,
            } => obj([
                (
                    "type",
                    if matches!(self, LearningRate::ExponentialDecay { .. }) {
                        SCHEDULES[1]
                    } else {
                        SCHEDULES[2]
                    }
                    .into(),
                ),
                ("initial", (*initial).into()),
                ("decay_rate", (*decay_rate).into()),
                ("decay_rounds", (*decay_rounds).into()),
                ("staircase", (*staircase).into()),
            ]),
            LearningRate::PiecewiseConstant { boundaries, values } => obj([
                ("type", SCHEDULES[3].into()),
                (
                    "boundaries",
                    Json::Arr(boundaries.iter().map(|&b| Json::U64(b)).collect()),
                ),
                (
                    "values",
                    Json::Arr(values.iter().map(|&x| Json::F32(x)).collect()),
                ),
            ]),
        }
    }
}

impl FromJson for LearningRate {
    /// A number, or a schedule tagged by `type`; validated as it is read
    /// (as the serde impl does).
    fn from_json_value(v: &Json) -> JResult<Self> {
        const WHAT: &str = "a number or a learning-rate schedule object";
        let lr = match v {
            Json::U64(_) | Json::I64(_) | Json::F64(_) | Json::F32(_) => {
                LearningRate::Constant(v.as_f32()?)
            }
            Json::Obj(_) => {
                let (i, _) = v.tagged(WHAT, "type", &SCHEDULES)?;
                let decay = ["type", "initial", "decay_rate", "decay_rounds", "staircase"];
                match i {
                    0 => LearningRate::Constant(
                        v.object(WHAT, &["type", "value"])?
                            .req("value", Json::as_f32)?,
                    ),
                    1 | 2 => {
                        let o = v.object(WHAT, &decay)?;
                        let (initial, decay_rate, decay_rounds, staircase) = (
                            o.req("initial", Json::as_f32)?,
                            o.req("decay_rate", Json::as_f32)?,
                            o.req("decay_rounds", Json::as_u64)?,
                            o.or("staircase", false, Json::as_bool)?,
                        );
                        if i == 1 {
                            LearningRate::ExponentialDecay {
                                initial,
                                decay_rate,
                                decay_rounds,
                                staircase,
                            }
                        } else {
                            LearningRate::InverseTimeDecay {
                                initial,
                                decay_rate,
                                decay_rounds,
                                staircase,
                            }
                        }
                    }
                    _ => {
                        let o = v.object(WHAT, &["type", "boundaries", "values"])?;
                        LearningRate::PiecewiseConstant {
                            boundaries: o.req("boundaries", |b| b.list(Json::as_u64))?,
                            values: o.req("values", |b| b.list(Json::as_f32))?,
                        }
                    }
                }
            }
            other => return Err(other.invalid(WHAT)),
        };
        lr.validate().map_err(|e| JsonError::new(e.to_string()))?;
        Ok(lr)
    }
}

impl ToJson for OptimizerConfig {
    fn to_json_value(&self) -> Json {
        obj([
            ("rule", self.rule.to_json_value()),
            ("learning_rate", self.learning_rate.to_json_value()),
        ])
    }
}

impl FromJson for OptimizerConfig {
    fn from_json_value(v: &Json) -> JResult<Self> {
        let o = v.object("struct OptimizerConfig", &["rule", "learning_rate"])?;
        Ok(OptimizerConfig {
            rule: o.req("rule", UpdateRule::from_json_value)?,
            learning_rate: o.req("learning_rate", LearningRate::from_json_value)?,
        })
    }
}

// ---- client work ----

const WORK: [&str; 5] = [
    "train",
    "reconstruct",
    "stateful",
    "evaluate",
    "reconstruct_evaluate",
];

impl ToJson for ClientWork {
    fn to_json_value(&self) -> Json {
        match self {
            ClientWork::Train {
                client_optimizer,
                proximal_strength,
            } => obj([
                ("type", WORK[0].into()),
                ("client_optimizer", client_optimizer.to_json_value()),
                ("proximal_strength", (*proximal_strength).into()),
            ]),
            ClientWork::Reconstruct { config } => {
                obj([("type", WORK[1].into()), ("config", config.to_json_value())])
            }
            ClientWork::Stateful {
                client_optimizer,
                local_optimizer,
            } => obj([
                ("type", WORK[2].into()),
                ("client_optimizer", client_optimizer.to_json_value()),
                ("local_optimizer", local_optimizer.to_json_value()),
            ]),
            ClientWork::Evaluate => obj([("type", WORK[3].into())]),
            ClientWork::ReconstructEvaluate {
                reconstruction_optimizer,
                split,
            } => obj([
                ("type", WORK[4].into()),
                (
                    "reconstruction_optimizer",
                    reconstruction_optimizer.to_json_value(),
                ),
                ("split", split.to_json_value()),
            ]),
        }
    }
}

impl FromJson for ClientWork {
    fn from_json_value(v: &Json) -> JResult<Self> {
        const WHAT: &str = "internally tagged enum ClientWork";
        let (i, _) = v.tagged(WHAT, "type", &WORK)?;
        let f = |fields: &[&str]| v.object(WHAT, fields);
        let opt = |o: Obj, k: &str| o.req(k, OptimizerConfig::from_json_value);
        Ok(match i {
            0 => {
                let o = f(&["type", "client_optimizer", "proximal_strength"])?;
                ClientWork::Train {
                    client_optimizer: opt(o, "client_optimizer")?,
                    proximal_strength: o.opt("proximal_strength", Json::as_f32)?,
                }
            }
            1 => ClientWork::Reconstruct {
                config: f(&["type", "config"])?
                    .req("config", ReconstructionConfig::from_json_value)?,
            },
            2 => {
                let o = f(&["type", "client_optimizer", "local_optimizer"])?;
                ClientWork::Stateful {
                    client_optimizer: opt(o, "client_optimizer")?,
                    local_optimizer: opt(o, "local_optimizer")?,
                }
            }
            // serde's internally tagged unit variant ignores other fields.
            3 => ClientWork::Evaluate,
            _ => {
                let o = f(&["type", "reconstruction_optimizer", "split"])?;
                ClientWork::ReconstructEvaluate {
                    reconstruction_optimizer: opt(o, "reconstruction_optimizer")?,
                    split: o.req("split", ReconstructionSplit::from_json_value)?,
                }
            }
        })
    }
}

impl ToJson for ReconstructionConfig {
    fn to_json_value(&self) -> Json {
        obj([
            (
                "reconstruction_optimizer",
                self.reconstruction_optimizer.to_json_value(),
            ),
            ("client_optimizer", self.client_optimizer.to_json_value()),
            ("split", self.split.to_json_value()),
        ])
    }
}

impl FromJson for ReconstructionConfig {
    fn from_json_value(v: &Json) -> JResult<Self> {
        let o = v.object(
            "struct ReconstructionConfig",
            &["reconstruction_optimizer", "client_optimizer", "split"],
        )?;
        Ok(ReconstructionConfig {
            reconstruction_optimizer: o
                .req("reconstruction_optimizer", OptimizerConfig::from_json_value)?,
            client_optimizer: o.req("client_optimizer", OptimizerConfig::from_json_value)?,
            split: o.req("split", ReconstructionSplit::from_json_value)?,
        })
    }
}

impl ToJson for ReconstructionSplit {
    fn to_json_value(&self) -> Json {
        obj([
            ("recon_epochs", self.recon_epochs.into()),
            ("recon_steps_max", self.recon_steps_max.into()),
            ("post_recon_epochs", self.post_recon_epochs.into()),
            ("post_recon_steps_max", self.post_recon_steps_max.into()),
            ("split_dataset", self.split_dataset.into()),
        ])
    }
}

impl FromJson for ReconstructionSplit {
    /// Every field defaults to [`ReconstructionSplit::default`]'s.
    fn from_json_value(v: &Json) -> JResult<Self> {
        let o = v.object(
            "struct ReconstructionSplit",
            &[
                "recon_epochs",
                "recon_steps_max",
                "post_recon_epochs",
                "post_recon_steps_max",
                "split_dataset",
            ],
        )?;
        let d = ReconstructionSplit::default();
        let steps = |k: &str, d: Option<usize>| match o.get(k) {
            None => Ok(d),
            Some(_) => o.opt(k, Json::as_usize),
        };
        Ok(ReconstructionSplit {
            recon_epochs: o.or("recon_epochs", d.recon_epochs, Json::as_usize)?,
            recon_steps_max: steps("recon_steps_max", d.recon_steps_max)?,
            post_recon_epochs: o.or("post_recon_epochs", d.post_recon_epochs, Json::as_usize)?,
            post_recon_steps_max: steps("post_recon_steps_max", d.post_recon_steps_max)?,
            split_dataset: o.or("split_dataset", d.split_dataset, Json::as_bool)?,
        })
    }
}

const WEIGHTINGS: [&str; 2] = ["NUM_EXAMPLES", "UNIFORM"];

impl ToJson for ClientWeighting {
    fn to_json_value(&self) -> Json {
        WEIGHTINGS[match self {
            ClientWeighting::NumExamples => 0,
            ClientWeighting::Uniform => 1,
        }]
        .into()
    }
}

impl FromJson for ClientWeighting {
    fn from_json_value(v: &Json) -> JResult<Self> {
        Ok(match v.variant("enum ClientWeighting", &WEIGHTINGS)? {
            0 => ClientWeighting::NumExamples,
            _ => ClientWeighting::Uniform,
        })
    }
}

// ---- dataset plans ----

const OPS: [&str; 5] = ["repeat", "shuffle", "batch", "take", "skip"];

impl ToJson for DatasetOp {
    fn to_json_value(&self) -> Json {
        match *self {
            DatasetOp::Repeat { count } => obj([("op", OPS[0].into()), ("count", count.into())]),
            DatasetOp::Shuffle { buffer, seed } => obj([
                ("op", OPS[1].into()),
                ("buffer", buffer.into()),
                ("seed", seed.into()),
            ]),
            DatasetOp::Batch {
                size,
                drop_remainder,
            } => obj([
                ("op", OPS[2].into()),
                ("size", size.into()),
                ("drop_remainder", drop_remainder.into()),
            ]),
            DatasetOp::Take { count } => obj([("op", OPS[3].into()), ("count", count.into())]),
            DatasetOp::Skip { count } => obj([("op", OPS[4].into()), ("count", count.into())]),
        }
    }
}

impl FromJson for DatasetOp {
    fn from_json_value(v: &Json) -> JResult<Self> {
        const WHAT: &str = "internally tagged enum DatasetOp";
        let (i, _) = v.tagged(WHAT, "op", &OPS)?;
        let count = |k: &str| v.object(WHAT, &["op", k])?.req(k, Json::as_usize);
        Ok(match i {
            0 => DatasetOp::Repeat {
                count: count("count")?,
            },
            1 => {
                let o = v.object(WHAT, &["op", "buffer", "seed"])?;
                DatasetOp::Shuffle {
                    buffer: o.req("buffer", Json::as_usize)?,
                    seed: o.req("seed", Json::as_u64)?,
                }
            }
            2 => {
                let o = v.object(WHAT, &["op", "size", "drop_remainder"])?;
                DatasetOp::Batch {
                    size: o.req("size", Json::as_usize)?,
                    drop_remainder: o.or("drop_remainder", false, Json::as_bool)?,
                }
            }
            3 => DatasetOp::Take {
                count: count("count")?,
            },
            _ => DatasetOp::Skip {
                count: count("count")?,
            },
        })
    }
}

impl ToJson for DatasetPlan {
    fn to_json_value(&self) -> Json {
        obj([("ops", self.ops.to_json_value())])
    }
}

impl FromJson for DatasetPlan {
    fn from_json_value(v: &Json) -> JResult<Self> {
        let o = v.object("struct DatasetPlan", &["ops"])?;
        Ok(DatasetPlan {
            ops: o.req("ops", |ops| ops.list(DatasetOp::from_json_value))?,
        })
    }
}

// ---- the process spec ----

const GROUPS: [&str; 4] = [
    "global_trainable",
    "global_non_trainable",
    "local_trainable",
    "local_non_trainable",
];

impl ToJson for VariableInfo {
    fn to_json_value(&self) -> Json {
        let group = match self.group {
            VariableGroup::GlobalTrainable => 0,
            VariableGroup::GlobalNonTrainable => 1,
            VariableGroup::LocalTrainable => 2,
            VariableGroup::LocalNonTrainable => 3,
        };
        obj([
            ("name", self.name.as_str().into()),
            ("shape", usizes_json(&self.shape)),
            ("group", GROUPS[group].into()),
        ])
    }
}

impl FromJson for VariableInfo {
    /// Unknown fields are ignored (the serde derive has no
    /// `deny_unknown_fields` here).
    fn from_json_value(v: &Json) -> JResult<Self> {
        let o = v.object_lenient("struct VariableInfo")?;
        Ok(VariableInfo {
            name: o.req("name", |n| n.as_str().map(str::to_owned))?,
            shape: o.req("shape", usizes)?,
            group: o.req("group", |g| {
                Ok(match g.variant("enum VariableGroup", &GROUPS)? {
                    0 => VariableGroup::GlobalTrainable,
                    1 => VariableGroup::GlobalNonTrainable,
                    2 => VariableGroup::LocalTrainable,
                    _ => VariableGroup::LocalNonTrainable,
                })
            })?,
        })
    }
}

impl ToJson for MetricKind {
    fn to_json_value(&self) -> Json {
        self.name().into()
    }
}

impl FromJson for MetricKind {
    fn from_json_value(v: &Json) -> JResult<Self> {
        let names = MetricKind::ALL.map(MetricKind::name);
        Ok(MetricKind::ALL[v.variant("enum MetricKind", &names)?])
    }
}

impl ToJson for ProcessSpec {
    fn to_json_value(&self) -> Json {
        obj([
            ("name", self.name.as_str().into()),
            ("work", self.work.to_json_value()),
            ("weighting", self.weighting.to_json_value()),
            (
                "server_optimizer",
                self.server_optimizer
                    .as_ref()
                    .map_or(Json::Null, ToJson::to_json_value),
            ),
            ("variables", self.variables.to_json_value()),
            ("metrics", self.metrics.to_json_value()),
            ("seed", self.seed.into()),
            ("max_client_weight", self.max_client_weight.into()),
        ])
    }
}

impl FromJson for ProcessSpec {
    fn from_json_value(v: &Json) -> JResult<Self> {
        let o = v.object(
            "struct ProcessSpec",
            &[
                "name",
                "work",
                "weighting",
                "server_optimizer",
                "variables",
                "metrics",
                "seed",
                "max_client_weight",
            ],
        )?;
        Ok(ProcessSpec {
            name: o.req("name", |n| n.as_str().map(str::to_owned))?,
            work: o.req("work", ClientWork::from_json_value)?,
            weighting: o.req("weighting", ClientWeighting::from_json_value)?,
            server_optimizer: o.opt("server_optimizer", OptimizerConfig::from_json_value)?,
            variables: o.req("variables", |l| l.list(VariableInfo::from_json_value))?,
            metrics: o.req("metrics", |l| l.list(MetricKind::from_json_value))?,
            seed: o.req("seed", Json::as_u64)?,
            max_client_weight: o.or("max_client_weight", MAX_WEIGHT, Json::as_u64)?,
        })
    }
}

// ---- limits ----

const LIMITS: [&str; 4] = [
    "max_tensor_elements",
    "max_model_parameters",
    "max_examples_per_client",
    "max_message_bytes",
];

impl ToJson for Limits {
    fn to_json_value(&self) -> Json {
        obj([
            (LIMITS[0], self.max_tensor_elements.into()),
            (LIMITS[1], self.max_model_parameters.into()),
            (LIMITS[2], self.max_examples_per_client.into()),
            (LIMITS[3], self.max_message_bytes.into()),
        ])
    }
}

impl FromJson for Limits {
    /// Missing fields keep [`Limits::DEFAULT`]'s values.
    fn from_json_value(v: &Json) -> JResult<Self> {
        let o = v.object("struct Limits", &LIMITS)?;
        let d = Limits::DEFAULT;
        Ok(Limits {
            max_tensor_elements: o.or(LIMITS[0], d.max_tensor_elements, Json::as_u64)?,
            max_model_parameters: o.or(LIMITS[1], d.max_model_parameters, Json::as_u64)?,
            max_examples_per_client: o.or(LIMITS[2], d.max_examples_per_client, Json::as_u64)?,
            max_message_bytes: o.or(LIMITS[3], d.max_message_bytes, Json::as_u64)?,
        })
    }
}

// ---- a round's metrics ----

fn values(m: &MetricValues) -> Json {
    Json::Obj(m.iter().map(|(k, &x)| (k.clone(), Json::F64(x))).collect())
}

impl ToJson for RoundMetrics {
    fn to_json_value(&self) -> Json {
        let ClientWorkMetrics {
            train,
            eval,
            non_finite_updates,
        } = &self.client_work;
        let mut work = Vec::new();
        if let Some(t) = train {
            work.push(("train".to_owned(), values(t)));
        }
        if let Some(EvalMetrics {
            current_round_metrics,
            total_rounds_metrics,
        }) = eval
        {
            work.push((
                "eval".to_owned(),
                obj([
                    ("current_round_metrics", values(current_round_metrics)),
                    ("total_rounds_metrics", values(total_rounds_metrics)),
                ]),
            ));
        }
        if let Some(n) = non_finite_updates {
            work.push(("non_finite_updates".to_owned(), (*n).into()));
        }
        let FinalizerMetrics { update_non_finite } = self.finalizer;
        obj([
            ("distributor", Json::Obj(Vec::new())),
            ("client_work", Json::Obj(work)),
            ("aggregator", self.aggregator.clone()),
            (
                "finalizer",
                Json::Obj(
                    update_non_finite
                        .map(|u| ("update_non_finite".to_owned(), Json::U64(u64::from(u))))
                        .into_iter()
                        .collect(),
                ),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Empty;
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use std::collections::BTreeMap;
    use std::fmt::Debug;

    /// Writes `x` both ways, reads the text both ways: all four agree.
    fn agree<T: ToJson + FromJson + Serialize + DeserializeOwned + PartialEq + Debug>(x: &T) {
        let ours = super::super::to_string(x);
        assert_eq!(ours, serde_json::to_string(x).unwrap());
        assert_eq!(&super::super::from_slice::<T>(ours.as_bytes()).unwrap(), x);
        assert_eq!(&serde_json::from_str::<T>(&ours).unwrap(), x);
    }

    /// `text` is refused both ways, with the same kind of message.
    fn both_refuse<T: FromJson + DeserializeOwned + Debug>(text: &str, needle: &str) {
        let ours = super::super::from_slice::<T>(text.as_bytes())
            .unwrap_err()
            .to_string();
        let theirs = serde_json::from_str::<T>(text).unwrap_err().to_string();
        assert!(ours.contains(needle), "{text}: ours: {ours}");
        assert!(theirs.contains(needle), "{text}: serde: {theirs}");
    }

    /// `text` is read the same both ways.
    fn same<T: FromJson + DeserializeOwned + PartialEq + Debug>(text: &str) {
        assert_eq!(
            super::super::from_slice::<T>(text.as_bytes()).unwrap(),
            serde_json::from_str::<T>(text).unwrap(),
            "{text}"
        );
    }

    fn every_rule() -> Vec<UpdateRule> {
        vec![
            UpdateRule::sgd(),
            UpdateRule::Sgd {
                momentum: Some(0.9),
                nesterov: true,
            },
            UpdateRule::adam(),
            UpdateRule::adagrad(),
            UpdateRule::yogi(),
            UpdateRule::rmsprop(),
        ]
    }

    fn every_rate() -> Vec<LearningRate> {
        vec![
            LearningRate::Constant(0.1),
            LearningRate::Constant(3.0),
            LearningRate::ExponentialDecay {
                initial: 0.1,
                decay_rate: 0.5,
                decay_rounds: 10,
                staircase: true,
            },
            LearningRate::InverseTimeDecay {
                initial: 1e-7,
                decay_rate: 2.0,
                decay_rounds: 3,
                staircase: false,
            },
            LearningRate::PiecewiseConstant {
                boundaries: vec![3, 7],
                values: vec![0.1, 0.01, 0.001],
            },
        ]
    }

    fn every_work() -> Vec<ClientWork> {
        let o = |i: usize| OptimizerConfig {
            rule: every_rule()[i % 6].clone(),
            learning_rate: every_rate()[i % 5].clone(),
        };
        vec![
            ClientWork::Train {
                client_optimizer: o(0),
                proximal_strength: None,
            },
            ClientWork::Train {
                client_optimizer: o(1),
                proximal_strength: Some(0.25),
            },
            ClientWork::Reconstruct {
                config: ReconstructionConfig::default(),
            },
            ClientWork::Stateful {
                client_optimizer: o(2),
                local_optimizer: o(3),
            },
            ClientWork::Evaluate,
            ClientWork::ReconstructEvaluate {
                reconstruction_optimizer: o(4),
                split: ReconstructionSplit {
                    recon_epochs: 2,
                    recon_steps_max: Some(5),
                    post_recon_epochs: 3,
                    post_recon_steps_max: None,
                    split_dataset: true,
                },
            },
        ]
    }

    #[test]
    fn writes_and_reads_as_serde_does() {
        for r in every_rule() {
            agree(&r);
        }
        for lr in every_rate() {
            agree(&lr);
        }
        for w in every_work() {
            agree(&w);
        }
        agree(&ClientWeighting::Uniform);
        agree(&ClientWeighting::NumExamples);
        agree(
            &DatasetPlan::new()
                .repeat(5)
                .shuffle(100, u64::MAX)
                .batch(20)
                .take(3)
                .skip(1),
        );
        agree(&DatasetPlan {
            ops: vec![DatasetOp::Batch {
                size: 2,
                drop_remainder: true,
            }],
        });
        agree(&Limits::DEFAULT);
        for (i, work) in every_work().into_iter().enumerate() {
            agree(&ProcessSpec {
                name: "weighted_fed_avg".into(),
                server_optimizer: (!work.is_evaluation()).then(|| OptimizerConfig::adam(0.5)),
                work,
                weighting: ClientWeighting::Uniform,
                variables: vec![
                    VariableInfo {
                        name: "d/kernel".into(),
                        shape: vec![3, 2],
                        group: VariableGroup::GlobalTrainable,
                    },
                    VariableInfo {
                        name: "user \"x\"".into(),
                        shape: vec![],
                        group: VariableGroup::LocalNonTrainable,
                    },
                ],
                metrics: MetricKind::ALL.to_vec(),
                seed: (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                max_client_weight: 1 << 20,
            });
        }
        for m in [
            RoundMetrics {
                distributor: Empty {},
                client_work: ClientWorkMetrics {
                    train: Some(BTreeMap::from([
                        ("loss".into(), 0.1 + 0.2),
                        ("num_examples".into(), 120.0),
                        ("x".into(), f64::NAN),
                    ])),
                    eval: None,
                    non_finite_updates: Some(2),
                },
                aggregator: Json::from(
                    &serde_json::json!({"mean_value": {}, "mean_weight": {"n": [1, -2, 0.5]}}),
                ),
                finalizer: FinalizerMetrics {
                    update_non_finite: Some(1),
                },
            },
            RoundMetrics {
                distributor: Empty {},
                client_work: ClientWorkMetrics {
                    train: None,
                    eval: Some(EvalMetrics {
                        current_round_metrics: BTreeMap::from([("loss".into(), 1.5)]),
                        total_rounds_metrics: BTreeMap::new(),
                    }),
                    non_finite_updates: None,
                },
                aggregator: Json::Obj(Vec::new()),
                finalizer: FinalizerMetrics::default(),
            },
        ] {
            assert_eq!(
                super::super::to_string(&m),
                serde_json::to_string(&m).unwrap()
            );
        }
    }

    #[test]
    fn reads_defaults_and_refuses_as_serde_does() {
        same::<UpdateRule>(r#"{"type":"sgd"}"#);
        same::<UpdateRule>(r#"{"momentum":0.5,"type":"sgd"}"#);
        same::<UpdateRule>(r#"{"type":"sgd","momentum":null}"#);
        same::<LearningRate>("2");
        same::<LearningRate>("16777217");
        same::<LearningRate>("0.30000001192092896");
        same::<LearningRate>(r#"{"type":"constant","value":2}"#);
        same::<LearningRate>(
            r#"{"type":"exponential_decay","initial":1,"decay_rate":0.5,"decay_rounds":2}"#,
        );
        same::<ClientWork>(r#"{"type":"evaluate"}"#);
        same::<ClientWork>(
            r#"{"type":"train","client_optimizer":{"rule":{"type":"sgd"},"learning_rate":0.1}}"#,
        );
        same::<ClientWork>(
            r#"{"type":"reconstruct_evaluate","split":{},"reconstruction_optimizer":{"rule":{"type":"adam","beta_1":0.9,"beta_2":0.99,"epsilon":1e-8},"learning_rate":1}}"#,
        );
        same::<ReconstructionSplit>(r#"{"recon_steps_max":null,"post_recon_epochs":4}"#);
        same::<DatasetPlan>(r#"{"ops":[{"size":4,"op":"batch"}]}"#);
        same::<Limits>("{}");
        same::<Limits>(r#"{"max_message_bytes":64}"#);
        same::<VariableInfo>(r#"{"name":"a","shape":[1],"group":"local_trainable","x":1}"#);

        both_refuse::<UpdateRule>(r#"{"type":"sgd","nesterov":1}"#, "expected a boolean");
        both_refuse::<UpdateRule>(r#"{"type":"sgdd"}"#, "unknown variant `sgdd`");
        both_refuse::<UpdateRule>(r#"{"beta_1":0.9}"#, "missing field `type`");
        both_refuse::<UpdateRule>(r#"{"type":"adam","beta_1":0.9}"#, "missing field `beta_2`");
        both_refuse::<UpdateRule>(r#"{"type":"sgd","lr":1}"#, "unknown field `lr`");
        both_refuse::<LearningRate>("-1", "must be finite and non-negative");
        both_refuse::<LearningRate>("\"fast\"", "a number or a learning-rate schedule object");
        both_refuse::<LearningRate>(
            r#"{"type":"piecewise_constant","boundaries":[1],"values":[1]}"#,
            "one more value",
        );
        both_refuse::<LearningRate>(
            r#"{"type":"constant","value":1,"x":2}"#,
            "unknown field `x`",
        );
        same::<ClientWork>(r#"{"type":"evaluate","x":1}"#);
        both_refuse::<ClientWork>(r#"{"type":"train"}"#, "missing field `client_optimizer`");
        both_refuse::<DatasetPlan>(r#"{"ops":[{"op":"map"}]}"#, "unknown variant `map`");
        both_refuse::<DatasetPlan>(r#"{"ops":[],"x":1}"#, "unknown field `x`");
        both_refuse::<DatasetPlan>(r#"{"ops":[{"op":"take","count":-1}]}"#, "integer `-1`");
        both_refuse::<DatasetPlan>(
            r#"{"ops":[{"op":"take","count":1.5}]}"#,
            "floating point `1.5`",
        );
        both_refuse::<Limits>(r#"{"max_message_bytes":10,"x":1}"#, "unknown field `x`");
        both_refuse::<ProcessSpec>(r#"{"name":"x"}"#, "missing field `work`");
        both_refuse::<MetricKind>(r#""accuracy""#, "unknown variant `accuracy`");
        both_refuse::<ClientWeighting>(r#""SOME""#, "unknown variant `SOME`");
        let e = super::super::from_slice::<ClientWeighting>(b"1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid type: integer `1`, expected enum ClientWeighting"),
            "{e}"
        );

        // Ours also says where.
        let e = super::super::from_slice::<ProcessSpec>(
            br#"{"name":"x","work":{"type":"train","client_optimizer":{"rule":{"type":"sgd","lr":1},"learning_rate":1}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("work.client_optimizer.rule: unknown field `lr`"),
            "{e}"
        );
        let e = super::super::from_slice::<DatasetPlan>(
            br#"{"ops":[{"op":"batch"},{"op":"batch","size":-2}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("ops[0]: missing field `size`"), "{e}");
    }
}
