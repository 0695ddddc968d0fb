//! Per-client datasets, like `tff.simulation.datasets.ClientData`.
//!
//! # Layout
//! A [`ClientData`] maps client ids (strings, kept sorted) to that client's
//! [`Examples`], shared through `Arc` so building datasets copies nothing.
//! Every client has the same [`ElementSpec`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::dataset::Dataset;
use super::element::{ElementSpec, Examples, LabelSpec};
use crate::error::{Error, Result};

/// Examples keyed by client id, all of one [`ElementSpec`].
#[derive(Clone, Debug, PartialEq)]
pub struct ClientData {
    spec: ElementSpec,
    clients: BTreeMap<String, Arc<Examples>>,
}

impl ClientData {
    /// Client data from per-client examples.
    ///
    /// # Errors
    /// [`Error::Dataset`] when a client's spec differs from `spec` (naming the
    /// client) or `spec` is invalid.
    pub fn from_clients(spec: ElementSpec, clients: BTreeMap<String, Examples>) -> Result<Self> {
        Self::from_arcs(
            spec,
            clients.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        )
    }

    /// As [`ClientData::from_clients`] with shared examples.
    ///
    /// # Errors
    /// As [`ClientData::from_clients`].
    pub fn from_arcs(spec: ElementSpec, clients: BTreeMap<String, Arc<Examples>>) -> Result<Self> {
        spec.validate()?;
        for (id, ex) in &clients {
            if ex.spec() != &spec {
                return Err(Error::Dataset {
                    op: "ClientData::from_clients",
                    detail: format!("client {id:?} has spec {:?}, expected {spec:?}", ex.spec()),
                });
            }
        }
        Ok(ClientData { spec, clients })
    }

    /// The client ids, sorted.
    pub fn client_ids(&self) -> Vec<String> {
        self.clients.keys().cloned().collect()
    }

    /// Number of clients.
    pub fn num_clients(&self) -> usize {
        self.clients.len()
    }

    /// The spec of one example.
    pub fn element_spec(&self) -> &ElementSpec {
        &self.spec
    }

    /// Total number of examples over all clients.
    pub fn num_examples(&self) -> usize {
        self.clients.values().map(|e| e.len()).sum()
    }

    /// `(id, examples)` in sorted id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Examples>)> + '_ {
        self.clients.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// One client's examples.
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the unknown id.
    pub fn examples_for_client(&self, id: &str) -> Result<Arc<Examples>> {
        self.clients.get(id).cloned().ok_or_else(|| Error::Dataset {
            op: "ClientData::examples_for_client",
            detail: format!(
                "unknown client id {id:?} ({} clients{})",
                self.clients.len(),
                self.clients
                    .keys()
                    .next()
                    .map(|k| format!(", e.g. {k:?}"))
                    .unwrap_or_default()
            ),
        })
    }

    /// One client's examples as an unbatched, unshuffled [`Dataset`].
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the unknown id.
    pub fn dataset_for_client(&self, id: &str) -> Result<Dataset> {
        Ok(Dataset::from_arc(self.examples_for_client(id)?))
    }

    /// The clients whose id satisfies `keep`.
    pub fn retain_clients(&self, keep: impl Fn(&str) -> bool) -> ClientData {
        ClientData {
            spec: self.spec.clone(),
            clients: self
                .clients
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The first `n` clients in sorted id order.
    pub fn take_clients(&self, n: usize) -> ClientData {
        ClientData {
            spec: self.spec.clone(),
            clients: self
                .clients
                .iter()
                .take(n)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Only the examples whose label satisfies `keep`, under `label` as the
    /// new label spec (for example fewer classes). Clients left without
    /// examples are dropped.
    ///
    /// # Errors
    /// [`Error::Data`] if a kept label does not fit `label`.
    pub fn filter_labels(
        &self,
        label: LabelSpec,
        keep: impl Fn(f32) -> bool,
    ) -> Result<ClientData> {
        let spec = ElementSpec::new(self.spec.x_shape.clone(), label);
        let mut clients = BTreeMap::new();
        for (id, ex) in &self.clients {
            let kept = ex.select(spec.clone(), |i| keep(ex.y_of(i)))?;
            if !kept.is_empty() {
                clients.insert(id.clone(), Arc::new(kept));
            }
        }
        Ok(ClientData { spec, clients })
    }

    /// Only the examples whose label satisfies `keep`, same spec. Clients
    /// left without examples are dropped.
    pub fn filter_classes(&self, keep: impl Fn(f32) -> bool) -> ClientData {
        let mut clients = BTreeMap::new();
        for (id, ex) in &self.clients {
            let d = self.spec.x_len();
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for i in (0..ex.len()).filter(|&i| keep(ex.y_of(i))) {
                x.extend_from_slice(&ex.x()[i * d..(i + 1) * d]);
                y.push(ex.y_of(i));
            }
            if !y.is_empty() {
                // A subset of validated examples under the same spec is valid.
                clients.insert(
                    id.clone(),
                    Arc::new(Examples::from_valid(self.spec.clone(), x, y)),
                );
            }
        }
        ClientData {
            spec: self.spec.clone(),
            clients,
        }
    }

    /// The digits of a FEMNIST-style 62-class set: labels `0..10` only, spec
    /// `Class { num_classes: 10 }`; clients left without examples are dropped.
    ///
    /// # Errors
    /// [`Error::Dataset`] unless the labels are classes with at least 10 ids.
    pub fn digits_only(&self) -> Result<ClientData> {
        match self.spec.label {
            LabelSpec::Class { num_classes } if num_classes >= 10 => {
                self.filter_labels(LabelSpec::Class { num_classes: 10 }, |y| y < 10.0)
            }
            ref other => Err(Error::Dataset {
                op: "ClientData::digits_only",
                detail: format!("needs class labels with at least 10 classes, have {other:?}"),
            }),
        }
    }

    /// All clients' examples concatenated in sorted id order.
    pub fn merged(&self) -> Examples {
        let d = self.spec.x_len();
        let n = self.num_examples();
        let mut x = Vec::with_capacity(n * d);
        let mut y = Vec::with_capacity(n);
        for ex in self.clients.values() {
            x.extend_from_slice(ex.x());
            y.extend_from_slice(ex.y());
        }
        // Concatenating validated examples of one spec keeps them valid.
        Examples::from_valid(self.spec.clone(), x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cd() -> ClientData {
        let spec = ElementSpec::new(vec![1], LabelSpec::Class { num_classes: 62 });
        let mut m = BTreeMap::new();
        m.insert(
            "b".to_string(),
            Examples::new(spec.clone(), vec![1.0, 2.0], vec![3.0, 40.0]).unwrap(),
        );
        m.insert(
            "a".to_string(),
            Examples::new(spec.clone(), vec![5.0], vec![50.0]).unwrap(),
        );
        ClientData::from_clients(spec, m).unwrap()
    }

    #[test]
    fn ids_sorted_and_unknown_named() {
        let c = cd();
        assert_eq!(c.client_ids(), vec!["a", "b"]);
        assert_eq!(c.num_examples(), 3);
        let e = c.dataset_for_client("zz").unwrap_err();
        assert!(e.to_string().contains("\"zz\""), "{e}");
        assert_eq!(c.take_clients(1).client_ids(), vec!["a"]);
        assert_eq!(c.merged().y(), &[50.0, 3.0, 40.0]);
    }

    #[test]
    fn digits_only_drops_empty_clients() {
        let d = cd().digits_only().unwrap();
        assert_eq!(d.client_ids(), vec!["b"]);
        assert_eq!(d.element_spec().label, LabelSpec::Class { num_classes: 10 });
        assert_eq!(d.examples_for_client("b").unwrap().y(), &[3.0]);
        let f = cd().filter_classes(|y| y >= 40.0);
        assert_eq!(f.client_ids(), vec!["a", "b"]);
        assert_eq!(f.examples_for_client("b").unwrap().x(), &[2.0]);
        assert_eq!(f.element_spec(), cd().element_spec());
    }
}
