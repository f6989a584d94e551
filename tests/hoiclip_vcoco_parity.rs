//! V-COCO model parity with the authors' code (tests/fixtures/gen_hoiclip_vcoco_fixtures.py):
//! a small HOICLIP built with `--dataset_file vcoco` (263 HOI classes, 29 verbs, 82
//! object-classifier columns with "person only" at 80 and "nothing" at 81, the authors'
//! `verb2hoi_proj`, verb weight 0.1 from train_vcoco.sh) saved in the released checkpoint
//! layout; raw outputs of a padded batch of two images, and the (pair, verb) lists of the
//! authors' own `VCOCOEvaluator` (per-verb max, `correct_mat` with the ones column, top 100,
//! no NMS), with and without the training-free enhancement.
//!
//! Tolerances: raw outputs as the HICO-DET whole-model test (1e-4 CPU, 5e-4 wgpu); kept
//! (pair, verb) cells: the same cells, scores within that tolerance, cells of score exactly
//! 0 (masked) in the reference's order.

mod common;

use burn::tensor::{Device, Tensor};
use common::{Fixture, assert_close, backends, fixture, tolerance, values};
use hoiclip::eval::vcoco::pairs::VcocoPairRecord;
use hoiclip::model::{
    Checkpoint, HoiDataset, HoiclipConfig, HoiclipInput, HoiclipModel, ResizeConfig,
};
use hoiclip::postprocess::VerbObjectMask;
use hoiclip::weights::ArgValue;
use hoiclip::{DetectOptions, Enhancement, HoiDetection, HoiDetector, Hoiclip};
use image::DynamicImage;

const RESIZE: ResizeConfig = ResizeConfig {
    shorter: 48,
    max_size: Some(80),
};

fn checkpoint() -> Checkpoint {
    Checkpoint::open(&fixture("hoiclip_vcoco_small.pth")).expect("fixture opens")
}

fn config(checkpoint: &Checkpoint) -> HoiclipConfig {
    let mut clip = common::hoiclip_small_clip_config();
    clip.text.width = 8;
    HoiclipConfig::from_weights_with_clip(&checkpoint.weights, checkpoint.args.as_ref(), Some(clip))
        .expect("configuration of the V-COCO fixture")
}

fn model(device: &Device) -> HoiclipModel {
    common::hoiclip_vcoco_small_model(device)
}

fn image(io: &Fixture, key: &str) -> DynamicImage {
    common::fixture_rgb_image(io, key)
}

fn detector(device: &Device) -> Hoiclip {
    Hoiclip::new(model(device), device).with_options(DetectOptions {
        resize: RESIZE,
        ..DetectOptions::default()
    })
}

#[test]
fn a_vcoco_checkpoint_configures_as_the_authors_model() {
    let checkpoint = checkpoint();
    let args = checkpoint.args.as_ref().expect("args");
    assert_eq!(
        args.get("dataset_file"),
        Some(&ArgValue::Str("vcoco".into()))
    );
    assert_eq!(args.get("num_obj_classes"), Some(&ArgValue::Int(81)));
    let config = config(&checkpoint);
    assert_eq!(config.dataset, HoiDataset::Vcoco);
    assert_eq!(config.heads.hoi_classes, 263);
    assert_eq!(config.heads.verbs, 29);
    assert_eq!(config.heads.object_classes, 82);
    assert_eq!(config.heads.eval_hoi_classes, None);
    assert_eq!(config.verb_weight, 0.1);
    assert!(!config.uses_eval_heads());
}

#[test]
fn vcoco_raw_outputs_match_the_authors_model() {
    let io = Fixture::open("hoiclip_vcoco_small_io.safetensors");
    let images = [image(&io, "image_0"), image(&io, "image_1")];
    for (backend, device) in backends() {
        let tol = tolerance(backend);
        let model = model(&device);
        // The authors' verb -> HOI map, loaded as stored (columns are object indices).
        assert_eq!(
            values(model.heads.verb2hoi.val()),
            io.f32("verb2hoi_proj"),
            "verb2hoi_proj"
        );
        assert_close(
            &format!("{backend} hoi_text_embeddings"),
            model.hoi_text_embeddings.val(),
            &io.f32("hoi_text_embeddings"),
            tol,
        );
        let input = HoiclipInput::from_images(&[&images[0], &images[1]], 32, RESIZE, &device)
            .expect("preprocess");
        let err = common::max_abs_diff(&values(input.batch.images.clone()), &io.f32("detr_images"));
        assert!(err <= 1e-6, "detr images differ by {err}");
        let out = model.forward(&input).expect("forward");
        let check = |name: &str, t: Tensor<3>| {
            assert_close(
                &format!("{backend} {name}"),
                t,
                &io.f32(&format!("batch_{name}")),
                tol,
            )
        };
        check("pred_hoi_logits", out.hoi_logits);
        check("pred_obj_logits", out.object_logits);
        check("pred_sub_boxes", out.human_boxes);
        check("pred_obj_boxes", out.object_boxes);
        assert_close(
            &format!("{backend} clip_logits"),
            out.clip_hoi_scores,
            &io.f32("batch_clip_logits"),
            tol,
        );
    }
}

/// The reference's kept cells of image `i`: (pair, verb, score).
fn expected_cells(io: &Fixture, variant: &str, i: usize) -> Vec<(usize, usize, f64)> {
    let key = |k: &str| format!("batch_{variant}_{i}_{k}");
    let subjects = io.i64(&key("subject_id"));
    let verbs = io.i64(&key("verb"));
    let scores = io.f64(&key("score"));
    (0..subjects.len())
        .map(|n| (subjects[n] as usize, verbs[n] as usize, scores[n]))
        .collect()
}

fn fixture_mask(io: &Fixture) -> VerbObjectMask {
    let values = io.f64("correct_mat");
    VerbObjectMask::from_correct_mat(&values, 29, 80).expect("correct_mat [29, 80]")
}

/// The same kept cells: the nonzero ones as a set (scores within `tol`, near-ties may
/// swap), the zero ones in the reference's order; boxes and labels as the reference's.
fn assert_same_cells(
    what: &str,
    actual: &[HoiDetection],
    io: &Fixture,
    variant: &str,
    i: usize,
    tol: f32,
) {
    let expected = expected_cells(io, variant, i);
    assert_eq!(actual.len(), expected.len(), "{what}: kept count");
    let nonzero = expected.iter().filter(|c| c.2 != 0.0).count();
    let mut used = vec![false; nonzero];
    for d in &actual[..nonzero] {
        let hit = expected[..nonzero].iter().enumerate().position(|(k, c)| {
            !used[k] && c.0 == d.pair && c.1 == d.verb_id && (c.2 as f32 - d.score).abs() <= tol
        });
        match hit {
            Some(k) => used[k] = true,
            None => panic!(
                "{what}: detection pair {} verb {} score {} not in the reference",
                d.pair, d.verb_id, d.score
            ),
        }
    }
    for (d, c) in actual[nonzero..].iter().zip(&expected[nonzero..]) {
        assert_eq!(
            (d.pair, d.verb_id, d.score),
            (c.0, c.1, 0.0),
            "{what}: masked cells' order"
        );
    }
    let boxes = io.f32(&format!("batch_{i}_boxes"));
    let labels = io.i64(&format!("batch_{i}_labels"));
    let q = labels.len() / 2;
    let at = |k: usize| {
        [
            boxes[4 * k],
            boxes[4 * k + 1],
            boxes[4 * k + 2],
            boxes[4 * k + 3],
        ]
    };
    let close = |a: [f32; 4], b: [f32; 4]| a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-2);
    for d in actual {
        assert!(
            close(d.subject_box, at(d.pair)),
            "{what}: subject box of pair {}",
            d.pair
        );
        let label = labels[q + d.pair] as usize;
        assert_eq!(
            d.object_id, label,
            "{what}: object label of pair {}",
            d.pair
        );
        match d.object_box {
            Some(b) => assert!(
                label != 80 && close(b, at(q + d.pair)),
                "{what}: object box"
            ),
            None => assert_eq!(
                label, 80,
                "{what}: only person-only pairs lack an object box"
            ),
        }
        let class = &hoiclip::labels::vcoco::VCOCO_HOIS[d.hoi_id];
        assert_eq!(
            usize::from(class.verb),
            d.verb_id,
            "{what}: best class has the verb"
        );
        assert_eq!(d.hoi_prompt, class.prompt);
    }
}

#[test]
fn vcoco_detections_match_the_authors_evaluator() {
    let io = Fixture::open("hoiclip_vcoco_small_io.safetensors");
    let images = vec![image(&io, "image_0"), image(&io, "image_1")];
    for (backend, device) in backends() {
        let tol = tolerance(backend);
        let mut detector = detector(&device);
        // The mask the vocabulary implies equals the fixture's table-derived correct_mat.
        assert_eq!(detector.verb_object_mask(), fixture_mask(&io));
        for use_fixture_mask in [false, true] {
            detector.set_verb_object_mask(use_fixture_mask.then(|| fixture_mask(&io)));
            for (variant, enhancement) in
                [("plain", Enhancement::Off), ("enh", Enhancement::TopK(10))]
            {
                detector.options_mut().enhancement = enhancement;
                let batch = detector.detect_batch(&images).expect("detect_batch");
                for (i, found) in batch.iter().enumerate() {
                    let what =
                        format!("{backend} image {i} {variant} fixture-mask {use_fixture_mask}");
                    assert_same_cells(&what, found, &io, variant, i, tol);
                }
            }
        }
        // Object-less detections exist and name the object `none`.
        let found = detector.detect_batch(&images).expect("detect_batch");
        let objectless: Vec<&HoiDetection> = found
            .iter()
            .flatten()
            .filter(|d| d.object_box.is_none())
            .collect();
        assert!(!objectless.is_empty(), "the fixture has person-only pairs");
        assert!(objectless.iter().all(|d| d.object_name == "none"));
    }
}

/// The evaluation path: per-pair records of every cell, then the authors' selection with the
/// dataset's mask, give the same lists as the detector and the reference.
#[test]
fn vcoco_pair_records_give_the_authors_lists() {
    let io = Fixture::open("hoiclip_vcoco_small_io.safetensors");
    let images = vec![image(&io, "image_0"), image(&io, "image_1")];
    let (backend, device) = backends().remove(0);
    let tol = tolerance(backend);
    let mut detector = detector(&device);
    VcocoPairRecord::configure_detector(&mut detector);
    for (variant, enhancement) in [("plain", Enhancement::Off), ("enh", Enhancement::TopK(10))] {
        detector.options_mut().enhancement = enhancement;
        let batch = detector.detect_batch(&images).expect("detect_batch");
        for (i, cells) in batch.iter().enumerate() {
            assert_eq!(cells.len(), 5 * 29, "every cell");
            let record = VcocoPairRecord::from_all_cells("x.jpg", cells).expect("record");
            let preds = record
                .to_proxy_predictions(&fixture_mask(&io), 100)
                .expect("proxy predictions");
            let expected = expected_cells(&io, variant, i);
            assert_eq!(preds.hoi_prediction.len(), expected.len());
            let nonzero = expected.iter().filter(|c| c.2 != 0.0).count();
            let mut got: Vec<(usize, usize)> = preds.hoi_prediction[..nonzero]
                .iter()
                .map(|h| (h.subject_id, h.category_id))
                .collect();
            let mut want: Vec<(usize, usize)> =
                expected[..nonzero].iter().map(|c| (c.0, c.1)).collect();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{variant} image {i}: nonzero cells");
            for (h, c) in preds.hoi_prediction.iter().zip(&expected) {
                assert!(
                    (h.score - c.2).abs() <= f64::from(tol),
                    "{variant} image {i}: score"
                );
                assert_eq!(h.object_id, 5 + h.subject_id);
            }
            for (h, c) in preds.hoi_prediction[nonzero..]
                .iter()
                .zip(&expected[nonzero..])
            {
                assert_eq!(
                    (h.subject_id, h.category_id),
                    (c.0, c.1),
                    "masked cells' order"
                );
            }
            let labels = io.i64(&format!("batch_{i}_labels"));
            let got_labels: Vec<i64> = preds
                .predictions
                .iter()
                .map(|b| b.category_id as i64)
                .collect();
            assert_eq!(got_labels, labels, "{variant} image {i}: box labels");
        }
    }
}

/// A native round trip keeps the V-COCO model (82 columns, vocabulary with `none`).
#[test]
fn vcoco_native_round_trip() {
    let io = Fixture::open("hoiclip_vcoco_small_io.safetensors");
    let (_, device) = backends().remove(0);
    let detector = detector(&device);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("vcoco.bpk");
    detector.save_native(&path).expect("save");
    let mut reloaded = Hoiclip::from_native(&path, &device).expect("reload");
    reloaded.options_mut().resize = RESIZE;
    assert_eq!(reloaded.model().config, detector.model().config);
    let images = [image(&io, "image_0")];
    assert_eq!(
        reloaded.detect(&images[0]).expect("detect"),
        detector.detect(&images[0]).expect("detect")
    );
}

/// Open vocabulary on a V-COCO model: `none` keeps the trained "person only" column, a new
/// object gets the V-COCO prompt form, the background column stays last.
#[test]
fn vcoco_open_vocabulary_uses_its_prompt_forms() {
    let (_, device) = backends().remove(0);
    let mut model = model(&device);
    let embed = model.config.heads.clip_embed_dim;
    let trained = values(model.heads.obj_visual_projection.weight.val());
    let classes = [
        hoiclip::model::CustomHoiClass::new("stand", "none", "a photo of a person standing"),
        hoiclip::model::CustomHoiClass::new(
            "hold_obj",
            "kettlebell",
            "a photo of a person holding a kettlebell",
        ),
    ];
    model.set_vocabulary(&classes).expect("vocabulary");
    let objects = &model.vocabulary.objects;
    assert_eq!(objects.len(), 82);
    assert_eq!(
        (objects[80].as_str(), objects[81].as_str()),
        ("none", "kettlebell")
    );
    assert_eq!(model.vocabulary.classes[0].object, 80);
    let weight = values(model.heads.obj_visual_projection.weight.val());
    assert_eq!(model.heads.obj_visual_projection.weight.dims(), [embed, 83]);
    let column = |w: &[f32], cols: usize, c: usize| -> Vec<f32> {
        (0..embed).map(|r| w[r * cols + c]).collect()
    };
    assert_eq!(
        column(&weight, 83, 80),
        column(&trained, 82, 80),
        "person only"
    );
    assert_eq!(
        column(&weight, 83, 82),
        column(&trained, 82, 81),
        "background"
    );
    let text = values(
        model
            .encode_text(&["a photo of a person and a kettlebell"])
            .expect("text"),
    );
    let err = common::max_abs_diff(&column(&weight, 83, 81), &text);
    assert!(
        err <= 1e-6,
        "new object column differs from its prompt by {err}"
    );
}
