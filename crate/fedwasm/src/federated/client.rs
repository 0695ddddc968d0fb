//! One client's work in a round, as a pure function: [`client_update`] takes
//! a [`ClientTask`] (the protocol's owned message: round, fingerprint, key,
//! seed, work, weighting, broadcast global weights, dataset plan), the
//! client's data and, for stateful clients, its [`ClientState`], and returns
//! the [`ClientUpdate`] for the server and the client's new state. Nothing
//! in it touches the server state, so a caller may run clients anywhere
//! (inline, in threads, in workers, across the network) and hand the
//! updates to a [`fedwasm_protocol::server::ServerRound`] in any order.
//!
//! # Data layout
//! [`ClientUpdate::update`] holds `client - global` for each global
//! trainable variable, named as the variable, row-major `f32`, in model
//! order (empty for evaluation). [`ClientState::local_weights`] holds the
//! model's local variables (trainable and non-trainable) in model order; it
//! never leaves the client (it is not part of the update) and only goes
//! back to the caller's store.

use super::aggregation::ClientWeighting;
use super::weights::assign_model_weights;
use crate::backend::Backend;
use crate::data::{apply_plan, Dataset};
use crate::error::{Error, Result};
use crate::metrics::MetricKind;
use crate::model::{
    named, read_weights, variables_where, Model, NamedTensor, VariableGroup, VariableInfo,
};
use crate::tensor::Tensor;
use crate::train::{
    evaluate_pass, optimizer_for, reconstruct_and_evaluate_pass, reconstruct_and_train_pass,
    train_pass, Controls, GroupOptimizer, Pacer, PassOutput, PassSettings, Proximal,
};
use fedwasm_protocol::messages::model_fingerprint;
pub use fedwasm_protocol::messages::{ClientState, ClientTask, ClientUpdate};
pub use fedwasm_protocol::server::client_seed;
pub use fedwasm_protocol::work::ClientWork;

/// The local variable groups.
pub(crate) const LOCAL: [VariableGroup; 2] = [
    VariableGroup::LocalTrainable,
    VariableGroup::LocalNonTrainable,
];

/// Reads the local variables of `model` as the state of client `index`.
///
/// # Errors
/// Whatever [`Backend::read`] reports.
pub async fn read_client_state(
    b: &dyn Backend,
    model: &dyn Model,
    index: u64,
) -> Result<ClientState> {
    let locals = read_weights(b, model, |g| !g.is_global()).await?;
    Ok(ClientState {
        index,
        local_weights: locals.variables,
    })
}

/// Uploads a client state's local variables into `model`.
///
/// # Errors
/// [`Error::WeightsStructure`] when names or shapes differ from the
/// model's local variables; nothing is assigned then.
pub fn assign_client_state(
    state: &ClientState,
    b: &dyn Backend,
    model: &mut dyn Model,
) -> Result<()> {
    const OP: &str = "assign_client_state";
    let want: Vec<(usize, &str, &[usize])> = model
        .variables()
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.group.is_global())
        .map(|(i, v)| (i, v.name.as_str(), v.shape.as_slice()))
        .collect();
    let same = want.len() == state.local_weights.len()
        && want.iter().zip(&state.local_weights).all(|((_, n, s), w)| {
            *n == w.name
                && *s == w.shape.as_slice()
                && Some(w.data.len()) == s.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
        });
    if !same {
        return Err(Error::WeightsStructure {
            op: OP,
            expected: format!(
                "local variables {:?} of client {}",
                want.iter().map(|(_, n, s)| (n, s)).collect::<Vec<_>>(),
                state.index
            ),
            got: format!(
                "{:?}",
                state
                    .local_weights
                    .iter()
                    .map(|w| (&w.name, &w.shape))
                    .collect::<Vec<_>>()
            ),
        });
    }
    let uploads: Vec<Tensor> = state
        .local_weights
        .iter()
        .map(|w| b.upload(&w.shape, &w.data))
        .collect::<Result<_>>()?;
    let slots: Vec<usize> = want.iter().map(|(i, _, _)| *i).collect();
    for (i, t) in slots.into_iter().zip(uploads) {
        model.values_mut()[i] = t;
    }
    Ok(())
}

/// One client's result: the update for the server and, for stateful
/// clients, the new private state (which never goes to the server).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientOutput {
    /// What the client sends.
    pub update: ClientUpdate,
    /// Stateful clients: the client's new state, for its own store.
    pub client_state: Option<ClientState>,
}

/// Runs one client's round: checks that `task` is for this model (its
/// fingerprint), loads the broadcast weights into `model` (its global
/// variables), builds the batches by `task.plan` from `data` (an empty plan
/// takes `data` as it is: already batched), does `task.work`, and reports
/// the update, weight, metrics and, for stateful clients, the new client
/// state. A reconstruction client given a `client_state` returns it with
/// the local variables it reconstructed and trained this round (they start
/// from the initializer, as in TFF; the state's old values are not read).
///
/// # Errors
/// [`Error::Refused`] (`fingerprint`) for a task of another model;
/// [`Error::WeightsStructure`] when the broadcast weights or `client_state`
/// do not fit the model; [`Error::ClientDataSpec`] when the planned dataset
/// is unbatched or of another element spec; [`Error::InvalidArgument`] when a
/// stateful client has no state; whatever training reports.
pub async fn client_update(
    b: &dyn Backend,
    model: &mut dyn Model,
    task: &ClientTask,
    data: &Dataset,
    client_state: Option<&ClientState>,
) -> Result<ClientOutput> {
    client_update_with(b, model, task, data, client_state, Controls::default()).await
}

/// [`client_update`] under the host's `controls`: it yields every
/// `controls.yield_every` batches, reports each batch (counted over all of
/// the client's phases) and stops before the next batch once
/// `controls.cancel` is set. Training never fails on a non-finite loss here:
/// such a client's update is zeroed (see [`client_update`]).
///
/// # Errors
/// As [`client_update`]; [`Error::Cancelled`].
pub async fn client_update_with(
    b: &dyn Backend,
    model: &mut dyn Model,
    task: &ClientTask,
    data: &Dataset,
    client_state: Option<&ClientState>,
    controls: Controls<'_>,
) -> Result<ClientOutput> {
    const OP: &str = "client_update";
    let mut pacer = Pacer::new(OP, controls);
    pacer.check()?;
    let fingerprint = model_fingerprint(model.variables());
    if task.model_fingerprint != fingerprint {
        return Err(Error::Refused {
            op: OP,
            what: format!(
                "task of round {} for client {}",
                task.round_id, task.client_key
            ),
            reason: "fingerprint",
            detail: format!(
                "the task is for model {:016x}; this model is {fingerprint:016x} ({})",
                task.model_fingerprint,
                model.name()
            ),
        });
    }
    let planned = apply_plan(&task.plan, data)?;
    let data = &planned;
    if !data.is_batched() || data.element_spec() != model.input_spec() {
        return Err(Error::ClientDataSpec {
            op: OP,
            client: usize::try_from(task.client_key).unwrap_or(usize::MAX),
            expected: format!("batches of {:?}", model.input_spec()),
            got: format!(
                "{} of {:?}",
                if data.is_batched() {
                    "batches"
                } else {
                    "unbatched examples"
                },
                data.element_spec()
            ),
        });
    }
    assign_model_weights(OP, &task.global, b, model)?;
    let opts = PassSettings::client(task.seed);
    let pacer = &mut pacer;
    let round = task.round_id;
    // The work is recorded on the backend; its metric sums, the trained
    // globals and (stateful clients) the local variables are then read back
    // together, once.
    let acc = match &task.work {
        ClientWork::Train {
            client_optimizer,
            proximal_strength,
        } => {
            let groups = [VariableGroup::GlobalTrainable];
            let mut opt = optimizer_for(b, model, &groups, client_optimizer.clone())?;
            opt.set_round(round);
            let anchor: Vec<Tensor> = match proximal_strength {
                Some(_) => model.values().to_vec(),
                None => Vec::new(),
            };
            let proximal = proximal_strength.map(|mu| Proximal {
                mu,
                anchor: &anchor,
            });
            let mut parts = [GroupOptimizer {
                groups: &groups,
                optimizer: &mut opt,
            }];
            train_pass(b, model, &mut parts, data, proximal, opts, pacer).await?
        }
        ClientWork::Reconstruct { config } => {
            model.reinitialize(b, &LOCAL, task.seed)?;
            reconstruct_and_train_pass(b, model, config, data, opts, pacer).await?
        }
        ClientWork::Stateful {
            client_optimizer,
            local_optimizer,
        } => {
            let state = client_state
                .ok_or_else(|| Error::invalid(OP, "a stateful client needs its ClientState"))?;
            assign_client_state(state, b, model)?;
            let global_groups = [VariableGroup::GlobalTrainable];
            let local_groups = [VariableGroup::LocalTrainable];
            let mut client_opt = optimizer_for(b, model, &global_groups, client_optimizer.clone())?;
            let mut local_opt = optimizer_for(b, model, &local_groups, local_optimizer.clone())?;
            client_opt.set_round(round);
            local_opt.set_round(round);
            let mut parts = [
                GroupOptimizer {
                    groups: &global_groups,
                    optimizer: &mut client_opt,
                },
                GroupOptimizer {
                    groups: &local_groups,
                    optimizer: &mut local_opt,
                },
            ];
            train_pass(b, model, &mut parts, data, None, opts, pacer).await?
        }
        ClientWork::Evaluate => evaluate_pass(b, model, data, pacer).await?,
        ClientWork::ReconstructEvaluate {
            reconstruction_optimizer,
            split,
        } => {
            model.reinitialize(b, &LOCAL, task.seed)?;
            reconstruct_and_evaluate_pass(
                b,
                model,
                reconstruction_optimizer,
                split,
                data,
                opts,
                pacer,
            )
            .await?
        }
    };
    let read = ClientReadBack::new(model, &acc, &task.work, client_state.is_some());
    let mut values = b.read_many(&read.tensors()).await?;
    let locals = values.split_off(read.sums.len() + read.trained.len());
    let (sums, trained) = values.split_at(read.sums.len());
    let metrics = acc.metrics_from(sums)?;
    let mut update = if task.work.is_evaluation() {
        Vec::new()
    } else {
        model_delta(&read.trained_names, trained, &task.global.trainable)?
    };
    let new_state = match client_state {
        Some(state) if keeps_locals(&task.work, true) => Some(ClientState {
            index: state.index,
            local_weights: named(&read.locals, locals)?,
        }),
        _ => None,
    };
    let num_examples = metrics.value(MetricKind::NumExamples).unwrap_or(0.0);
    let mut weight = task.weighting.weight(num_examples);
    // As TFF's client work (`zero_all_if_any_non_finite`): a client whose
    // update has a NaN or infinity sends zeros instead, with weight 0 when
    // weighting by examples (under uniform weighting TFF's unweighted mean
    // still counts it, so it keeps weight 1), and says so; the round counts
    // it. The other clients' updates are kept.
    let non_finite = update.iter().any(|t| t.data.iter().any(|v| !v.is_finite()));
    if non_finite {
        update
            .iter_mut()
            .for_each(|t| t.data.iter_mut().for_each(|v| *v = 0.0));
        if task.weighting != ClientWeighting::Uniform {
            weight = 0.0;
        }
    }
    Ok(ClientOutput {
        update: ClientUpdate {
            round_id: task.round_id,
            model_fingerprint: task.model_fingerprint,
            client_key: task.client_key,
            weight,
            non_finite,
            update,
            metrics,
        },
        client_state: new_state,
    })
}

/// What a client reads back at the end, in one go: the pass's metric sums,
/// the global trainable variables (for the update) and, for stateful
/// clients, the local variables (the new client state).
/// Whether a client returns its local variables: stateful clients always
/// (they are its state), reconstruction clients when given a state to fill
/// (a browser tab keeps its reconstructed variables, which never leave it;
/// TFF's reconstruction still starts each round from the initializer).
fn keeps_locals(work: &ClientWork, with_state: bool) -> bool {
    match work {
        ClientWork::Stateful { .. } => true,
        ClientWork::Reconstruct { .. } => with_state,
        _ => false,
    }
}

struct ClientReadBack<'m> {
    sums: Vec<&'m Tensor>,
    trained_names: Vec<&'m str>,
    trained: Vec<&'m Tensor>,
    locals: Vec<(&'m VariableInfo, &'m Tensor)>,
}

impl<'m> ClientReadBack<'m> {
    fn new(model: &'m dyn Model, acc: &'m PassOutput, work: &ClientWork, with_state: bool) -> Self {
        let (trained_names, trained) = if work.is_evaluation() {
            (Vec::new(), Vec::new())
        } else {
            variables_where(model, |g| g == VariableGroup::GlobalTrainable)
                .into_iter()
                .map(|(v, t)| (v.name.as_str(), t))
                .unzip()
        };
        let locals = if keeps_locals(work, with_state) {
            variables_where(model, |g| !g.is_global())
        } else {
            Vec::new()
        };
        ClientReadBack {
            sums: acc.tensors(),
            trained_names,
            trained,
            locals,
        }
    }

    /// Everything, in order: sums, trained globals, locals.
    fn tensors(&self) -> Vec<&'m Tensor> {
        let mut out = self.sums.clone();
        out.extend(&self.trained);
        out.extend(self.locals.iter().map(|(_, t)| *t));
        out
    }
}

/// `trained - global` for each global trainable variable, in `f32`, named
/// as the variable.
fn model_delta(
    names: &[&str],
    trained: &[Vec<f32>],
    global: &[NamedTensor],
) -> Result<Vec<NamedTensor>> {
    if trained.len() != global.len() || names.len() != global.len() {
        return Err(Error::WeightsStructure {
            op: "client_update",
            expected: format!("{} broadcast trainable variables", trained.len()),
            got: format!("{}", global.len()),
        });
    }
    Ok(trained
        .iter()
        .zip(global)
        .zip(names)
        .map(|((now, g), name)| NamedTensor {
            name: (*name).to_string(),
            shape: g.shape.clone(),
            data: now.iter().zip(&g.data).map(|(c, g)| c - g).collect(),
        })
        .collect())
}
