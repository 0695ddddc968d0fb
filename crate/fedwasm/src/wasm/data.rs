//! `ClientDataHandle`: federated data parsed in wasm (LEAF, MovieLens, CSV,
//! typed arrays, the embedded FEMNIST digits, synthetic ratings), and the
//! `FWEX` bytes of one client's examples ([`crate::data::wire`]) that a
//! client task travels with.

use std::collections::BTreeMap;

use js_sys::{Array, Float32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::{js_error, to_js};
use crate::data::{
    decode_femnist_pack, encode_examples, femnist_digits, parse_csv, parse_leaf_files,
    parse_movielens, synthetic_ratings, ClientData, CsvOptions, ElementSpec, Examples, LabelSpec,
    LeafOptions, MovieLensOptions, SyntheticRatings,
};
use crate::error::Error;

/// Federated data: one set of examples per client id (sorted ids), all of
/// one element spec.
#[wasm_bindgen]
pub struct ClientDataHandle {
    inner: ClientData,
    /// Items of a ratings data set (MovieLens, synthetic): the
    /// `matrixFactorization` model's `items`.
    num_items: Option<usize>,
}

fn invalid(op: &'static str, detail: impl Into<String>) -> JsValue {
    js_error(Error::invalid(op, detail))
}

/// JSON options, parsed with unknown fields refused.
fn options<T: serde::de::DeserializeOwned>(op: &'static str, json: &str) -> Result<T, JsValue> {
    serde_json::from_str(json).map_err(|e| invalid(op, format!("options: {e}")))
}

fn bytes_list(op: &'static str, list: &Array) -> Result<Vec<Vec<u8>>, JsValue> {
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            v.dyn_into::<Uint8Array>()
                .map(|a| a.to_vec())
                .map_err(|_| invalid(op, format!("source {i} is not bytes (Uint8Array)")))
        })
        .collect()
}

#[wasm_bindgen]
impl ClientDataHandle {
    /// LEAF JSON documents (`names[i]` names `files[i]` in errors); options
    /// JSON `{"digits_only", "max_clients", "ink_is_one"}`.
    #[wasm_bindgen(js_name = fromLeaf)]
    pub fn from_leaf(
        names: Vec<String>,
        files: Array,
        options_json: &str,
    ) -> Result<ClientDataHandle, JsValue> {
        const OP: &str = "ClientData.fromLeaf";
        let opts: LeafOptions = options(OP, options_json)?;
        let files = bytes_list(OP, &files)?;
        if names.len() != files.len() {
            return Err(invalid(OP, "one name per source"));
        }
        let docs: Vec<(&str, &[u8])> = names
            .iter()
            .map(String::as_str)
            .zip(files.iter().map(Vec::as_slice))
            .collect();
        Ok(ClientDataHandle {
            inner: parse_leaf_files(&docs, &opts).map_err(js_error)?,
            num_items: None,
        })
    }

    /// A MovieLens ratings file (`u.data` tab-separated or `ratings.dat`
    /// with `::`); options JSON `{"max_examples_per_user"}`.
    #[wasm_bindgen(js_name = fromMovieLens)]
    pub fn from_movielens(
        name: &str,
        text: &str,
        options_json: &str,
    ) -> Result<ClientDataHandle, JsValue> {
        let opts: MovieLensOptions = options("ClientData.fromMovieLens", options_json)?;
        let ml = parse_movielens(name, text, &opts).map_err(js_error)?;
        Ok(ClientDataHandle {
            inner: ml.clients,
            num_items: Some(ml.num_items),
        })
    }

    /// A CSV file; options JSON as [`CsvOptions`].
    #[wasm_bindgen(js_name = fromCsv)]
    pub fn from_csv(
        name: &str,
        text: &str,
        options_json: &str,
    ) -> Result<ClientDataHandle, JsValue> {
        let opts: CsvOptions = options("ClientData.fromCsv", options_json)?;
        Ok(ClientDataHandle {
            inner: parse_csv(name, text, &opts).map_err(js_error)?,
            num_items: None,
        })
    }

    /// Typed arrays: client `ids[i]` has features `xs[i]` (examples x
    /// `prod(x_shape)`, row-major) and labels `ys[i]`; `label_json` is
    /// `{"class":{"num_classes":N}}` or `"real"`.
    #[wasm_bindgen(js_name = fromArrays)]
    pub fn from_arrays(
        ids: Vec<String>,
        xs: Array,
        ys: Array,
        x_shape: Vec<u32>,
        label_json: &str,
    ) -> Result<ClientDataHandle, JsValue> {
        const OP: &str = "ClientData.fromArrays";
        let label: LabelSpec = options(OP, label_json)?;
        let spec = ElementSpec::new(x_shape.iter().map(|&d| d as usize).collect(), label);
        if ids.len() != xs.length() as usize || ids.len() != ys.length() as usize {
            return Err(invalid(OP, "one x and one y array per client"));
        }
        let mut clients = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            let x = xs
                .get(i as u32)
                .dyn_into::<Float32Array>()
                .map_err(|_| invalid(OP, format!("client {id:?}: x is not a Float32Array")))?;
            let y = ys.get(i as u32);
            let y: Vec<f32> = if let Some(y) = y.dyn_ref::<Float32Array>() {
                y.to_vec()
            } else if let Some(y) = y.dyn_ref::<js_sys::Int32Array>() {
                y.to_vec().into_iter().map(|v| v as f32).collect()
            } else {
                return Err(invalid(
                    OP,
                    format!("client {id:?}: y is not an Int32Array or a Float32Array"),
                ));
            };
            let examples = Examples::new(spec.clone(), x.to_vec(), y)
                .map_err(|e| js_error(e.in_context(format_args!("client {id:?}"))))?;
            if clients.insert(id.clone(), examples).is_some() {
                return Err(invalid(OP, format!("client {id:?} appears twice")));
            }
        }
        Ok(ClientDataHandle {
            inner: ClientData::from_clients(spec, clients).map_err(js_error)?,
            num_items: None,
        })
    }

    /// The FEMNIST digits embedded in the engine (10 LEAF writers, 28x28x1
    /// images, ink 1; see `crate/fedwasm/data/README.md`): `split` is
    /// `"train"` or `"test"`.
    #[wasm_bindgen(js_name = femnistDigits)]
    pub fn femnist(split: &str) -> Result<ClientDataHandle, JsValue> {
        let (train, test) = femnist_digits().map_err(js_error)?;
        pick_split("ClientData.femnistDigits", split, train, test)
    }

    /// A FEMNIST pack (`FWFEMDIG`, see [`crate::data::embedded`]): `split`
    /// `"train"` or `"test"`.
    #[wasm_bindgen(js_name = fromFemnistPack)]
    pub fn from_femnist_pack(bytes: &[u8], split: &str) -> Result<ClientDataHandle, JsValue> {
        let (train, test) = decode_femnist_pack(bytes).map_err(js_error)?;
        pick_split("ClientData.fromFemnistPack", split, train, test)
    }

    /// Seeded synthetic ratings (options JSON as [`SyntheticRatings`]).
    #[wasm_bindgen(js_name = syntheticRatings)]
    pub fn synthetic(options_json: &str) -> Result<ClientDataHandle, JsValue> {
        let cfg: SyntheticRatings = options("ClientData.syntheticRatings", options_json)?;
        let data = synthetic_ratings(&cfg).map_err(js_error)?;
        Ok(ClientDataHandle {
            inner: data.clients,
            num_items: Some(cfg.num_items),
        })
    }

    /// The client ids, sorted.
    #[wasm_bindgen(js_name = clientIds)]
    pub fn client_ids(&self) -> Vec<String> {
        self.inner.client_ids()
    }

    /// The element spec as JSON (`{"x_shape", "label"}`).
    #[wasm_bindgen(js_name = elementSpec)]
    pub fn element_spec(&self) -> JsValue {
        to_js(self.inner.element_spec())
    }

    /// Items of a ratings data set (`undefined` otherwise).
    #[wasm_bindgen(getter, js_name = numItems)]
    pub fn num_items(&self) -> Option<u32> {
        self.num_items.map(|n| n as u32)
    }

    /// Examples of client `id`.
    #[wasm_bindgen(js_name = numExamples)]
    pub fn num_examples(&self, id: &str) -> Result<u32, JsValue> {
        Ok(self.examples(id)?.len() as u32)
    }

    /// Examples per class of client `id` (class data only).
    #[wasm_bindgen(js_name = labelCounts)]
    pub fn label_counts(&self, id: &str) -> Result<Vec<u32>, JsValue> {
        let LabelSpec::Class { num_classes } = self.inner.element_spec().label else {
            return Err(invalid(
                "ClientData.labelCounts",
                "the labels are real values, not classes",
            ));
        };
        let mut counts = vec![0u32; num_classes];
        for &y in self.examples(id)?.y() {
            counts[y as usize] += 1;
        }
        Ok(counts)
    }

    /// `count` examples of client `id` from `start`: `{x: Float32Array, y:
    /// Float32Array}` (fewer at the end).
    pub fn slice(&self, id: &str, start: u32, count: u32) -> Result<JsValue, JsValue> {
        let e = self.examples(id)?;
        let start = (start as usize).min(e.len());
        let end = start.saturating_add(count as usize).min(e.len());
        let d = self.inner.element_spec().x_len();
        let out = js_sys::Object::new();
        let x = Float32Array::from(&e.x()[start * d..end * d]);
        let y = Float32Array::from(&e.y()[start..end]);
        js_sys::Reflect::set(&out, &"x".into(), &x)?;
        js_sys::Reflect::set(&out, &"y".into(), &y)?;
        Ok(out.into())
    }

    /// The `FWEX` bytes of client `id`'s examples (what a task runs on).
    #[wasm_bindgen(js_name = clientBytes)]
    pub fn client_bytes(&self, id: &str) -> Result<Uint8Array, JsValue> {
        Ok(super::bytes_to_js(&encode_examples(
            self.examples(id)?.as_ref(),
        )))
    }
}

fn pick_split(
    op: &'static str,
    split: &str,
    train: ClientData,
    test: ClientData,
) -> Result<ClientDataHandle, JsValue> {
    let inner = match split {
        "train" => train,
        "test" => test,
        other => {
            return Err(invalid(
                op,
                format!("split {other:?}: expected \"train\" or \"test\""),
            ))
        }
    };
    Ok(ClientDataHandle {
        inner,
        num_items: None,
    })
}

impl ClientDataHandle {
    fn examples(&self, id: &str) -> Result<std::sync::Arc<Examples>, JsValue> {
        self.inner.examples_for_client(id).map_err(js_error)
    }
}
