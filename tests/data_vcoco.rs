//! The V-COCO training reader against the authors' `VCOCO('train')`
//! (tests/fixtures/gen_vcoco_train_data_fixtures.py: their dataset class run on a synthetic
//! nine-image set with every edge case of their code — clamped, degenerate and truncated
//! boxes, person-only pairs (`object_id` -1) merged per subject, merged multi-verb pairs,
//! out-of-range and negative box ids, `(verb, object)` pairs that are no class, an image
//! without interactions, an image whose boxes all fall outside it).
//!
//! Same images in the same order, same pairs in the same order, same object labels (80 for
//! person only) and HOI classes (indices into the 263 V-COCO classes), the verbs of each
//! pair, boxes within 1e-6 (the reference rounds through the resized image in f32; the reader
//! divides by the original size), all-zero object boxes exactly.

mod common;

use hoiclip::data::TrainingSet;
use hoiclip::data::vcoco::{VcocoTrainingOptions, VcocoTrainingSet};
use hoiclip::labels::vcoco::VCOCO_HOIS;
use serde_json::Value;

fn dir() -> std::path::PathBuf {
    common::fixture("vcoco_train_data")
}

fn expected() -> Value {
    common::json_fixture("vcoco_train_data/expected.json")
}

fn fixture_set() -> VcocoTrainingSet {
    VcocoTrainingSet::open(
        dir().join("trainval_vcoco_small.json"),
        dir().join("images"),
        VcocoTrainingOptions { num_queries: 5 },
    )
    .expect("reader")
}

#[test]
fn matches_the_authors_reader() {
    let expected = expected();
    assert_eq!(expected["num_queries"].as_u64(), Some(5));
    assert_eq!(expected["text_label_ids_len"].as_u64(), Some(263));
    let set = fixture_set();
    let items = expected["items"].as_array().expect("items");
    assert_eq!(set.len(), items.len(), "every image is a sample");
    let mut person_only = 0;
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["index"].as_u64(), Some(i as u64));
        let sample = set.get(i).expect("sample");
        let name = item["file_name"].as_str().expect("name");
        assert_eq!(sample.name, name, "sample {i}");
        let orig = common::json_indices(&item["orig_size"]);
        assert_eq!(
            [
                sample.image.height() as usize,
                sample.image.width() as usize
            ],
            [orig[0], orig[1]],
            "{name}: orig_size"
        );
        let t = &sample.target;
        let pairs = item["obj_labels"].as_array().expect("labels").len();
        assert_eq!(t.len(), pairs, "{name}: pairs");
        for p in 0..pairs {
            let object = item["obj_labels"][p].as_u64().expect("label") as usize;
            assert_eq!(t.object_labels[p], object, "{name} pair {p}: object");
            let mut classes = t.hoi_labels[p].clone();
            classes.sort_unstable();
            assert_eq!(
                classes,
                common::json_indices(&item["hoi_labels"][p]),
                "{name} pair {p}: HOI classes"
            );
            let mut verbs: Vec<usize> = classes
                .iter()
                .map(|&c| usize::from(VCOCO_HOIS[c].verb))
                .collect();
            verbs.sort_unstable();
            assert_eq!(
                verbs,
                common::json_indices(&item["verb_labels"][p]),
                "{name} pair {p}: verbs"
            );
            for (ours, key) in [
                (t.human_boxes[p], "sub_boxes"),
                (t.object_boxes[p], "obj_boxes"),
            ] {
                let want = common::json_floats(&item[key][p]);
                let err = common::box_error(ours, &want);
                assert!(err <= 1e-6, "{name} pair {p} {key}: {ours:?} vs {want:?}");
            }
            if object == 80 {
                person_only += 1;
                assert_eq!(
                    t.object_boxes[p], [0.0; 4],
                    "{name} pair {p}: no object box"
                );
                assert!(!t.has_object_box(p));
            }
            t.validate(name, VCOCO_HOIS.len(), 82)
                .expect("valid target");
        }
    }
    assert_eq!(person_only, 6, "person-only pairs in the fixture");
}

#[test]
fn summary_counts_what_is_always_skipped() {
    let s = fixture_set().summary().clone();
    assert_eq!(s.images, 9);
    assert_eq!(s.images_without_interactions, 1);
    // bad_ids: object 3 of 3 boxes, object -2, subject -1, subject 7.
    assert_eq!(s.interactions_with_missing_boxes, 4);
    // not_a_class: (stand, cup), (ride, cup), (drink, person).
    assert_eq!(s.interactions_not_a_class, 3);
    assert_eq!(s.person_only_interactions, 11);
}

#[test]
fn num_queries_truncates_before_the_empty_box_filter() {
    let set = fixture_set();
    let i = (0..set.len())
        .find(|&i| set.file_name(i) == Some("vcoco_small_02_truncate.png"))
        .expect("truncate image");
    // With 64 queries box 5 (motorcycle) survives and its pair appears.
    let all = VcocoTrainingSet::open(
        dir().join("trainval_vcoco_small.json"),
        dir().join("images"),
        VcocoTrainingOptions::default(),
    )
    .expect("reader");
    let short = set.target(i, 64, 48).expect("target");
    let long = all.target(i, 64, 48).expect("target");
    assert_eq!(short.len(), 3);
    assert_eq!(
        long.len(),
        5,
        "motorcycle pair and subject 6's person-only pair"
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
            r#"[{"file_name": "a.jpg", "annotations": [], "hoi_annotation": [{"subject_id": 0, "object_id": -1, "category_id": 29}]}]"#,
            "hoi_annotation[0].category_id",
        ),
        (
            r#"[{"file_name": "a.jpg", "annotations": [], "hoi_annotation": [{"subject_id": 0, "category_id": 1}]}]"#,
            "hoi_annotation[0].object_id",
        ),
        (
            r#"[{"file_name": "a.jpg", "annotations": [], "hoi_annotation": [{"subject_id": "0", "object_id": -1, "category_id": 1}]}]"#,
            "hoi_annotation[0].subject_id",
        ),
        (
            r#"[{"annotations": [], "hoi_annotation": []}]"#,
            "file_name",
        ),
        (r#"{"images": []}"#, "JSON array"),
        ("[{", "not valid JSON"),
    ];
    for (text, field) in cases {
        let err =
            VcocoTrainingSet::from_json_str(text, src, "images", VcocoTrainingOptions::default())
                .expect_err(field)
                .to_string();
        assert!(err.contains("bad.json") && err.contains(field), "{err}");
    }
    // The image is named in entry errors.
    let err =
        VcocoTrainingSet::from_json_str(cases[1].0, src, "images", VcocoTrainingOptions::default())
            .expect_err("bad category")
            .to_string();
    assert!(err.contains("a.jpg"), "{err}");
}

#[test]
fn person_only_pairs_and_images_without_boxes() {
    let src = std::path::Path::new("ok.json");
    // Verb 1 = stand, 23 = smile (both object-less classes); verb 0 with object -1 = hold.
    let text = r#"[
        {"file_name": "missing.jpg", "annotations": [{"bbox": [0, 0, 4, 4], "category_id": 1}],
         "hoi_annotation": [{"subject_id": 0, "object_id": -1, "category_id": 1},
                            {"subject_id": 0, "object_id": -1, "category_id": 23},
                            {"subject_id": 0, "object_id": -1, "category_id": 1}]},
        {"file_name": "no_boxes.jpg", "annotations": [], "hoi_annotation": []}
    ]"#;
    let set =
        VcocoTrainingSet::from_json_str(text, src, "no-such-dir", VcocoTrainingOptions::default())
            .expect("reader");
    assert_eq!(set.len(), 2);
    let t = set.target(0, 8, 8).expect("target");
    assert_eq!(t.len(), 1, "one merged person-only pair");
    assert_eq!(t.object_labels, vec![80]);
    assert_eq!(t.object_boxes, vec![[0.0; 4]]);
    assert_eq!(t.human_boxes, vec![[0.25, 0.25, 0.5, 0.5]]);
    let stand = VCOCO_HOIS
        .iter()
        .position(|h| h.verb == 1 && h.object == 80)
        .expect("stand");
    let smile = VCOCO_HOIS
        .iter()
        .position(|h| h.verb == 23 && h.object == 80)
        .expect("smile");
    assert_eq!(t.hoi_labels, vec![vec![stand, smile]]);
    // The reference raises IndexError on an image without boxes; here: zero pairs.
    assert!(set.target(1, 8, 8).expect("target").is_empty());
    assert!(set.target(2, 8, 8).is_err(), "index out of range");
    // A missing image is an error naming the file when the sample is read.
    let err = set.get(0).expect_err("no image").to_string();
    assert!(err.contains("missing.jpg"), "{err}");
}
