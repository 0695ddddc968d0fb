//! Loader for MovieLens ratings (`u.data` of ML-100K, `ratings.dat` of ML-1M).
//!
//! # Formats
//! Detected per file from the first non-blank line:
//! - `u.data`: `user item rating timestamp`, tab (or space) separated;
//! - `ratings.dat`: `user::item::rating::timestamp`.
//!
//! # Result layout
//! Users become clients. User and item ids are remapped densely in sorted
//! numeric order (`user_ids[dense] = original`, likewise `item_ids`), over the
//! ratings that are kept. Client ids are the dense user index, zero-padded to
//! the width of the largest index (`"000"`..`"942"` for 943 users), so sorted
//! client ids are in numeric order. Each example is `x = [dense item id]`
//! (`x_shape = [1]`) and `y = rating` (`LabelSpec::Real`), in file order.

use std::collections::BTreeMap;

use super::client_data::ClientData;
use super::element::{ElementSpec, Examples, LabelSpec};
use crate::error::{Error, Result};
use crate::limits::{LimitField, Limits};

/// What to load from a MovieLens file.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MovieLensOptions {
    /// Keep at most this many ratings per user, the first ones in file order.
    pub max_examples_per_user: Option<usize>,
}

/// MovieLens ratings as per-user client data plus the id maps.
#[derive(Clone, Debug, PartialEq)]
pub struct MovieLens {
    /// One client per user; `x = [dense item id]`, `y = rating`.
    pub clients: ClientData,
    /// Number of distinct users (= clients).
    pub num_users: usize,
    /// Number of distinct items among the kept ratings.
    pub num_items: usize,
    /// Original user id of each dense user index.
    pub user_ids: Vec<u64>,
    /// Original item id of each dense item index.
    pub item_ids: Vec<u64>,
}

/// Reads a MovieLens ratings file.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; otherwise as [`parse_movielens`].
#[cfg(not(target_arch = "wasm32"))]
pub fn load_movielens(path: &std::path::Path, opts: &MovieLensOptions) -> Result<MovieLens> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_movielens(&path.display().to_string(), &text, opts)
}

const FIELDS: [&str; 4] = ["user", "item", "rating", "timestamp"];

/// Parses MovieLens ratings text; `name` is used in error messages.
///
/// # Errors
/// [`Error::Limit`] for a text over `max_message_bytes` or a user with more
/// ratings than `max_examples_per_client`;
/// [`Error::Data`] naming the file, the line and the field (`user`, `item`,
/// `rating`, `timestamp`) when a field is missing, extra or not a number (a
/// rating must be finite); also when the file has no ratings.
pub fn parse_movielens(name: &str, text: &str, opts: &MovieLensOptions) -> Result<MovieLens> {
    const OP: &str = "parse_movielens";
    let limits = Limits::current();
    limits
        .check_bytes(OP, "a MovieLens ratings file", text.len())
        .map_err(|e| e.in_context(format_args!("file {name}")))?;
    let dat = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.contains("::"));
    let cap = opts.max_examples_per_user.unwrap_or(usize::MAX);
    // original user -> (original items, ratings), in file order
    let mut per_user: BTreeMap<u64, (Vec<u64>, Vec<f32>)> = BTreeMap::new();
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let record = || format!("line {}", ln + 1);
        let mut fields: Box<dyn Iterator<Item = &str>> = if dat {
            Box::new(line.split("::"))
        } else {
            Box::new(line.split_ascii_whitespace())
        };
        let mut vals = [""; 4];
        for (slot, field) in vals.iter_mut().zip(FIELDS) {
            *slot = fields
                .next()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::data(name, record(), field, "missing field"))?;
        }
        if fields.next().is_some() {
            return Err(Error::data(
                name,
                record(),
                "timestamp",
                "unexpected extra fields after timestamp",
            ));
        }
        let int = |i: usize| {
            vals[i].parse::<u64>().map_err(|_| {
                Error::data(
                    name,
                    record(),
                    FIELDS[i],
                    format!("{:?} is not a non-negative integer", vals[i]),
                )
            })
        };
        let (user, item, _timestamp) = (int(0)?, int(1)?, int(3)?);
        let rating = vals[2]
            .parse::<f32>()
            .ok()
            .filter(|r| r.is_finite())
            .ok_or_else(|| {
                Error::data(
                    name,
                    record(),
                    "rating",
                    format!("{:?} is not a finite number", vals[2]),
                )
            })?;
        let entry = per_user.entry(user).or_default();
        if entry.0.len() < cap {
            limits
                .check(
                    OP,
                    LimitField::ExamplesPerClient,
                    "ratings of one user",
                    entry.0.len() as u64 + 1,
                )
                .map_err(|e| {
                    e.in_context(format_args!("file {name}, {}, user {user}", record()))
                })?;
            entry.0.push(item);
            entry.1.push(rating);
        }
    }
    if per_user.is_empty() {
        return Err(Error::data(name, "file", "user", "no ratings found"));
    }
    let mut item_ids: Vec<u64> = per_user
        .values()
        .flat_map(|(items, _)| items.iter().copied())
        .collect();
    item_ids.sort_unstable();
    item_ids.dedup();
    if item_ids.len() > 1 << 24 {
        return Err(Error::data(
            name,
            "file",
            "item",
            "more than 2^24 items cannot be f32 ids",
        ));
    }
    let user_ids: Vec<u64> = per_user.keys().copied().collect();
    let width = (user_ids.len() - 1).to_string().len();
    let spec = ElementSpec::new(vec![1], LabelSpec::Real);
    let mut clients = BTreeMap::new();
    for (dense, (items, ratings)) in per_user.into_values().enumerate() {
        let x = items
            .iter()
            .map(|it| item_ids.binary_search(it).unwrap_or(0) as f32)
            .collect();
        clients.insert(
            format!("{dense:0width$}"),
            Examples::new(spec.clone(), x, ratings)?,
        );
    }
    Ok(MovieLens {
        clients: ClientData::from_clients(spec, clients)?,
        num_users: user_ids.len(),
        num_items: item_ids.len(),
        user_ids,
        item_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_parse_the_same() {
        let a =
            parse_movielens("u.data", "5\t10\t4\t1\n3\t7\t2.5\t2\n", &Default::default()).unwrap();
        let b = parse_movielens(
            "ratings.dat",
            "5::10::4::1\r\n3::7::2.5::2\r\n",
            &Default::default(),
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.user_ids, vec![3, 5]);
        assert_eq!(a.item_ids, vec![7, 10]);
    }

    #[test]
    fn non_numeric_field_is_named() {
        let m = parse_movielens("r.dat", "1::2::x::4\n", &Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("r.dat") && m.contains("line 1") && m.contains("field rating"),
            "{m}"
        );
    }
}
