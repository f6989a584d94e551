//! The authors' training augmentation against their own code
//! (tests/fixtures/gen_augment_fixtures.py: `datasets/transforms.py` run with its random draws
//! recorded, on the authors' composition and on the same classes with small parameters).
//!
//! Given the recorded draws, [`AugmentConfig::apply`] must give the same image bytes (after
//! flip + colour jitter, and at the end: sha256 of the raw RGB bytes; no tolerance, the
//! resize is Pillow's arithmetic), the same kept boxes in the same order, and the same box
//! coordinates (pixels and normalised, exactly: every operation is the reference's `f32`
//! operation).

mod common;

use common::{fixture, json_fixture, json_floats, json_indices};
use hoiclip::data::annotated::normalised_cxcywh;
use hoiclip::data::{AnnotatedBox, AugmentConfig, AugmentDraws, CropRegion, GeometryDraw};
use image::RgbImage;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn config(v: &Value) -> AugmentConfig {
    let list = |key: &str| {
        json_indices(&v[key])
            .into_iter()
            .map(|s| s as u32)
            .collect()
    };
    AugmentConfig {
        scales: list("scales"),
        max_size: Some(v["max_size"].as_u64().expect("max_size") as u32),
        crop_scales: list("crop_scales"),
        crop_min: v["crop_min"].as_u64().expect("crop_min") as u32,
        crop_max: v["crop_max"].as_u64().expect("crop_max") as u32,
        ..AugmentConfig::authors()
    }
}

fn draws(d: &Value) -> AugmentDraws {
    let factor = |key: &str| Some(d[key].as_f64().expect(key));
    let shorter = d["shorter"].as_u64().expect("shorter") as u32;
    let geometry = match d["branch"].as_str().expect("branch") {
        "resize" => GeometryDraw::Resize { shorter },
        "crop" => {
            let c = json_indices(&d["crop"]);
            GeometryDraw::CropResize {
                pre_shorter: d["pre_shorter"].as_u64().expect("pre_shorter") as u32,
                crop: CropRegion {
                    top: c[0] as u32,
                    left: c[1] as u32,
                    height: c[2] as u32,
                    width: c[3] as u32,
                },
                shorter,
            }
        }
        other => panic!("unknown branch {other}"),
    };
    let order = json_indices(&d["jitter_order"]);
    AugmentDraws {
        flip: d["flip"].as_bool().expect("flip"),
        jitter_order: [order[0], order[1], order[2], order[3]],
        brightness: factor("brightness"),
        contrast: factor("contrast"),
        saturation: factor("saturation"),
        geometry,
    }
}

fn sha256(image: &RgbImage) -> String {
    Sha256::digest(image.as_raw())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn source(name: &str) -> RgbImage {
    image::open(fixture(&format!("augment/{name}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_rgb8()
}

#[test]
fn augmentation_matches_the_authors_transforms_given_their_draws() {
    let cases = json_fixture("augment/augment_cases.json");
    let small = config(&cases["small_config"]);
    let hico = config(&cases["hico_config"]);
    assert_eq!(
        hico,
        AugmentConfig::authors(),
        "the fixture's hico config is the preset"
    );
    let list = cases["cases"].as_array().expect("cases");
    assert!(list.len() >= 20);
    for case in list {
        let name = case["name"].as_str().expect("name");
        let config = match case["config"].as_str() {
            Some("small") => &small,
            Some("hico") => &hico,
            other => panic!("{name}: config {other:?}"),
        };
        let image = source(case["source"].as_str().expect("source"));
        let boxes: Vec<Option<AnnotatedBox>> = case["boxes"]
            .as_array()
            .expect("boxes")
            .iter()
            .map(|b| {
                let v = json_floats(b);
                Some(AnnotatedBox {
                    xyxy: [v[0], v[1], v[2], v[3]],
                    object: 0,
                })
            })
            .collect();
        let draws = draws(&case["draws"]);

        // Flip + jitter alone: a resize to the image's own shorter side is the identity.
        let (w, h) = image.dimensions();
        let jitter_only = AugmentDraws {
            geometry: GeometryDraw::Resize { shorter: w.min(h) },
            ..draws.clone()
        };
        let jittered = config
            .apply(image.clone(), &mut boxes.clone(), &jitter_only)
            .expect("apply");
        assert_eq!(jittered.dimensions(), (w, h), "{name}");
        assert_eq!(
            sha256(&jittered),
            case["jittered_sha256"].as_str().expect("jittered_sha256"),
            "{name}: flip + colour jitter"
        );

        let mut out_boxes = boxes.clone();
        let out = config.apply(image, &mut out_boxes, &draws).expect("apply");
        let expected = &case["output"];
        assert_eq!(
            out.dimensions(),
            (
                expected["width"].as_u64().expect("width") as u32,
                expected["height"].as_u64().expect("height") as u32
            ),
            "{name}: size"
        );
        if let Some(png) = expected["png"].as_str() {
            let want = source(png);
            let differing = out.iter().zip(want.iter()).filter(|(a, b)| a != b).count();
            assert_eq!(differing, 0, "{name}: {differing} bytes differ from {png}");
        }
        assert_eq!(
            sha256(&out),
            expected["sha256"].as_str().expect("sha256"),
            "{name}: pixels"
        );
        let kept: Vec<usize> = (0..out_boxes.len())
            .filter(|&i| out_boxes[i].is_some())
            .collect();
        assert_eq!(kept, json_indices(&expected["kept"]), "{name}: kept boxes");
        let want_boxes = expected["boxes"].as_array().expect("boxes");
        let want_norm = expected["normalised"].as_array().expect("normalised");
        for (k, &i) in kept.iter().enumerate() {
            let b = out_boxes[i].expect("kept").xyxy;
            assert_eq!(b.to_vec(), json_floats(&want_boxes[k]), "{name}: box {i}");
            let n = normalised_cxcywh(b, out.width(), out.height());
            assert_eq!(
                n.to_vec(),
                json_floats(&want_norm[k]),
                "{name}: normalised box {i}"
            );
        }
    }
}
