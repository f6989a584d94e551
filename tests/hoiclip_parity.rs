//! Whole-model parity with PyTorch (tests/fixtures/gen_hoiclip_fixtures.py): a small HOICLIP
//! (small ResNet, 2+2 DETR layers, 5 pair queries, a small CLIP with the real vocabulary, 2
//! fusion layers, the 600 HICO-DET classes) saved exactly as the authors release checkpoints
//! (optimizer, scheduler, `args` Namespace, fp16 CLIP), run on two images of different
//! sizes: preprocessing, raw head outputs (padded batch and each image alone) and the final
//! triplets of the authors' evaluation pipeline (with and without the enhancement and NMS).
//!
//! Tolerances: raw outputs 1e-4 on CPU backends (5e-4 wgpu); triplets must be the same set
//! (same HOI class, boxes within 1e-2 px, scores within 1e-4).

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{Fixture, assert_close, backends, fixture, max_abs_diff, tolerance, values};
use hoiclip::detection::batch::{PaddedBatch, pad_batch};
use hoiclip::model::{
    Checkpoint, HoiDataset, HoiclipConfig, HoiclipInput, HoiclipModel, ResizeConfig, ZeroShotType,
};
use hoiclip::weights::ArgValue;
use hoiclip::{DetectOptions, Enhancement, HoiDetection, HoiDetector, Hoiclip, HoiclipError};
use image::DynamicImage;

const RESIZE: ResizeConfig = ResizeConfig {
    shorter: 48,
    max_size: Some(80),
};

fn small_config(checkpoint: &Checkpoint) -> HoiclipConfig {
    common::hoiclip_small_config(checkpoint)
}

fn detector(device: &Device, options: DetectOptions) -> Hoiclip {
    Hoiclip::new(common::hoiclip_small_model(device), device).with_options(DetectOptions {
        resize: RESIZE,
        ..options
    })
}

fn image(io: &Fixture, key: &str) -> DynamicImage {
    common::fixture_rgb_image(io, key)
}

fn original_sizes(io: &Fixture) -> Vec<(u32, u32)> {
    let hw = io.i64("orig_sizes");
    hw.chunks(2).map(|c| (c[1] as u32, c[0] as u32)).collect()
}

/// The fixture's padded batch as a caller would build it: each image cut out (size from the
/// mask) and padded again.
fn fixture_batch(io: &Fixture, only: Option<usize>, device: &Device) -> HoiclipInput {
    let b = io.shape("detr_images")[0];
    let clip = io.f32("clip_images");
    let n = io.shape("clip_images")[2];
    let sizes = original_sizes(io);
    let chosen: Vec<usize> = match only {
        Some(i) => vec![i],
        None => (0..b).collect(),
    };
    let prepared = common::unpad_fixture_images(io, "detr_images", "padding_mask", &chosen);
    let batch: PaddedBatch = pad_batch(&prepared, device).expect("pad");
    let per = 3 * n * n;
    let clip_values: Vec<f32> = chosen
        .iter()
        .flat_map(|&i| clip[i * per..(i + 1) * per].iter().copied())
        .collect();
    HoiclipInput {
        batch,
        clip_images: Tensor::from_data(
            TensorData::new(clip_values, [chosen.len(), 3, n, n]),
            device,
        ),
        original_sizes: chosen.iter().map(|&i| sizes[i]).collect(),
    }
}

#[test]
fn configuration_is_read_from_args_and_shapes() {
    let checkpoint = Checkpoint::open(&fixture("hoiclip_small.pth")).expect("fixture opens");
    let args = checkpoint.args.as_ref().expect("the fixture carries args");
    assert_eq!(
        args.get("dataset_file"),
        Some(&ArgValue::Str("hico".into()))
    );
    assert_eq!(args.get("lr"), Some(&ArgValue::Float(1e-4)));
    assert_eq!(args.get("fix_clip"), Some(&ArgValue::Bool(true)));
    let config = small_config(&checkpoint);
    assert_eq!(config.dataset, HoiDataset::HicoDet);
    assert_eq!(config.zero_shot_type, ZeroShotType::Default);
    assert_eq!(config.detection.n_heads, 4);
    assert_eq!(config.detection.num_queries, 5);
    assert_eq!(config.detection.enc_layers, 2);
    assert_eq!(config.detection.dec_layers, 2);
    assert_eq!(config.detection.hidden_dim, 32);
    assert_eq!(config.interaction.clip_dim, 64);
    assert_eq!(config.interaction.n_heads, 4);
    assert_eq!(config.interaction.layers, 2);
    assert_eq!(config.heads.hoi_classes, 600);
    assert_eq!(config.heads.verbs, 117);
    assert_eq!(config.heads.object_classes, 81);
    assert!(config.heads.visual_bias && config.heads.object_bias);
    assert!(!config.uses_eval_heads());
    assert_eq!(config.verb_weight, 0.5);
    assert_eq!(config.clip_model, "ViT-B/32");
    // CLIP's heads cannot be inferred from widths 64 / 16 (OpenAI uses width / 64).
    let err = HoiclipConfig::from_weights(&checkpoint.weights, checkpoint.args.as_ref())
        .expect_err("text width 16 is not a multiple of 64");
    assert!(err.to_string().contains("multiple of 64"), "{err}");
}

#[test]
fn preprocessing_matches_the_reference() {
    let io = Fixture::open("hoiclip_small_io.safetensors");
    let images = [image(&io, "image_0"), image(&io, "image_1")];
    for (_, device) in backends() {
        let input = HoiclipInput::from_images(&[&images[0], &images[1]], 32, RESIZE, &device)
            .expect("preprocess");
        let err = max_abs_diff(&values(input.batch.images.clone()), &io.f32("detr_images"));
        assert!(err <= 1e-6, "detr images differ by {err}");
        let mask: Vec<bool> = io
            .i64_or_u8("padding_mask")
            .iter()
            .map(|&v| v != 0)
            .collect();
        assert_eq!(input.batch.padding, mask);
        let err = max_abs_diff(&values(input.clip_images.clone()), &io.f32("clip_images"));
        assert!(err <= 1e-6, "clip crops differ by {err}");
        assert_eq!(input.original_sizes, original_sizes(&io));
    }
}

#[test]
fn raw_outputs_match_pytorch() {
    let io = Fixture::open("hoiclip_small_io.safetensors");
    for (backend, device) in backends() {
        let tol = tolerance(backend);
        let detector = detector(&device, DetectOptions::default());
        let model = detector.model();
        assert_close(
            &format!("{backend} hoi_text_embeddings"),
            model.hoi_text_embeddings.val(),
            &io.f32("hoi_text_embeddings"),
            tol,
        );
        let cases: [(String, Option<usize>); 3] = [
            ("batch".into(), None),
            ("single_0".into(), Some(0)),
            ("single_1".into(), Some(1)),
        ];
        for (prefix, only) in cases {
            let out = model
                .forward(&fixture_batch(&io, only, &device))
                .expect("forward");
            let check = |name: &str, t: Tensor<3>| {
                assert_close(
                    &format!("{backend} {prefix} {name}"),
                    t,
                    &io.f32(&format!("{prefix}_{name}")),
                    tol,
                )
            };
            check("pred_hoi_logits", out.hoi_logits);
            check("pred_obj_logits", out.object_logits);
            check("pred_sub_boxes", out.human_boxes);
            check("pred_obj_boxes", out.object_boxes);
            assert_close(
                &format!("{backend} {prefix} clip_logits"),
                out.clip_hoi_scores,
                &io.f32(&format!("{prefix}_clip_logits")),
                tol,
            );
        }
    }
}

/// The reference's kept triplets for `key_prefix`.
fn expected_triplets(io: &Fixture, key: &str) -> Vec<([f32; 4], [f32; 4], usize, f32)> {
    let subject = io.f32(&format!("{key}_subject"));
    let object = io.f32(&format!("{key}_object"));
    let hoi = io.i64(&format!("{key}_hoi"));
    let score = io.f32(&format!("{key}_score"));
    (0..hoi.len())
        .map(|i| {
            let b = |v: &[f32]| [v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]];
            (b(&subject), b(&object), hoi[i] as usize, score[i])
        })
        .collect()
}

/// Same set of triplets: every reference triplet matched by exactly one detection of the
/// same class with boxes within 1e-2 px and score within `tol`.
fn assert_same_triplets(what: &str, actual: &[HoiDetection], io: &Fixture, key: &str, tol: f32) {
    let expected = expected_triplets(io, key);
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: {} detections, the reference keeps {}",
        actual.len(),
        expected.len()
    );
    let mut used = vec![false; actual.len()];
    let close = |a: [f32; 4], b: [f32; 4]| a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-2);
    for (subject, object, hoi, score) in &expected {
        let found = actual.iter().enumerate().position(|(i, d)| {
            !used[i]
                && d.hoi_id == *hoi
                && (d.score - score).abs() <= tol
                && close(d.subject_box, *subject)
                && d.object_box.is_some_and(|b| close(b, *object))
        });
        match found {
            Some(i) => used[i] = true,
            None => panic!("{what}: reference triplet (hoi {hoi}, score {score}) not found"),
        }
    }
    for pair in actual.windows(2) {
        assert!(
            pair[0].score >= pair[1].score,
            "{what}: not sorted by score"
        );
    }
    println!("{what}: {} triplets match", actual.len());
}

#[test]
fn triplets_match_the_authors_evaluation() {
    let io = Fixture::open("hoiclip_small_io.safetensors");
    let images = vec![image(&io, "image_0"), image(&io, "image_1")];
    let variants = [
        ("enh", Enhancement::TopK(10), true),
        ("plain", Enhancement::Off, true),
        ("enh_nonms", Enhancement::TopK(10), false),
    ];
    for (backend, device) in backends() {
        let tol = tolerance(backend);
        let mut detector = detector(&device, DetectOptions::default());
        for (variant, enhancement, nms) in variants {
            let options = detector.options_mut();
            options.enhancement = enhancement;
            options.nms = nms.then(Default::default);
            let batch = detector.detect_batch(&images).expect("detect_batch");
            for (i, image) in images.iter().enumerate() {
                let single = detector.detect(image).expect("detect");
                assert_same_triplets(
                    &format!("{backend} single {i} {variant}"),
                    &single,
                    &io,
                    &format!("single_{i}_{variant}"),
                    tol,
                );
                assert_same_triplets(
                    &format!("{backend} batch {i} {variant}"),
                    &batch[i],
                    &io,
                    &format!("batch_{i}_{variant}"),
                    tol,
                );
            }
        }
        // The vocabulary names what the ids mean.
        let d = &detector.detect(&images[0]).expect("detect")[0];
        let class = &hoiclip::labels::hico::HICO_HOIS[d.hoi_id];
        assert_eq!(d.verb_id, usize::from(class.verb));
        assert_eq!(d.object_id, usize::from(class.object));
        assert_eq!(d.hoi_prompt, class.prompt);
        assert_eq!(d.verb_name, hoiclip::labels::hico::HICO_VERBS[d.verb_id]);
    }
}

#[test]
fn native_format_round_trip_is_exact() {
    let io = Fixture::open("hoiclip_small_io.safetensors");
    let (_, device) = backends().remove(0);
    let detector = detector(&device, DetectOptions::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hoiclip_small.bpk");
    detector.save_native(&path).expect("save");
    let reloaded = Hoiclip::from_native(&path, &device).expect("reload");
    assert_eq!(reloaded.vocabulary(), detector.vocabulary());
    assert_eq!(reloaded.model().config, detector.model().config);
    let input = fixture_batch(&io, None, &device);
    let a = detector.model().forward(&input).expect("forward");
    let b = reloaded.model().forward(&input).expect("forward");
    assert_eq!(values(a.hoi_logits), values(b.hoi_logits));
    assert_eq!(values(a.object_logits), values(b.object_logits));
    assert_eq!(values(a.human_boxes), values(b.human_boxes));
    assert_eq!(values(a.clip_hoi_scores), values(b.clip_hoi_scores));
    // A native file whose vocabulary metadata does not fit is refused, not run.
    let mut broken = common::hoiclip_small_model(&device);
    broken.vocabulary.classes[0].verb = 999;
    let broken_path = dir.path().join("broken.bpk");
    broken.save_native(&broken_path).expect("save");
    assert!(matches!(
        Hoiclip::from_native(&broken_path, &device),
        Err(HoiclipError::WeightFile { .. })
    ));
    // Another model's native file is refused by kind.
    let clip = hoiclip::clip::Clip::from_file_with_config(
        fixture("clip_hoiclip_small_fp16.pth"),
        &common::clip_small_config(),
        &device,
    )
    .expect("the CLIP fixture loads");
    let clip_path = dir.path().join("clip.bpk");
    clip.save_native(&clip_path).expect("save clip");
    let err = Hoiclip::from_native(&clip_path, &device).expect_err("a CLIP file");
    assert!(err.to_string().contains("clip"), "{err}");
}

/// Write a safetensors file with the given (name, shape) tensors filled with zeros.
fn write_safetensors(path: &std::path::Path, tensors: &[(&str, Vec<usize>)]) {
    let data: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(n, s)| {
            (
                n.to_string(),
                vec![0u8; 4 * s.iter().product::<usize>()],
                s.clone(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
        .iter()
        .map(|(n, bytes, shape)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .expect("view"),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).expect("write safetensors");
}

#[test]
fn other_models_checkpoints_are_named() {
    let (_, device) = backends().remove(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong = |path: &std::path::Path| match Hoiclip::from_checkpoint(path, &device) {
        Err(HoiclipError::WrongCheckpoint { found, .. }) => found,
        Err(other) => panic!("{}: expected WrongCheckpoint, got {other}", path.display()),
        Ok(_) => panic!("{} loaded as HOICLIP", path.display()),
    };
    let found = wrong(&fixture("clip_openai_small.pth"));
    assert!(found.contains("CLIP"), "{found}");
    let gen_vlkt = dir.path().join("gen_vlkt.safetensors");
    write_safetensors(
        &gen_vlkt,
        &[
            ("transformer.interaction_decoder.norm.weight", vec![4]),
            ("hoi_class_fc.0.weight", vec![4, 4]),
            ("input_proj.weight", vec![4, 8, 1, 1]),
        ],
    );
    assert!(wrong(&gen_vlkt).contains("GEN-VLKT"));
    let detr = dir.path().join("detr.safetensors");
    write_safetensors(
        &detr,
        &[
            ("transformer.decoder.norm.weight", vec![4]),
            ("class_embed.weight", vec![92, 4]),
        ],
    );
    assert!(wrong(&detr).contains("plain DETR"));
    let found = wrong(&fixture("detection_small.pth"));
    assert!(found.contains("clip_interaction_decoder"), "{found}");

    let text = dir.path().join("notes.pth");
    std::fs::write(&text, "not a checkpoint").expect("write");
    assert!(matches!(
        Hoiclip::from_checkpoint(&text, &device),
        Err(HoiclipError::WeightFile { .. })
    ));
    assert!(matches!(
        Hoiclip::from_checkpoint(dir.path().join("missing.pth"), &device),
        Err(HoiclipError::Io { .. })
    ));
}

#[test]
fn unexpected_and_missing_tensors_are_named() {
    let (_, device) = backends().remove(0);
    let checkpoint = Checkpoint::open(&fixture("hoiclip_small.pth")).expect("fixture opens");
    let config = small_config(&checkpoint);
    let map = &checkpoint.weights;
    let dir = tempfile::tempdir().expect("temp dir");
    let write_variant = |path: &std::path::Path, skip: &str, extra: Option<&str>| {
        let mut data: Vec<(String, Vec<u8>, Vec<usize>)> = map
            .names()
            .filter(|n| *n != skip)
            .map(|n| {
                let v = map.read_f32(n).expect("read");
                let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (n.to_string(), bytes, map.shape(n).expect("shape").to_vec())
            })
            .collect();
        if let Some(extra) = extra {
            data.push((extra.to_string(), vec![0u8; 16], vec![4]));
        }
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
            .iter()
            .map(|(n, bytes, shape)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(
                        safetensors::Dtype::F32,
                        shape.clone(),
                        bytes,
                    )
                    .expect("view"),
                )
            })
            .collect();
        safetensors::serialize_to_file(views, None, path).expect("write");
    };
    let extra = dir.path().join("extra.safetensors");
    write_variant(&extra, "", Some("mystery_head.weight"));
    match HoiclipModel::from_checkpoint_with_config(&extra, config.clone(), &device) {
        Err(HoiclipError::UnexpectedTensors { names, .. }) => {
            assert!(names.contains("mystery_head.weight"), "{names}")
        }
        other => panic!("expected UnexpectedTensors, got {other:?}"),
    }
    let missing = dir.path().join("missing.safetensors");
    write_variant(&missing, "verb_projection.weight", None);
    let err = HoiclipModel::from_checkpoint_with_config(&missing, config, &device)
        .expect_err("a missing tensor");
    assert!(err.to_string().contains("verb_projection.weight"), "{err}");
}

#[test]
fn awkward_images_give_results_or_typed_errors() {
    let io = Fixture::open("hoiclip_small_io.safetensors");
    let (_, device) = backends().remove(0);
    let detector = detector(&device, DetectOptions::default());
    let rgb = image(&io, "image_0");
    assert!(matches!(
        detector.detect(&DynamicImage::new_rgb8(0, 0)),
        Err(HoiclipError::Image { .. })
    ));
    assert!(matches!(
        detector.detect(&DynamicImage::new_rgb8(7, 0)),
        Err(HoiclipError::Image { .. })
    ));
    let gray = DynamicImage::ImageLuma8(rgb.to_luma8());
    let gray_as_rgb = DynamicImage::ImageRgb8(gray.to_rgb8());
    for (name, image) in [
        ("gray", &gray),
        ("rgba", &DynamicImage::ImageRgba8(rgb.to_rgba8())),
        ("rgb16", &DynamicImage::ImageRgb16(rgb.to_rgb16())),
        (
            "luma-alpha",
            &DynamicImage::ImageLumaA8(rgb.to_luma_alpha8()),
        ),
        ("rgb32f", &DynamicImage::ImageRgb32F(rgb.to_rgb32f())),
        ("1x1", &DynamicImage::new_rgb8(1, 1)),
        ("3000x2", &DynamicImage::new_rgb8(3000, 2)),
    ] {
        match detector.detect(image) {
            Ok(detections) => {
                assert!(
                    detections.iter().all(|d| d.score.is_finite()),
                    "{name}: non-finite score"
                );
                println!("{name}: {} detections", detections.len());
            }
            Err(HoiclipError::Image { reason, .. }) => println!("{name}: refused: {reason}"),
            Err(other) => panic!("{name}: unexpected error {other}"),
        }
    }
    // A grayscale image is read as Pillow's convert("RGB") reads it: grey replicated.
    assert_eq!(
        detector.detect(&gray).expect("gray"),
        detector.detect(&gray_as_rgb).expect("gray as rgb")
    );
    // Files: a non-image is a typed error naming it.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("not_an_image.jpg");
    std::fs::write(&path, b"hello").expect("write");
    match hoiclip::imaging::open_image(&path) {
        Err(HoiclipError::Image { what, .. }) => assert!(what.contains("not_an_image")),
        other => panic!("expected an image error, got {other:?}"),
    }
}

#[test]
fn detect_from_several_threads_gives_the_same_results() {
    let io = Fixture::open("hoiclip_small_io.safetensors");
    let (_, device) = backends().remove(0);
    let detector = detector(&device, DetectOptions::default());
    let images = [image(&io, "image_0"), image(&io, "image_1")];
    let expected: Vec<Vec<HoiDetection>> = images
        .iter()
        .map(|i| detector.detect(i).expect("detect"))
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let detector = &detector;
                let image = &images[t % 2];
                scope.spawn(move || (t % 2, detector.detect(image).expect("detect")))
            })
            .collect();
        for handle in handles {
            let (i, got) = handle.join().expect("thread");
            assert_eq!(got, expected[i], "thread result differs for image {i}");
        }
    });
}

/// A zero-shot checkpoint (`--del_unseen --zero_shot_type rare_first`): the training
/// classifier has the 480 seen classes, and evaluation scores all 600 with
/// `eval_visual_projection` (no bias) and `verb2hoi_proj_eval`. Built from the fixture by
/// taking its 600-class classifier as the evaluation one: the zero-shot model's logits must
/// then be the default model's minus `exp(logit_scale) · bias`.
#[test]
fn zero_shot_checkpoints_score_all_classes_with_the_evaluation_heads() {
    use hoiclip::labels::hico::HICO_UNSEEN_RARE_FIRST;
    use hoiclip::weights::{WeightFormat, WeightMap};
    let io = Fixture::open("hoiclip_small_io.safetensors");
    let (_, device) = backends().remove(0);
    let checkpoint = Checkpoint::open(&fixture("hoiclip_small.pth")).expect("fixture opens");
    let map = &checkpoint.weights;
    let seen: Vec<usize> = (0..600)
        .filter(|i| !HICO_UNSEEN_RARE_FIRST.contains(&(*i as u16)))
        .collect();
    let mut tensors = Vec::new();
    for name in map.names() {
        let values = map.read_f32(name).expect("read");
        let shape = map.shape(name).expect("shape").to_vec();
        match name {
            "visual_projection.weight" => {
                tensors.push((
                    "eval_visual_projection.weight".into(),
                    shape.clone(),
                    values.clone(),
                ));
                let e = shape[1];
                let rows: Vec<f32> = seen
                    .iter()
                    .flat_map(|&r| values[r * e..(r + 1) * e].to_vec())
                    .collect();
                tensors.push((name.to_string(), vec![seen.len(), e], rows));
            }
            "visual_projection.bias" => {
                tensors.push((
                    name.to_string(),
                    vec![seen.len()],
                    seen.iter().map(|&r| values[r]).collect(),
                ));
            }
            "verb2hoi_proj" => {
                let cols: Vec<f32> = values
                    .chunks(600)
                    .flat_map(|row| seen.iter().map(move |&c| row[c]).collect::<Vec<_>>())
                    .collect();
                tensors.push((name.to_string(), vec![117, seen.len()], cols));
            }
            _ => tensors.push((name.to_string(), shape, values)),
        }
    }
    let zero_shot_map =
        WeightMap::from_f32_tensors("zero-shot variant", WeightFormat::Safetensors, tensors)
            .expect("map");
    let mut args = checkpoint.args.clone().expect("args");
    args.insert("zero_shot_type".into(), ArgValue::Str("rare_first".into()));
    args.insert("del_unseen".into(), ArgValue::Bool(true));
    let zero_shot = Checkpoint {
        weights: zero_shot_map,
        args: Some(args),
    };
    let config = small_config(&zero_shot);
    assert_eq!(config.zero_shot_type, ZeroShotType::RareFirst);
    assert_eq!(config.heads.hoi_classes, 480);
    assert_eq!(config.heads.eval_hoi_classes, Some(600));
    assert!(config.uses_eval_heads());
    let model = HoiclipModel::load(&zero_shot, config, &device).expect("zero-shot model loads");
    assert_eq!(model.vocabulary.classes.len(), 600);

    let default = detector(&device, DetectOptions::default());
    let input = fixture_batch(&io, None, &device);
    let z = values(model.forward(&input).expect("forward").hoi_logits);
    let d = values(default.model().forward(&input).expect("forward").hoi_logits);
    let scale = map.read_f32("logit_scale").expect("scale")[0].exp();
    let bias = map.read_f32("visual_projection.bias").expect("bias");
    let expected: Vec<f32> = d
        .iter()
        .enumerate()
        .map(|(i, v)| v - scale * bias[i % 600])
        .collect();
    let err = max_abs_diff(&z, &expected);
    println!("zero-shot evaluation heads: max abs error {err:.2e}");
    assert!(err <= 1e-4, "{err}");
}

/// The real detector through the evaluation runner and the official evaluator: the ground
/// truth is the detector's own best triplet on the image, so that class must score AP 1.
#[test]
fn the_detector_runs_through_the_evaluation_pipeline() {
    use hoiclip::eval::ids::HICO_COCO_CATEGORY_IDS;
    use hoiclip::eval::{DetectionRun, Evaluator, HicoAnnotations, OfficialMode, OfficialOptions};
    let io = Fixture::open("hoiclip_small_io.safetensors");
    let (_, device) = backends().remove(0);
    let detector = detector(&device, DetectOptions::default());
    let image = image(&io, "image_0");
    let best = detector.detect(&image).expect("detect")[0].clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let name = "HICO_test2015_00000001.jpg";
    image
        .save_with_format(dir.path().join(name), image::ImageFormat::Png)
        .expect("write image");
    let class = &hoiclip::labels::hico::HICO_HOIS[best.hoi_id];
    let bbox = |b: [f32; 4]| b.map(f64::from).to_vec();
    let annotations = serde_json::json!([{
        "file_name": name,
        "annotations": [
            {"bbox": bbox(best.subject_box), "category_id": 1},
            {"bbox": bbox(best.object_box.expect("HICO-DET detections have object boxes")),
             "category_id": HICO_COCO_CATEGORY_IDS[usize::from(class.object)]}
        ],
        "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": class.verb + 1}]
    }]);
    let annotations =
        HicoAnnotations::from_json_str(&annotations.to_string(), "test_hico.json").expect("gt");
    let outcome = DetectionRun::new(dir.path(), dir.path().join("predictions.jsonl"))
        .run(&detector, &annotations.file_names(), |_| {})
        .expect("run");
    assert_eq!(outcome.processed, 1);
    let report = Evaluator::official_with(
        &annotations,
        OfficialOptions {
            mode: OfficialMode::Default,
            detection_shift: 0.0,
            ..OfficialOptions::default()
        },
    )
    .evaluate(&outcome.predictions);
    let result = &report.classes[best.hoi_id];
    assert_eq!(result.num_gt, 1);
    assert!(
        (result.ap - 1.0).abs() < 1e-9,
        "AP of the detector's own best class: {}",
        result.ap
    );
}
