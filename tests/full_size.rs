//! Full-size checks, run by hand in release mode (they need files too large to commit):
//!
//! ```text
//! python3 tests/fixtures/gen_clip_fixtures.py --full-size /var/tmp/hoiclip-full
//! python3 tests/fixtures/gen_detection_fixtures.py --full-size /var/tmp/hoiclip-full
//! python3 tests/fixtures/gen_hoiclip_fixtures.py --full-size /var/tmp/hoiclip-full
//! HOICLIP_FULL_SIZE_DIR=/var/tmp/hoiclip-full \
//!     cargo test --release --all-features --test full_size -- --ignored --nocapture
//! ```
//!
//! The results are recorded in docs/performance.md and docs/testing.md.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::{Fixture, backends, max_abs_diff, values};
use hoiclip::clip::{Clip, ClipConfig};

fn full_size_dir() -> PathBuf {
    PathBuf::from(std::env::var("HOICLIP_FULL_SIZE_DIR").expect(
        "set HOICLIP_FULL_SIZE_DIR to the folder written by gen_clip_fixtures.py --full-size",
    ))
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

#[test]
#[ignore = "needs the full-size files from gen_clip_fixtures.py --full-size (see the file's docs)"]
fn vit_b32_random_weights_match_pytorch_at_full_size() {
    let dir = full_size_dir();
    let io = Fixture::open_path(&dir.join("clip_vitb32_random_io.safetensors"));
    for (backend, device) in backends() {
        let start = Instant::now();
        let model = Clip::from_file(dir.join("clip_vitb32_random.pth"), &device).expect("load");
        println!("[{backend}] load fp16 .pth: {:.2?}", start.elapsed());
        assert_eq!(model.config(), ClipConfig::vit_b_32());

        let images = io.tensor::<4>("images", &device);
        let out = model.encode_image(images).expect("encode");
        let e_embed = max_abs_diff(&values(out.embedding), &io.f32("image_embedding"));
        let e_map = max_abs_diff(&values(out.token_map), &io.f32("token_map"));
        let shape = io.shape("text_tokens");
        let tokens: Vec<Vec<u32>> = io
            .i64("text_tokens")
            .chunks(shape[1])
            .map(|r| r.iter().map(|&t| t as u32).collect())
            .collect();
        let e_text = max_abs_diff(
            &values(model.encode_tokens(&tokens).expect("text")),
            &io.f32("text_embedding"),
        );
        println!(
            "[{backend}] max abs error: image_embedding {e_embed:.2e}, token_map {e_map:.2e}, text_embedding {e_text:.2e}"
        );
        assert!(e_embed < 1e-3 && e_map < 1e-3 && e_text < 1e-3);

        // Timings: median of 3 after a warm-up.
        let tokenizer = hoiclip::clip::tokenizer::ClipTokenizer::new().expect("tokenizer");
        let prompts: Vec<String> = (0..600)
            .map(|i| {
                format!(
                    "a photo of a person doing action {} with object {}",
                    i % 117,
                    i % 80
                )
            })
            .collect();
        let prompt_refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
        let prompt_tokens = tokenizer.tokenize_batch(&prompt_refs).expect("tokenize");
        for batch in [1usize, 8] {
            let images = burn::tensor::Tensor::<4>::random(
                [batch, 3, 224, 224],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let mut times = Vec::new();
            for run in 0..4 {
                let start = Instant::now();
                let out = model.encode_image(images.clone()).expect("encode");
                let _ = values(out.embedding);
                if run > 0 {
                    times.push(start.elapsed().as_secs_f64());
                }
            }
            println!(
                "[{backend}] encode_image batch {batch}: median {:.3} s",
                median(times)
            );
        }
        let mut times = Vec::new();
        for run in 0..4 {
            let start = Instant::now();
            let _ = values(model.encode_tokens(&prompt_tokens).expect("text"));
            if run > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        println!(
            "[{backend}] encode_text 600 prompts: median {:.3} s",
            median(times)
        );

        let native = dir.join("clip_vitb32_random.bpk");
        model.save_native(&native).expect("save native");
        let start = Instant::now();
        let reloaded = Clip::load_native(&native, &device).expect("load native");
        println!("[{backend}] load native: {:.2?}", start.elapsed());
        assert_eq!(reloaded.config(), ClipConfig::vit_b_32());
    }
}

#[test]
#[ignore = "needs the full-size files from gen_detection_fixtures.py --full-size (see the file's docs)"]
fn detection_branch_matches_pytorch_at_full_size() {
    use hoiclip::detection::DetectionBranch;
    use hoiclip::detection::batch::{PreparedImage, pad_batch};
    let dir = full_size_dir();
    let io = Fixture::open_path(&dir.join("detection_full_io.safetensors"));
    for (backend, device) in backends() {
        let start = Instant::now();
        let branch =
            DetectionBranch::from_file(dir.join("detection_full.pth"), 8, &device).expect("load");
        println!("[{backend}] load detection .pth: {:.2?}", start.elapsed());
        let shape = io.shape("images");
        let image = PreparedImage {
            values: io.f32("images"),
            height: shape[2],
            width: shape[3],
        };
        let batch = pad_batch(std::slice::from_ref(&image), &device).expect("batch");
        let out = branch.forward(&batch);
        let errors = [
            (
                "features",
                max_abs_diff(&values(out.features.clone()), &io.f32("features")),
            ),
            (
                "memory",
                max_abs_diff(&values(out.memory.clone()), &io.f32("memory")),
            ),
            (
                "hs_h",
                max_abs_diff(
                    &values(burn::tensor::Tensor::stack::<4>(
                        out.human_states.clone(),
                        0,
                    )),
                    &io.f32("hs_h"),
                ),
            ),
            (
                "hs_o",
                max_abs_diff(
                    &values(burn::tensor::Tensor::stack::<4>(
                        out.object_states.clone(),
                        0,
                    )),
                    &io.f32("hs_o"),
                ),
            ),
            (
                "boxes_h",
                max_abs_diff(&values(out.human_boxes.clone()), &io.f32("boxes_h")),
            ),
            (
                "boxes_o",
                max_abs_diff(&values(out.object_boxes.clone()), &io.f32("boxes_o")),
            ),
        ];
        println!("[{backend}] max abs error at 800x1066: {errors:?}");
        for (name, err) in errors {
            assert!(err < 1e-3, "{name}: {err}");
        }
        // Timings: one image and a padded batch of two (800x1066 and 1066x800).
        let rotated = PreparedImage {
            values: {
                let (h, w) = (image.height, image.width);
                let mut v = vec![0.0; 3 * h * w];
                for c in 0..3 {
                    for y in 0..h {
                        for x in 0..w {
                            v[(c * w + x) * h + y] = image.values[(c * h + y) * w + x];
                        }
                    }
                }
                v
            },
            height: image.width,
            width: image.height,
        };
        let pair = pad_batch(&[image.clone(), rotated], &device).expect("pair");
        for (name, batch) in [("batch 1", &batch), ("padded batch 2", &pair)] {
            let mut backbone = Vec::new();
            let mut total = Vec::new();
            for run in 0..3 {
                let start = Instant::now();
                let features = branch.backbone.forward(batch.images.clone());
                let _ = values(features);
                let t_backbone = start.elapsed().as_secs_f64();
                let start = Instant::now();
                let out = branch.forward(batch);
                let _ = values(out.human_boxes);
                if run > 0 {
                    backbone.push(t_backbone);
                    total.push(start.elapsed().as_secs_f64());
                }
            }
            println!(
                "[{backend}] {name}: backbone median {:.3} s, whole branch median {:.3} s",
                median(backbone),
                median(total)
            );
        }
    }
}

#[test]
#[ignore = "needs the full-size files from gen_hoiclip_fixtures.py --full-size (see the file's docs)"]
fn hoiclip_matches_pytorch_at_full_size() {
    use hoiclip::model::{HoiclipConfig, HoiclipInput, HoiclipModel, ResizeConfig};
    use hoiclip::{DetectOptions, Enhancement, HoiDetector, Hoiclip};
    let dir = full_size_dir();
    let io = Fixture::open_path(&dir.join("hoiclip_full_io.safetensors"));
    let shape = io.shape("image_0");
    let bytes: Vec<u8> = io
        .i64_or_u8("image_0")
        .into_iter()
        .map(|v| v as u8)
        .collect();
    let image = image::DynamicImage::ImageRgb8(
        image::RgbImage::from_raw(shape[1] as u32, shape[0] as u32, bytes).expect("HWC"),
    );
    for (backend, device) in backends() {
        let start = Instant::now();
        let model = HoiclipModel::from_checkpoint(dir.join("hoiclip_full.pth"), &device)
            .expect("load the released-format checkpoint");
        println!(
            "[{backend}] load .pth (incl. 600 prompts through the text encoder): {:.2?}",
            start.elapsed()
        );
        let mut expected = HoiclipConfig::hico_default();
        expected.clip_model = model.config.clip_model.clone();
        assert_eq!(model.config, expected);
        let e_text = max_abs_diff(
            &values(model.hoi_text_embeddings.val()),
            &io.f32("hoi_text_embeddings"),
        );

        let input = HoiclipInput::from_images(&[&image], 224, ResizeConfig::default(), &device)
            .expect("preprocess");
        let e_detr = max_abs_diff(&values(input.batch.images.clone()), &io.f32("detr_images"));
        let e_clip = max_abs_diff(&values(input.clip_images.clone()), &io.f32("clip_images"));
        let out = model.forward(&input).expect("forward");
        let errors = [
            ("hoi_text_embeddings", e_text),
            ("detr_images", e_detr),
            ("clip_images", e_clip),
            (
                "pred_hoi_logits",
                max_abs_diff(
                    &values(out.hoi_logits.clone()),
                    &io.f32("single_0_pred_hoi_logits"),
                ),
            ),
            (
                "pred_obj_logits",
                max_abs_diff(
                    &values(out.object_logits.clone()),
                    &io.f32("single_0_pred_obj_logits"),
                ),
            ),
            (
                "pred_sub_boxes",
                max_abs_diff(
                    &values(out.human_boxes.clone()),
                    &io.f32("single_0_pred_sub_boxes"),
                ),
            ),
            (
                "pred_obj_boxes",
                max_abs_diff(
                    &values(out.object_boxes.clone()),
                    &io.f32("single_0_pred_obj_boxes"),
                ),
            ),
            (
                "clip_logits",
                max_abs_diff(
                    &values(out.clip_hoi_scores.clone()),
                    &io.f32("single_0_clip_logits"),
                ),
            ),
        ];
        println!("[{backend}] max abs error, HOICLIP at 800x1066: {errors:?}");
        for (name, err) in errors {
            assert!(err < 1e-3, "{name}: {err}");
        }

        let mut detector = Hoiclip::new(model, &device);
        for (variant, enhancement) in [("enh", Enhancement::TopK(10)), ("plain", Enhancement::Off)]
        {
            *detector.options_mut() = DetectOptions {
                enhancement,
                ..DetectOptions::default()
            };
            let found = detector.detect(&image).expect("detect");
            let hoi = io.i64(&format!("single_0_{variant}_hoi"));
            let score = io.f32(&format!("single_0_{variant}_score"));
            assert_eq!(found.len(), hoi.len(), "{variant}: triplet count");
            for (h, s) in hoi.iter().zip(&score) {
                assert!(
                    found
                        .iter()
                        .any(|d| d.hoi_id == *h as usize && (d.score - s).abs() < 1e-3),
                    "{variant}: reference triplet (hoi {h}, score {s}) not found"
                );
            }
        }

        let mut times = Vec::new();
        for run in 0..4 {
            let start = Instant::now();
            let found = detector.detect(&image).expect("detect");
            if run > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
            assert!(!found.is_empty());
        }
        println!(
            "[{backend}] detect() 640x480 → 800x1066, end to end: median {:.3} s of {times:?}",
            median(times.clone())
        );
        let native = dir.join("hoiclip_full.bpk");
        detector.save_native(&native).expect("save native");
        let start = Instant::now();
        let reloaded = Hoiclip::from_native(&native, &device).expect("load native");
        println!("[{backend}] load native: {:.2?}", start.elapsed());
        assert_eq!(reloaded.vocabulary(), detector.vocabulary());
    }
}
