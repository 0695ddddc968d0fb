//! Seeded synthetic federated data sets.
//!
//! # Layout
//! Client ids are the client index zero-padded to the width of the largest
//! index (`"00"`..`"19"` for 20 clients), so sorted ids are in numeric order.
//! - [`synthetic_classification`]: `x_shape = [dim]`, `Class { num_classes }`.
//!   Each class has a fixed random prototype (standard normal entries); an
//!   example of class `c` is `prototype[c] + noise_std * N(0, I)`. Each
//!   client's class proportions are drawn from `Dirichlet(alpha)`, giving
//!   non-IID label skew (small `alpha`: few classes per client).
//! - [`synthetic_ratings`]: `x_shape = [1]` (an item id), `Real` labels.
//!   User and item factors have `N(0, rank^-1/2)` entries, so `u . v` has unit
//!   variance; a rating is `mean + u . v + N(0, noise_std^2)` with
//!   `mean = 3.0`, which puts ratings roughly in 1..5. Each user rates
//!   `ratings_per_user` distinct items chosen uniformly.
//!
//! Everything is drawn from [`Rng::derive`] streams of the seed, so the
//! output depends only on the configuration.

use std::collections::BTreeMap;

use super::client_data::ClientData;
use super::element::{ElementSpec, Examples, LabelSpec};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Configuration of [`synthetic_classification`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyntheticClassification {
    pub num_clients: usize,
    pub examples_per_client: usize,
    pub num_classes: usize,
    /// Feature dimension.
    pub dim: usize,
    /// Dirichlet concentration of each client's class proportions (> 0).
    pub dirichlet_alpha: f64,
    /// Standard deviation of the feature noise (>= 0).
    pub noise_std: f64,
    pub seed: u64,
}

impl Default for SyntheticClassification {
    fn default() -> Self {
        SyntheticClassification {
            num_clients: 10,
            examples_per_client: 100,
            num_classes: 10,
            dim: 20,
            dirichlet_alpha: 0.5,
            noise_std: 1.0,
            seed: 0,
        }
    }
}

/// Configuration of [`synthetic_ratings`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyntheticRatings {
    pub num_users: usize,
    pub num_items: usize,
    /// Rank of the factorisation (>= 1).
    pub rank: usize,
    /// Distinct items rated by each user (<= num_items).
    pub ratings_per_user: usize,
    /// Standard deviation of the rating noise (>= 0).
    pub noise_std: f64,
    pub seed: u64,
}

impl Default for SyntheticRatings {
    fn default() -> Self {
        SyntheticRatings {
            num_users: 20,
            num_items: 50,
            rank: 4,
            ratings_per_user: 20,
            noise_std: 0.1,
            seed: 0,
        }
    }
}

/// Synthetic ratings and the factors that generated them.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticRatingsData {
    /// One client per user: `x = [item id]`, `y = rating`.
    pub clients: ClientData,
    /// `[num_users, rank]`.
    pub user_factors: Tensor,
    /// `[num_items, rank]`.
    pub item_factors: Tensor,
    /// The constant added to `u . v` (3.0).
    pub mean: f32,
}

/// The offset added to synthetic ratings.
pub const SYNTHETIC_RATING_MEAN: f32 = 3.0;

fn bad(op: &'static str, detail: impl Into<String>) -> Error {
    Error::invalid(op, detail)
}

fn client_id(i: usize, n: usize) -> String {
    let width = n.saturating_sub(1).to_string().len();
    format!("{i:0width$}")
}

/// Non-IID synthetic classification data (see the module docs).
///
/// # Errors
/// [`Error::InvalidArgument`] for zero classes or dimension, a non-positive
/// `dirichlet_alpha` or a negative/non-finite `noise_std`.
pub fn synthetic_classification(cfg: &SyntheticClassification) -> Result<ClientData> {
    const OP: &str = "synthetic_classification";
    if cfg.num_classes == 0 || cfg.dim == 0 {
        return Err(bad(OP, "num_classes and dim must be at least 1"));
    }
    if !(cfg.dirichlet_alpha > 0.0 && cfg.dirichlet_alpha.is_finite()) {
        return Err(bad(
            OP,
            format!(
                "dirichlet_alpha must be positive, got {}",
                cfg.dirichlet_alpha
            ),
        ));
    }
    if !(cfg.noise_std >= 0.0 && cfg.noise_std.is_finite()) {
        return Err(bad(
            OP,
            format!("noise_std must be >= 0, got {}", cfg.noise_std),
        ));
    }
    let spec = ElementSpec::new(
        vec![cfg.dim],
        LabelSpec::Class {
            num_classes: cfg.num_classes,
        },
    );
    spec.validate()?;
    let mut rng = Rng::derive(cfg.seed, 0);
    let protos: Vec<f64> = (0..cfg.num_classes * cfg.dim)
        .map(|_| rng.normal())
        .collect();
    let mut clients = BTreeMap::new();
    for c in 0..cfg.num_clients {
        let mut rng = Rng::derive(cfg.seed, c as u64 + 1);
        let p = rng.dirichlet(cfg.dirichlet_alpha, cfg.num_classes);
        let mut x = Vec::with_capacity(cfg.examples_per_client * cfg.dim);
        let mut y = Vec::with_capacity(cfg.examples_per_client);
        for _ in 0..cfg.examples_per_client {
            let label = sample_categorical(&mut rng, &p);
            let proto = &protos[label * cfg.dim..(label + 1) * cfg.dim];
            x.extend(
                proto
                    .iter()
                    .map(|&m| (m + cfg.noise_std * rng.normal()) as f32),
            );
            y.push(label as f32);
        }
        clients.insert(
            client_id(c, cfg.num_clients),
            Examples::new(spec.clone(), x, y)?,
        );
    }
    ClientData::from_clients(spec, clients)
}

fn sample_categorical(rng: &mut Rng, p: &[f64]) -> usize {
    let u = rng.uniform();
    let mut acc = 0.0;
    for (k, &pk) in p.iter().enumerate() {
        acc += pk;
        if u < acc {
            return k;
        }
    }
    // Rounding left u above the total: take the last class with mass.
    p.iter().rposition(|&pk| pk > 0.0).unwrap_or(0)
}

/// Low-rank synthetic ratings (see the module docs).
///
/// # Errors
/// [`Error::InvalidArgument`] for zero rank or items, more ratings per user
/// than items, more than 2^24 items, or a negative/non-finite `noise_std`.
pub fn synthetic_ratings(cfg: &SyntheticRatings) -> Result<SyntheticRatingsData> {
    const OP: &str = "synthetic_ratings";
    if cfg.rank == 0 || cfg.num_items == 0 {
        return Err(bad(OP, "rank and num_items must be at least 1"));
    }
    if cfg.num_items > 1 << 24 {
        return Err(bad(OP, "num_items must be at most 2^24 (f32 ids)"));
    }
    if cfg.ratings_per_user > cfg.num_items {
        return Err(bad(
            OP,
            format!(
                "ratings_per_user {} exceeds num_items {}",
                cfg.ratings_per_user, cfg.num_items
            ),
        ));
    }
    if !(cfg.noise_std >= 0.0 && cfg.noise_std.is_finite()) {
        return Err(bad(
            OP,
            format!("noise_std must be >= 0, got {}", cfg.noise_std),
        ));
    }
    let scale = (cfg.rank as f64).powf(-0.25);
    let mut frng = Rng::derive(cfg.seed, 0);
    let mut factors =
        |n: usize| -> Vec<f64> { (0..n * cfg.rank).map(|_| scale * frng.normal()).collect() };
    let users = factors(cfg.num_users);
    let items = factors(cfg.num_items);
    let spec = ElementSpec::new(vec![1], LabelSpec::Real);
    let mut clients = BTreeMap::new();
    let mut order: Vec<usize> = (0..cfg.num_items).collect();
    for u in 0..cfg.num_users {
        let mut rng = Rng::derive(cfg.seed, u as u64 + 1);
        // Partial Fisher-Yates: the first ratings_per_user slots are a uniform sample.
        for i in 0..cfg.ratings_per_user {
            let j = i + rng.below((cfg.num_items - i) as u64) as usize;
            order.swap(i, j);
        }
        let uf = &users[u * cfg.rank..(u + 1) * cfg.rank];
        let mut x = Vec::with_capacity(cfg.ratings_per_user);
        let mut y = Vec::with_capacity(cfg.ratings_per_user);
        for &it in &order[..cfg.ratings_per_user] {
            let vf = &items[it * cfg.rank..(it + 1) * cfg.rank];
            let dot: f64 = uf.iter().zip(vf).map(|(a, b)| a * b).sum();
            x.push(it as f32);
            y.push((SYNTHETIC_RATING_MEAN as f64 + dot + cfg.noise_std * rng.normal()) as f32);
        }
        clients.insert(
            client_id(u, cfg.num_users),
            Examples::new(spec.clone(), x, y)?,
        );
    }
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
    Ok(SyntheticRatingsData {
        clients: ClientData::from_clients(spec, clients)?,
        user_factors: Tensor::new(&[cfg.num_users, cfg.rank], to_f32(users))?,
        item_factors: Tensor::new(&[cfg.num_items, cfg.rank], to_f32(items))?,
        mean: SYNTHETIC_RATING_MEAN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_is_label_skewed() {
        let cfg = SyntheticClassification {
            dirichlet_alpha: 0.1,
            examples_per_client: 200,
            ..Default::default()
        };
        let cd = synthetic_classification(&cfg).unwrap();
        assert_eq!(cd.num_clients(), 10);
        let ex = cd.examples_for_client("0").unwrap();
        let mut counts = [0usize; 10];
        for &y in ex.y() {
            counts[y as usize] += 1;
        }
        assert!(*counts.iter().max().unwrap() > 80, "{counts:?}");
    }

    #[test]
    fn ratings_are_roughly_one_to_five() {
        let d = synthetic_ratings(&SyntheticRatings::default()).unwrap();
        let all = d.clients.merged();
        let mean = all.y().iter().sum::<f32>() / all.len() as f32;
        assert!((mean - 3.0).abs() < 0.5, "{mean}");
        let inside = all.y().iter().filter(|r| (0.5..5.5).contains(*r)).count();
        assert!(inside as f32 > 0.95 * all.len() as f32);
    }
}
