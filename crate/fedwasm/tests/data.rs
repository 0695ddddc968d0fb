//! Integration tests of `fedwasm::data`: pipelines, the reconstruction split,
//! loaders' error messages, synthetic data and the embedded FEMNIST digits.

mod common;

use std::collections::BTreeMap;

use fedwasm::data::{
    parse_csv, parse_leaf_json, parse_movielens, simple_dataset_split_fn, synthetic_classification,
    synthetic_ratings, Batch, ClientData, ColumnRef, CsvOptions, Dataset, ElementSpec, Examples,
    LabelSpec, LeafOptions, MovieLensOptions, ReconstructionSplit, SplitDataset,
    SyntheticClassification, SyntheticRatings,
};

/// `n` examples with `x = [i, i + 0.5]` and `y = i`.
fn range(n: usize) -> Dataset {
    let spec = ElementSpec::new(vec![2], LabelSpec::Real);
    let x = (0..n).flat_map(|i| [i as f32, i as f32 + 0.5]).collect();
    let y = (0..n).map(|i| i as f32).collect();
    Dataset::from_examples(Examples::new(spec, x, y).unwrap())
}

fn labels(ds: &Dataset) -> Vec<usize> {
    ds.examples()
        .unwrap()
        .map(|e| e.unwrap().1 as usize)
        .collect()
}

fn batches(ds: &Dataset) -> Vec<Batch> {
    ds.batches().unwrap().map(|b| b.unwrap()).collect()
}

fn batch_labels(ds: &Dataset) -> Vec<Vec<usize>> {
    batches(ds)
        .iter()
        .map(|b| b.y.as_f32().unwrap().iter().map(|&v| v as usize).collect())
        .collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn shuffle_is_seeded_permutation() {
    let a = labels(&range(100).shuffle(100, 1));
    assert_eq!(
        a,
        labels(&range(100).shuffle(100, 1)),
        "same seed, same order"
    );
    assert_ne!(
        a,
        labels(&range(100).shuffle(100, 2)),
        "different seeds differ"
    );
    assert_ne!(a, (0..100).collect::<Vec<_>>(), "actually shuffled");
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>(), "a permutation");
    // A small buffer still permutes, and iterating twice repeats the order.
    let ds = range(50).shuffle(7, 9);
    let b = labels(&ds);
    assert_eq!(b, labels(&ds));
    let mut sorted = b.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn shuffle_buffer_one_is_identity() {
    assert_eq!(
        labels(&range(30).shuffle(1, 5)),
        (0..30).collect::<Vec<_>>()
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn repeat_reshuffles_each_epoch() {
    // tf.data's `dataset.repeat(E).shuffle(B, seed)` and `shuffle(..).repeat(E)`.
    let ds = range(20).shuffle(20, 3).repeat(3);
    let v = labels(&ds);
    assert_eq!(v.len(), 60);
    assert_ne!(v[..20], v[20..40]);
    for epoch in v.chunks(20) {
        let mut e = epoch.to_vec();
        e.sort_unstable();
        assert_eq!(e, (0..20).collect::<Vec<_>>());
    }
    let w = labels(&range(20).repeat(3).shuffle(10, 1));
    let mut counts = [0; 20];
    w.iter().for_each(|&i| counts[i] += 1);
    assert!(counts.iter().all(|&c| c == 3));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn repeat_take_batch_counts() {
    let ds = range(10);
    assert_eq!(labels(&ds.repeat(3)).len(), 30);
    assert_eq!(labels(&ds.repeat(0)).len(), 0);
    assert_eq!(labels(&ds.take(4)), vec![0, 1, 2, 3]);
    assert_eq!(labels(&ds.skip(8)), vec![8, 9]);
    let b = batches(&ds.batch(4, false));
    assert_eq!(b.iter().map(Batch::size).collect::<Vec<_>>(), vec![4, 4, 2]);
    assert_eq!(b[0].x.shape(), &[4, 2]);
    assert_eq!(b[0].y.shape(), &[4]);
    assert_eq!(b[2].x.as_f32().unwrap(), &[8.0, 8.5, 9.0, 9.5]);
    let b = batches(&ds.batch(4, true));
    assert_eq!(b.iter().map(Batch::size).collect::<Vec<_>>(), vec![4, 4]);
    // After batch, operations count batches.
    let ds2 = ds.repeat(2).batch(3, false);
    assert_eq!(ds2.cardinality(), Some(7));
    assert_eq!(batches(&ds2.take(2)).len(), 2);
    assert_eq!(batch_labels(&ds2.skip(6)), vec![vec![8, 9]]);
    assert_eq!(batches(&ds.batch(5, false).repeat(3)).len(), 6);
    assert_eq!(ds.batch(4, true).cardinality(), Some(2));
    // Batching twice is an error, and so is iterating examples of a batched set.
    assert!(ds.batch(2, false).batch(2, false).batches().is_err());
    assert!(ds.batch(2, false).examples().is_err());
    assert!(ds.batches().is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn shard_even_odd() {
    let ds = range(7);
    assert_eq!(labels(&ds.shard(2, 0)), vec![0, 2, 4, 6]);
    assert_eq!(labels(&ds.shard(2, 1)), vec![1, 3, 5]);
    assert_eq!(labels(&ds.shard(3, 2)), vec![2, 5]);
    let b = ds.batch(2, false);
    assert_eq!(batch_labels(&b.shard(2, 0)), vec![vec![0, 1], vec![4, 5]]);
    assert_eq!(batch_labels(&b.shard(2, 1)), vec![vec![2, 3], vec![6]]);
    // Shards of one shuffled dataset are disjoint and cover it.
    let s = range(40).shuffle(40, 11);
    let mut both = labels(&s.shard(2, 0));
    both.extend(labels(&s.shard(2, 1)));
    both.sort_unstable();
    assert_eq!(both, (0..40).collect::<Vec<_>>());
    assert!(ds.shard(2, 2).check().is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn reconstruction_split() {
    let ds = range(10).batch(2, false); // batches [0,1] [2,3] [4,5] [6,7] [8,9]
    let (recon, post) = ReconstructionSplit::default().split(&ds).unwrap();
    assert_eq!(batch_labels(&recon), batch_labels(&ds));
    assert_eq!(batch_labels(&post), batch_labels(&ds));

    let split = ReconstructionSplit {
        split_dataset: true,
        ..Default::default()
    };
    let (recon, post) = split.split(&ds).unwrap();
    assert_eq!(
        batch_labels(&recon),
        vec![vec![0, 1], vec![4, 5], vec![8, 9]]
    );
    assert_eq!(batch_labels(&post), vec![vec![2, 3], vec![6, 7]]);

    let capped = ReconstructionSplit {
        recon_epochs: 3,
        recon_steps_max: Some(4),
        post_recon_epochs: 2,
        post_recon_steps_max: Some(3),
        split_dataset: true,
    };
    let (recon, post) = capped.split(&ds).unwrap();
    assert_eq!(
        batch_labels(&recon),
        vec![vec![0, 1], vec![4, 5], vec![8, 9], vec![0, 1]]
    );
    assert_eq!(
        batch_labels(&post),
        vec![vec![2, 3], vec![6, 7], vec![2, 3]]
    );
    let (recon, _) = ReconstructionSplit {
        recon_epochs: 2,
        ..Default::default()
    }
    .split(&ds)
    .unwrap();
    assert_eq!(batches(&recon).len(), 10);

    let bad = ReconstructionSplit {
        recon_epochs: 0,
        ..Default::default()
    };
    let m = bad.split(&ds).unwrap_err().to_string();
    assert!(m.contains("recon_epochs"), "{m}");

    let (a, b) = simple_dataset_split_fn(&ds);
    assert_eq!(batch_labels(&a), batch_labels(&b));
}

/// A LEAF document with one 784-pixel row per label.
fn leaf_doc(users: &[(&str, &[i64])]) -> String {
    let row = vec!["1.0"; 784].join(",");
    let ids: Vec<String> = users.iter().map(|u| format!("\"{}\"", u.0)).collect();
    let counts: Vec<String> = users.iter().map(|u| u.1.len().to_string()).collect();
    let data: Vec<String> = users
        .iter()
        .map(|(id, ys)| {
            let xs = vec![format!("[{row}]"); ys.len()].join(",");
            let y: Vec<String> = ys.iter().map(|v| v.to_string()).collect();
            format!("\"{id}\": {{\"x\": [{xs}], \"y\": [{}]}}", y.join(","))
        })
        .collect();
    format!(
        "{{\"users\": [{}], \"num_samples\": [{}], \"user_data\": {{{}}}}}",
        ids.join(", "),
        counts.join(", "),
        data.join(", ")
    )
}

fn leaf_err(text: &str) -> String {
    parse_leaf_json("bad_leaf.json", text.as_bytes(), &LeafOptions::default())
        .unwrap_err()
        .to_string()
}

fn assert_names(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "error {msg:?} should mention {p:?}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn leaf_truncated_file_is_located() {
    let doc = leaf_doc(&[("w1", &[1, 2]), ("w2", &[3, 4])]);
    let ok = parse_leaf_json("ok.json", doc.as_bytes(), &LeafOptions::default()).unwrap();
    assert_eq!(ok.num_examples(), 4);
    // Cut inside the pixels of w2.
    let cut = doc.rfind("\"w2\"").unwrap() + 3000;
    let m = leaf_err(&doc[..cut]);
    assert_names(
        &m,
        &[
            "bad_leaf.json",
            "record user w2",
            "field x",
            "line 1 column",
        ],
    );
    // Garbage at the very start.
    let m = leaf_err("{\"users\": [\"w1\"], \"num_samples\": [1, oops");
    assert_names(&m, &["bad_leaf.json", "field num_samples", "column"]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn leaf_missing_y_is_located() {
    let doc = leaf_doc(&[("w1", &[1]), ("w7", &[2])]);
    let doc = doc.replace(", \"y\": [2]", "");
    let m = leaf_err(&doc);
    assert_names(
        &m,
        &["bad_leaf.json", "record user w7", "field y", "missing"],
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn leaf_label_out_of_range_is_located() {
    let m = leaf_err(&leaf_doc(&[("w1", &[1, 5, 62])]));
    assert_names(
        &m,
        &[
            "bad_leaf.json",
            "record user w1, example 2",
            "field y",
            "62",
        ],
    );
    let m = leaf_err(&leaf_doc(&[("w1", &[-1])]));
    assert_names(&m, &["record user w1, example 0", "field y"]);
    // A short pixel row and an inconsistent num_samples.
    let doc = leaf_doc(&[("w1", &[1, 2])]);
    let mut short = doc.clone();
    let second_row = short.match_indices("[1.0,").nth(1).unwrap().0;
    short.replace_range(second_row..second_row + 5, "[");
    let m = leaf_err(&short);
    assert_names(&m, &["record user w1, example 1", "field x", "783"]);
    let m = leaf_err(&doc.replace("\"num_samples\": [2]", "\"num_samples\": [3]"));
    assert_names(&m, &["record user w1", "field num_samples"]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn movielens_missing_field_is_located() {
    let text = "1\t10\t5\t881250949\n2\t20\t3\n";
    let m = parse_movielens("u.data", text, &MovieLensOptions::default())
        .unwrap_err()
        .to_string();
    assert_names(
        &m,
        &["u.data", "record line 2", "field timestamp", "missing"],
    );
    let m = parse_movielens("ratings.dat", "1::x::5::9\n", &MovieLensOptions::default())
        .unwrap_err()
        .to_string();
    assert_names(&m, &["ratings.dat", "record line 1", "field item"]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn movielens_dense_ids_and_cap() {
    // Users 30, 7, 100; items 500, 42, 9.
    let text = "30\t500\t4\t1\n7\t42\t3\t2\n30\t9\t5\t3\n100\t42\t1\t4\n30\t42\t2\t5\n";
    let ml = parse_movielens("u.data", text, &MovieLensOptions::default()).unwrap();
    assert_eq!(ml.user_ids, vec![7, 30, 100]);
    assert_eq!(ml.item_ids, vec![9, 42, 500]);
    assert_eq!((ml.num_users, ml.num_items), (3, 3));
    assert_eq!(ml.clients.client_ids(), vec!["0", "1", "2"]);
    assert_eq!(ml.clients.element_spec().label, LabelSpec::Real);
    let u30 = ml.clients.examples_for_client("1").unwrap();
    assert_eq!(u30.x(), &[2.0, 0.0, 1.0]); // items 500, 9, 42 in file order
    assert_eq!(u30.y(), &[4.0, 5.0, 2.0]);

    let capped = MovieLensOptions {
        max_examples_per_user: Some(1),
    };
    let ml = parse_movielens("u.data", text, &capped).unwrap();
    let u30 = ml.clients.examples_for_client("1").unwrap();
    assert_eq!(u30.y(), &[4.0]);
    assert_eq!(ml.item_ids, vec![42, 500], "items only from kept ratings");
    assert_eq!(ml.clients.num_examples(), 3);

    // Zero padding keeps numeric order for more than 10 users.
    let many: String = (0..12).map(|u| format!("{u}::1::3::0\n")).collect();
    let ml = parse_movielens("ratings.dat", &many, &MovieLensOptions::default()).unwrap();
    assert_eq!(ml.clients.client_ids()[..3], ["00", "01", "02"]);
    assert_eq!(ml.clients.client_ids()[11], "11");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn csv_wrong_column_count_is_located() {
    let text = "f1,f2,label\n0.5,1.5,1\n0.25,2\n";
    let opts = CsvOptions::new(
        ColumnRef::Name("label".into()),
        LabelSpec::Class { num_classes: 2 },
    );
    let m = parse_csv("data.csv", text, &opts).unwrap_err().to_string();
    assert_names(
        &m,
        &[
            "data.csv",
            "record line 3",
            "field row",
            "expected 3 columns, found 2",
        ],
    );
    let ok = parse_csv("data.csv", "f1,f2,label\n0.5,1.5,1\n", &opts).unwrap();
    assert_eq!(ok.client_ids(), vec!["0"]);
    assert_eq!(ok.element_spec().x_shape, vec![2]);
    let m = parse_csv("data.csv", "f1,f2,label\n0.5,1.5,2\n", &opts)
        .unwrap_err()
        .to_string();
    assert_names(&m, &["data.csv", "line 2", "field label"]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn synthetic_generators_are_deterministic() {
    let cfg = SyntheticClassification::default();
    let a = synthetic_classification(&cfg).unwrap();
    assert_eq!(a, synthetic_classification(&cfg).unwrap());
    let other = SyntheticClassification {
        seed: 1,
        ..cfg.clone()
    };
    assert_ne!(a, synthetic_classification(&other).unwrap());
    assert_eq!(a.num_clients(), cfg.num_clients);
    assert_eq!(a.num_examples(), cfg.num_clients * cfg.examples_per_client);
    assert_eq!(a.element_spec().x_shape, vec![cfg.dim]);

    let rcfg = SyntheticRatings::default();
    let r = synthetic_ratings(&rcfg).unwrap();
    assert_eq!(r, synthetic_ratings(&rcfg).unwrap());
    assert_ne!(
        r,
        synthetic_ratings(&SyntheticRatings {
            seed: 5,
            ..rcfg.clone()
        })
        .unwrap()
    );
    assert_eq!(r.user_factors.shape(), &[rcfg.num_users, rcfg.rank]);
    assert_eq!(r.item_factors.shape(), &[rcfg.num_items, rcfg.rank]);
    assert_eq!(
        r.clients.num_examples(),
        rcfg.num_users * rcfg.ratings_per_user
    );
    // Ratings are mean + u.v + noise.
    let uf = r.user_factors.as_f32().unwrap();
    let vf = r.item_factors.as_f32().unwrap();
    let (id, ex) = r.clients.iter().nth(3).unwrap();
    let u: usize = id.parse().unwrap();
    let item = ex.x_of(0)[0] as usize;
    let k = rcfg.rank;
    let dot: f32 = (0..k).map(|j| uf[u * k + j] * vf[item * k + j]).sum();
    assert!((ex.y_of(0) - r.mean - dot).abs() < 5.0 * rcfg.noise_std as f32 + 1e-4);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn embedded_femnist_digits_decode() {
    let (train, test) = fedwasm::data::femnist_digits().unwrap();
    assert_eq!(train.num_clients(), 10);
    assert_eq!(train.num_examples(), 766);
    assert_eq!(test.num_examples(), 89);
    assert_eq!(train.element_spec().x_shape, vec![784]);
    assert_eq!(
        train.element_spec().label,
        LabelSpec::Class { num_classes: 10 }
    );
    let ex = train.merged();
    assert!(ex.x().iter().all(|&v| (0.0..=1.0).contains(&v)));
    let ds = train.dataset_for_client("f0424_27").unwrap();
    assert_eq!(ds.batch(20, false).cardinality(), Some(4));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn client_data_helpers() {
    let spec = ElementSpec::new(vec![1], LabelSpec::Class { num_classes: 62 });
    let mut m = BTreeMap::new();
    for (id, ys) in [("c", vec![1.0, 11.0]), ("a", vec![20.0]), ("b", vec![3.0])] {
        let x = vec![0.0; ys.len()];
        m.insert(id.to_string(), Examples::new(spec.clone(), x, ys).unwrap());
    }
    let cd = ClientData::from_clients(spec, m).unwrap();
    assert_eq!(cd.client_ids(), vec!["a", "b", "c"]);
    assert_eq!(cd.take_clients(2).client_ids(), vec!["a", "b"]);
    assert_eq!(cd.merged().y(), &[20.0, 3.0, 1.0, 11.0]);
    let digits = cd.digits_only().unwrap();
    assert_eq!(digits.client_ids(), vec!["b", "c"]);
    assert_eq!(digits.num_examples(), 2);
    let m = cd.dataset_for_client("nope").unwrap_err().to_string();
    assert!(m.contains("nope"), "{m}");
    let other = ElementSpec::new(vec![2], LabelSpec::Real);
    let mut bad = BTreeMap::new();
    bad.insert("x".to_string(), Examples::empty(other).unwrap());
    assert!(ClientData::from_clients(ElementSpec::new(vec![1], LabelSpec::Real), bad).is_err());
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::*;
    use std::path::PathBuf;
    use std::time::Instant;

    use fedwasm::data::{load_leaf_dir, load_movielens};

    fn leaf_dir(split: &str) -> PathBuf {
        common::shared_femnist().join(split)
    }

    const FIRST_TEN: [(&str, usize); 10] = [
        ("f0424_27", 64),
        ("f1255_13", 90),
        ("f1508_14", 8),
        ("f1576_04", 54),
        ("f1621_46", 72),
        ("f1635_40", 109),
        ("f1639_38", 85),
        ("f1650_05", 95),
        ("f1670_20", 107),
        ("f1682_10", 82),
    ];

    #[test]
    fn leaf_first_ten_digit_writers() {
        let opts = LeafOptions {
            digits_only: true,
            max_clients: Some(10),
            ..LeafOptions::default()
        };
        let t = Instant::now();
        let cd = load_leaf_dir(&leaf_dir("train"), &opts).unwrap();
        eprintln!("first 10 digit writers loaded in {:?}", t.elapsed());
        let ids: Vec<(String, usize)> = cd
            .iter()
            .map(|(id, ex)| (id.to_string(), ex.len()))
            .collect();
        let want: Vec<(String, usize)> = FIRST_TEN
            .iter()
            .map(|&(id, n)| (id.to_string(), n))
            .collect();
        assert_eq!(ids, want);
        assert_eq!(cd.num_examples(), 766);
        assert_eq!(
            cd.element_spec().label,
            LabelSpec::Class { num_classes: 10 }
        );
        let ex = cd.examples_for_client("f0424_27").unwrap();
        assert!(ex.x().iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(ex.y().iter().all(|&y| y < 10.0));
    }

    #[test]
    fn leaf_full_train_dir() {
        let t = Instant::now();
        let all = load_leaf_dir(&leaf_dir("train"), &LeafOptions::default()).unwrap();
        eprintln!("all train writers loaded in {:?}", t.elapsed());
        assert_eq!(all.num_clients(), 110);
        assert_eq!(all.num_examples(), 14_697);
        assert_eq!(all.digits_only().unwrap().num_examples(), 10_113);
    }

    #[test]
    fn embedded_equals_shared_leaf() {
        let (train, test) = fedwasm::data::femnist_digits().unwrap();
        let opts = LeafOptions {
            digits_only: true,
            max_clients: Some(10),
            ..LeafOptions::default()
        };
        let leaf_train = load_leaf_dir(&leaf_dir("train"), &opts).unwrap();
        assert_eq!(train, leaf_train);
        let ids = train.client_ids();
        let digits = LeafOptions {
            digits_only: true,
            max_clients: None,
            ..LeafOptions::default()
        };
        let leaf_test = load_leaf_dir(&leaf_dir("test"), &digits)
            .unwrap()
            .retain_clients(|id| ids.iter().any(|i| i == id));
        assert_eq!(test, leaf_test);
    }

    #[test]
    fn load_errors_name_the_path() {
        let dir = std::env::temp_dir().join(format!("fedwasm-data-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ratings.dat");
        std::fs::write(&path, "1::2::3::4\n1::2\n").unwrap();
        let m = load_movielens(&path, &MovieLensOptions::default())
            .unwrap_err()
            .to_string();
        assert_names(&m, &["ratings.dat", "line 2", "field rating"]);
        std::fs::write(dir.join("a.json"), "{\"users\": [").unwrap();
        let m = load_leaf_dir(&dir, &LeafOptions::default())
            .unwrap_err()
            .to_string();
        assert_names(&m, &["a.json", "field users"]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(load_leaf_dir(&dir, &LeafOptions::default()).is_err());
    }
}
