//! HICO-DET file formats: the annotation reader (COCO ids, verb ids, the 600 HOI ids,
//! typed errors naming the image and field), the rare split counted from a training file,
//! the predictions format and `corre_hico.npy`.

use std::path::Path;

use hoiclip::eval::ids::{HICO_COCO_CATEGORY_IDS, object_index_of_coco_id};
use hoiclip::eval::{
    CategoryMeaning, CorrectMat, HicoAnnotations, ImagePredictions, Predictions, RareSplit,
};
use hoiclip::labels::hico::{HICO_HOIS, HICO_OBJECTS, HICO_RARE_HOIS, HICO_VERBS};
use hoiclip::{HoiDetection, HoiclipError};
use serde_json::json;

/// The training image shown in the PPDM annotation README: a person (COCO 1) and a
/// motorcycle (COCO 4) with verbs 73, 77, 88, 99 and HOI ids 153..=156.
fn ppdm_train_image() -> serde_json::Value {
    json!({
        "file_name": "HICO_train2015_00000001.jpg",
        "img_id": 1,
        "annotations": [
            {"bbox": [207, 32, 426, 299], "category_id": 1},
            {"bbox": [58, 97, 571, 404], "category_id": 4}
        ],
        "hoi_annotation": [
            {"subject_id": 0, "object_id": 1, "category_id": 73, "hoi_category_id": 153},
            {"subject_id": 0, "object_id": 1, "category_id": 77, "hoi_category_id": 154},
            {"subject_id": 0, "object_id": 1, "category_id": 88, "hoi_category_id": 155},
            {"subject_id": 0, "object_id": 1, "category_id": 99, "hoi_category_id": 156}
        ]
    })
}

/// A change to one image's JSON, and the field the error must name.
type Mutation = fn(&mut serde_json::Value);

fn parse(v: serde_json::Value) -> hoiclip::Result<HicoAnnotations> {
    HicoAnnotations::from_json_str(&v.to_string(), "test_hico.json")
}

fn config_message(r: hoiclip::Result<HicoAnnotations>) -> String {
    match r {
        Err(HoiclipError::Config(m)) => m,
        other => panic!("expected a Config error, got {other:?}"),
    }
}

#[test]
fn reads_the_reference_json_and_maps_ids_like_the_reference() {
    let a = parse(json!([ppdm_train_image()])).unwrap();
    let img = &a.images()[0];
    assert_eq!(img.file_name, "HICO_train2015_00000001.jpg");
    assert_eq!(img.boxes[0].bbox, [207.0, 32.0, 426.0, 299.0]);
    assert_eq!(HICO_OBJECTS[img.boxes[0].object], "person");
    assert_eq!(HICO_OBJECTS[img.boxes[1].object], "motorcycle");
    let hois: Vec<usize> = img.hois.iter().map(|h| h.hoi).collect();
    assert_eq!(hois, vec![152, 153, 154, 155]);
    assert_eq!(HICO_VERBS[img.hois[0].verb], "race");
    assert_eq!(a.image_index("HICO_train2015_00000001.jpg"), Some(0));
    assert_eq!(a.num_hois(), 4);
    // hoi_category_id is optional (the test file omits it).
    let mut no_ids = ppdm_train_image();
    for h in no_ids["hoi_annotation"].as_array_mut().unwrap() {
        h.as_object_mut().unwrap().remove("hoi_category_id");
    }
    assert_eq!(parse(json!([no_ids])).unwrap().images()[0].hois, img.hois);
}

#[test]
fn coco_ids_map_to_the_80_objects() {
    assert_eq!(object_index_of_coco_id(1), Some(0));
    assert_eq!(object_index_of_coco_id(90), Some(79));
    assert_eq!(HICO_OBJECTS[79], "toothbrush");
    for missing in [0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91] {
        assert_eq!(object_index_of_coco_id(missing), None, "COCO id {missing}");
    }
    assert_eq!(HICO_COCO_CATEGORY_IDS.len(), 80);
}

#[test]
fn annotations_round_trip_through_the_writer() {
    let a = parse(json!([ppdm_train_image()])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trainval_hico.json");
    a.write(&path).unwrap();
    let b = HicoAnnotations::from_file(&path).unwrap();
    assert_eq!(a.images(), b.images());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written[0]["annotations"][1]["category_id"], 4);
    assert_eq!(written[0]["hoi_annotation"][0]["category_id"], 73);
    assert_eq!(written[0]["hoi_annotation"][0]["hoi_category_id"], 153);
}

#[test]
fn malformed_annotations_name_the_image_and_field() {
    let cases: Vec<(Mutation, &str)> = vec![
        (
            |v| v["annotations"][1]["category_id"] = json!(12),
            "annotations[1].category_id",
        ),
        (
            |v| {
                v["annotations"][0].as_object_mut().unwrap().remove("bbox");
            },
            "annotations[0].bbox",
        ),
        (
            |v| v["annotations"][0]["bbox"] = json!([1, 2, 3]),
            "annotations[0].bbox",
        ),
        (
            |v| v["annotations"][0]["bbox"][2] = json!("x"),
            "annotations[0].bbox[2]",
        ),
        (
            |v| v["hoi_annotation"][2]["object_id"] = json!(5),
            "hoi_annotation[2].object_id",
        ),
        (
            |v| v["hoi_annotation"][0]["subject_id"] = json!(-1),
            "hoi_annotation[0].subject_id",
        ),
        (
            |v| v["hoi_annotation"][1]["category_id"] = json!(118),
            "hoi_annotation[1].category_id",
        ),
        (
            |v| v["hoi_annotation"][1]["category_id"] = json!(0),
            "hoi_annotation[1].category_id",
        ),
        // ride (verb 87 -> id 88) exists for motorcycle; "board" (id 5) does not.
        (
            |v| v["hoi_annotation"][3]["category_id"] = json!(5),
            "hoi_annotation[3].category_id",
        ),
        (
            |v| v["hoi_annotation"][3]["hoi_category_id"] = json!(1),
            "hoi_annotation[3].hoi_category_id",
        ),
        (|v| v["hoi_annotation"] = json!({}), "hoi_annotation"),
    ];
    for (mutate, field) in cases {
        let mut img = ppdm_train_image();
        mutate(&mut img);
        let msg = config_message(parse(json!([{"file_name": "HICO_test2015_00000009.jpg",
            "annotations": [], "hoi_annotation": []}, img])));
        assert!(msg.contains("test_hico.json"), "{msg}");
        assert!(
            msg.contains("image 1 (HICO_train2015_00000001.jpg)"),
            "{msg}"
        );
        assert!(msg.contains(&format!("`{field}`")), "field {field}: {msg}");
    }
    let msg = config_message(parse(json!([{"annotations": [], "hoi_annotation": []}])));
    assert!(
        msg.contains("image 0") && msg.contains("`file_name`"),
        "{msg}"
    );
    let msg = config_message(parse(json!({"file_name": "x"})));
    assert!(msg.contains("array"), "{msg}");
    let msg = config_message(HicoAnnotations::from_json_str("[{", "t.json"));
    assert!(msg.contains("not valid JSON"), "{msg}");
    let dup = json!([ppdm_train_image(), ppdm_train_image()]);
    let msg = config_message(parse(dup));
    assert!(msg.contains("repeats image 0"), "{msg}");
    match HicoAnnotations::from_file("/nonexistent/test_hico.json") {
        Err(HoiclipError::Io { path, .. }) => assert!(path.ends_with("test_hico.json")),
        other => panic!("{other:?}"),
    }
}

/// A training file where class `h` has `counts[h]` instances (one image per class).
fn training_file(counts: &[usize]) -> HicoAnnotations {
    let images: Vec<serde_json::Value> = counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(h, &n)| {
            let c = HICO_HOIS[h];
            let hois: Vec<_> = (0..n)
                .map(|_| {
                    json!({"subject_id": 0, "object_id": 1,
                           "category_id": c.verb + 1, "hoi_category_id": h + 1})
                })
                .collect();
            json!({
                "file_name": format!("HICO_train2015_{h:08}.jpg"),
                "annotations": [
                    {"bbox": [0, 0, 10, 10], "category_id": 1},
                    {"bbox": [5, 5, 20, 20], "category_id": HICO_COCO_CATEGORY_IDS[c.object as usize]}
                ],
                "hoi_annotation": hois
            })
        })
        .collect();
    HicoAnnotations::from_json_str(
        &serde_json::Value::Array(images).to_string(),
        "trainval_hico.json",
    )
    .unwrap()
}

#[test]
fn rare_split_is_counted_from_training_and_checked_against_the_known_one() {
    // Rare classes get 1..=9 instances, the others 10 or more: the known 138.
    let mut counts = vec![10usize; 600];
    for (k, &h) in HICO_RARE_HOIS.iter().enumerate() {
        counts[h as usize] = 1 + k % 9;
    }
    let split = RareSplit::from_training(&training_file(&counts));
    assert_eq!(split.num_rare(), 138);
    assert!(split.check_known().is_ok());
    assert!(split.differences_from_known().is_empty());
    assert_eq!(split.training_count(HICO_RARE_HOIS[0] as usize), Some(1));

    // A class at 9 instances is rare, at 10 it is not: one disagreement each way.
    let nonrare = (0..600)
        .find(|h| !HICO_RARE_HOIS.contains(&(*h as u16)))
        .unwrap();
    let rare = HICO_RARE_HOIS[5] as usize;
    counts[nonrare] = 9;
    counts[rare] = 10;
    let split = RareSplit::from_counts(counts);
    assert_eq!(split.differences_from_known(), {
        let mut d = vec![nonrare, rare];
        d.sort();
        d
    });
    match split.check_known() {
        Err(HoiclipError::Config(m)) => {
            assert!(m.contains("2 classes differ"), "{m}");
            assert!(
                m.contains(&format!("{nonrare} (9 training instances)")),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(RareSplit::known().num_rare(), 138);
}

fn detection(pair: usize, hoi: usize, score: f32) -> HoiDetection {
    let c = HICO_HOIS[hoi];
    HoiDetection {
        subject_box: [pair as f32, 0.0, 10.0 + pair as f32, 10.0],
        object_box: Some([5.0, 5.0, 30.0, 30.5]),
        object_id: c.object as usize,
        object_name: HICO_OBJECTS[c.object as usize].into(),
        verb_id: c.verb as usize,
        verb_name: HICO_VERBS[c.verb as usize].into(),
        hoi_id: hoi,
        hoi_prompt: c.prompt.into(),
        score,
        pair,
    }
}

#[test]
fn predictions_from_detections_use_the_reference_layout() {
    let dets = [
        detection(7, 152, 1.5),
        detection(3, 0, 1.2),
        detection(7, 153, 0.9),
    ];
    let p = ImagePredictions::from_detections("HICO_test2015_00000001.jpg", &dets);
    // Two distinct pairs (7, 3): subjects at 0, 1, objects at 2, 3.
    assert_eq!(p.predictions.len(), 4);
    let ids: Vec<(usize, usize, usize)> = p
        .hoi_prediction
        .iter()
        .map(|h| (h.subject_id, h.object_id, h.category_id))
        .collect();
    assert_eq!(ids, vec![(0, 2, 152), (1, 3, 0), (0, 2, 153)]);
    assert_eq!(p.predictions[0].bbox, dets[0].subject_box);
    assert_eq!(
        p.predictions[2].bbox,
        dets[0].object_box.expect("object box")
    );
    assert_eq!(p.predictions[0].category_id, Some(0));
    assert_eq!(
        p.predictions[3].category_id,
        Some(HICO_HOIS[0].object as i64)
    );
    assert_eq!(p.hoi_prediction[0].score, 1.5);
    let v = p.to_json_value();
    assert_eq!(v["filename"], "HICO_test2015_00000001.jpg");
    assert_eq!(v["hoi_prediction"][1]["category_id"], 0);
}

#[test]
fn predictions_round_trip_json_jsonl_and_preds_object() {
    let images = vec![
        ImagePredictions::from_detections(
            "a.jpg",
            &[detection(0, 10, 0.1), detection(1, 20, 1.0 / 3.0)],
        ),
        ImagePredictions::from_detections("b.jpg", &[]),
    ];
    let preds = Predictions::from_images(images.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("preds.json");
    let jsonl_path = dir.path().join("preds.jsonl");
    preds.write_json(&json_path).unwrap();
    preds.write_jsonl(&jsonl_path).unwrap();
    for path in [&json_path, &jsonl_path] {
        let back = Predictions::from_file(path).unwrap();
        assert_eq!(back.images(), &images[..], "{}", path.display());
    }
    // {"preds": [...]} as the reference's dictionary holds them.
    let wrapped = dir.path().join("wrapped.json");
    let list: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    std::fs::write(&wrapped, json!({"preds": list, "gts": []}).to_string()).unwrap();
    assert_eq!(
        Predictions::from_file(&wrapped).unwrap().images(),
        &images[..]
    );
    assert!(
        Predictions::from_file(&wrapped)
            .unwrap()
            .get("a.jpg")
            .is_some()
    );
    // The reference's raw dump is a JSON string of a Python repr: a clear error.
    let raw = dir.path().join("raw.json");
    std::fs::write(&raw, "\"{'preds': []}\"").unwrap();
    match Predictions::from_file(&raw) {
        Err(HoiclipError::Config(m)) => assert!(m.contains("Python repr"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn verb_category_ids_combine_with_the_object_box() {
    // GEN-VLKT style: category_id is the verb, the object box carries the object index.
    let race = HICO_HOIS[152];
    let text = json!([{
        "filename": "a.jpg",
        "predictions": [
            {"bbox": [0, 0, 10, 10], "category_id": 0},
            {"bbox": [5, 5, 20, 20], "category_id": race.object}
        ],
        "hoi_prediction": [
            {"subject_id": 0, "object_id": 1, "category_id": race.verb, "score": 0.5},
            {"subject_id": 0, "object_id": 1, "category_id": 4, "score": 0.4}
        ]
    }])
    .to_string();
    let p = Predictions::from_str_with(&text, Path::new("p.json"), CategoryMeaning::Verb).unwrap();
    assert_eq!(p.images()[0].hoi_prediction.len(), 1);
    assert_eq!(p.images()[0].hoi_prediction[0].category_id, 152);
    assert_eq!(
        p.dropped_invalid(),
        1,
        "board motorcycle is not a HICO class"
    );
}

#[test]
fn malformed_predictions_name_the_image_and_field() {
    let base = json!({
        "filename": "a.jpg",
        "predictions": [{"bbox": [0, 0, 10, 10]}, {"bbox": [5, 5, 20, 20]}],
        "hoi_prediction": [{"subject_id": 0, "object_id": 1, "category_id": 3, "score": 0.5}]
    });
    let cases: Vec<(Mutation, &str)> = vec![
        (
            |v| v["hoi_prediction"][0]["object_id"] = json!(2),
            "hoi_prediction[0].object_id",
        ),
        (
            |v| v["hoi_prediction"][0]["category_id"] = json!(600),
            "hoi_prediction[0].category_id",
        ),
        (
            |v| v["hoi_prediction"][0]["score"] = json!("high"),
            "hoi_prediction[0].score",
        ),
        (
            |v| v["predictions"][1]["bbox"] = json!(null),
            "predictions[1].bbox",
        ),
        (
            |v| {
                v.as_object_mut().unwrap().remove("hoi_prediction");
            },
            "hoi_prediction",
        ),
    ];
    for (mutate, field) in cases {
        let mut v = base.clone();
        mutate(&mut v);
        let text = json!([v]).to_string();
        match Predictions::from_str_with(&text, Path::new("preds.json"), CategoryMeaning::Hoi) {
            Err(HoiclipError::Config(m)) => {
                assert!(
                    m.contains("preds.json") && m.contains("image 0 (a.jpg)"),
                    "{m}"
                );
                assert!(m.contains(&format!("`{field}`")), "{field}: {m}");
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    let twice = json!([base, base]).to_string();
    assert!(matches!(
        Predictions::from_str_with(&twice, Path::new("p.json"), CategoryMeaning::Hoi),
        Err(HoiclipError::Config(m)) if m.contains("repeats")
    ));
    // JSON lines: the bad line is named.
    let lines = format!("{}\n{{oops\n", base);
    match Predictions::from_str_with(&lines, Path::new("p.jsonl"), CategoryMeaning::Hoi) {
        Err(HoiclipError::Config(m)) => assert!(m.contains("line 2"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// A version-1 `.npy` file of `[117, 80]` values.
fn npy_bytes(descr: &str, values: &[f64]) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (117, 80), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in values {
        match descr {
            "<f8" => out.extend_from_slice(&v.to_le_bytes()),
            "|b1" => out.push(u8::from(v != 0.0)),
            _ => unreachable!(),
        }
    }
    out
}

#[test]
fn correct_mat_npy_matches_the_600_classes() {
    let mut values = vec![0.0; 117 * 80];
    for h in &HICO_HOIS {
        values[h.verb as usize * 80 + h.object as usize] = 1.0;
    }
    let dir = tempfile::tempdir().unwrap();
    for descr in ["<f8", "|b1"] {
        let path = dir.path().join("corre_hico.npy");
        std::fs::write(&path, npy_bytes(descr, &values)).unwrap();
        let m = CorrectMat::from_npy(&path).unwrap();
        assert_eq!(m.num_valid(), 600, "{descr}");
        assert!(m.check_against_hois().is_ok());
        assert_eq!(m, CorrectMat::from_hois());
        assert!(m.is_valid(HICO_HOIS[0].verb as usize, HICO_HOIS[0].object as usize));
    }
    values[0] = 1.0 - values[0];
    let path = dir.path().join("bad.npy");
    std::fs::write(&path, npy_bytes("<f8", &values)).unwrap();
    assert!(
        CorrectMat::from_npy(&path)
            .unwrap()
            .check_against_hois()
            .is_err()
    );
    std::fs::write(&path, b"not numpy").unwrap();
    assert!(matches!(
        CorrectMat::from_npy(&path),
        Err(HoiclipError::Config(_))
    ));
    let mut short = npy_bytes("<f8", &values);
    short.truncate(short.len() - 8);
    std::fs::write(&path, short).unwrap();
    assert!(
        matches!(CorrectMat::from_npy(&path), Err(HoiclipError::Config(m)) if m.contains("bytes"))
    );
}
