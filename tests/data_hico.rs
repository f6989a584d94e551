//! The HICO-DET training reader against the authors' `HICODetection('train')`
//! (tests/fixtures/gen_hico_train_data_fixtures.py: their dataset class run on a synthetic
//! ten-image set with every edge case of their code — clamped, degenerate and truncated
//! boxes, merged multi-verb pairs, an out-of-range box id, unseen pairs under RF-UC with and
//! without `del_unseen`, an image left without pairs, an image without interactions).
//!
//! Same kept images in the same order, same pairs in the same order, same object labels and
//! HOI classes (training-class indices), boxes within 1e-6 (the reference rounds through the
//! resized image in f32; the reader divides by the original size).

mod common;

use hoiclip::data::{HicoTrainingOptions, HicoTrainingSet, TrainingSet};
use hoiclip::model::ZeroShotType;
use serde_json::Value;

fn dir() -> std::path::PathBuf {
    common::fixture("hico_train_data")
}

fn expected() -> Value {
    common::json_fixture("hico_train_data/expected.json")
}

fn check(setting: &str, options: HicoTrainingOptions) {
    let expected = expected();
    let e = &expected["settings"][setting];
    assert_eq!(e["num_queries"].as_u64(), Some(options.num_queries as u64));
    let set = HicoTrainingSet::open(
        dir().join("trainval_hico_small.json"),
        dir().join("images"),
        options,
    )
    .expect("reader");
    let items = e["items"].as_array().expect("items");
    assert_eq!(set.len(), items.len(), "{setting}: kept images");
    assert_eq!(
        set.summary().training_classes as u64,
        e["text_label_ids_len"].as_u64().expect("count"),
        "{setting}: training classes"
    );
    for (i, item) in items.iter().enumerate() {
        let sample = set.get(i).expect("sample");
        let name = item["file_name"].as_str().expect("name");
        assert_eq!(sample.name, name, "{setting}: sample {i}");
        let t = &sample.target;
        let pairs = item["obj_labels"].as_array().expect("labels").len();
        assert_eq!(t.len(), pairs, "{setting} {name}: pairs");
        for p in 0..pairs {
            assert_eq!(
                t.object_labels[p] as u64,
                item["obj_labels"][p].as_u64().expect("label"),
                "{setting} {name} pair {p}: object"
            );
            let mut classes = t.hoi_labels[p].clone();
            classes.sort_unstable();
            let want = common::json_indices(&item["hoi_labels"][p]);
            assert_eq!(classes, want, "{setting} {name} pair {p}: HOI classes");
            for (ours, key) in [
                (t.human_boxes[p], "sub_boxes"),
                (t.object_boxes[p], "obj_boxes"),
            ] {
                let want = common::json_floats(&item[key][p]);
                let err = common::box_error(ours, &want);
                assert!(
                    err <= 1e-6,
                    "{setting} {name} pair {p} {key}: {ours:?} vs {want:?}"
                );
            }
        }
    }
}

#[test]
fn default_split_matches_the_authors_reader() {
    check(
        "default",
        HicoTrainingOptions {
            num_queries: 5,
            ..HicoTrainingOptions::default()
        },
    );
}

#[test]
fn rare_first_with_del_unseen_matches_the_authors_reader() {
    check(
        "rare_first_del_unseen",
        HicoTrainingOptions {
            num_queries: 5,
            ..HicoTrainingOptions::for_split(ZeroShotType::RareFirst)
        },
    );
}

#[test]
fn rare_first_without_del_unseen_matches_the_authors_reader() {
    check(
        "rare_first_keep_unseen",
        HicoTrainingOptions {
            num_queries: 5,
            zero_shot: ZeroShotType::RareFirst,
            del_unseen: false,
        },
    );
}

#[test]
fn malformed_entries_are_errors_naming_file_image_and_field() {
    let src = std::path::Path::new("bad.json");
    let cases = [
        (
            r#"[{"file_name": "a.jpg", "annotations": [{"bbox": [0, 0, 1], "category_id": 1}], "hoi_annotation": []}]"#,
            "annotations[0].bbox",
        ),
        (
            r#"[{"file_name": "a.jpg", "annotations": [{"bbox": [0, 0, 1, 1], "category_id": 12}], "hoi_annotation": []}]"#,
            "annotations[0].category_id",
        ),
        (
            r#"[{"file_name": "a.jpg", "annotations": [], "hoi_annotation": [{"subject_id": 0, "object_id": 0, "category_id": 200, "hoi_category_id": 1}]}]"#,
            "hoi_annotation[0].category_id",
        ),
        (r#"{"images": []}"#, "JSON array"),
    ];
    for (text, field) in cases {
        let err =
            HicoTrainingSet::from_json_str(text, src, "images", HicoTrainingOptions::default())
                .expect_err(field)
                .to_string();
        assert!(err.contains("bad.json") && err.contains(field), "{err}");
    }
    // A missing image is an error naming the file when the sample is read.
    let ok = r#"[{"file_name": "missing.jpg", "annotations": [{"bbox": [0, 0, 4, 4], "category_id": 1}, {"bbox": [1, 1, 3, 3], "category_id": 2}], "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 76, "hoi_category_id": 19}]}]"#;
    let set =
        HicoTrainingSet::from_json_str(ok, src, "no-such-dir", HicoTrainingOptions::default())
            .expect("reader");
    assert_eq!(set.len(), 1);
    let err = set.get(0).expect_err("no image").to_string();
    assert!(err.contains("missing.jpg"), "{err}");
}
