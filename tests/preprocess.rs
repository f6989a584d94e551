//! Image preprocessing against Pillow and torchvision: fixtures written by
//! `tests/fixtures/gen_preprocess_fixtures.py` (Pillow 13.0, torchvision 0.29) under
//! `tests/fixtures/preprocess/`.
//!
//! Resampled pixels must be byte-identical to Pillow; normalised tensors equal within 1e-6.

use std::path::{Path, PathBuf};

use hoiclip::BackendChoice;
use hoiclip::HoiclipError;
use hoiclip::clip::preprocess::{
    CLIP_MEAN, CLIP_STD, center_crop_offsets, clip_resized_size, preprocess_clip,
    preprocess_clip_batch,
};
use hoiclip::imaging::detr_transform::{detr_target_size, preprocess_detr};
use hoiclip::imaging::pil_image::PilImage;
use hoiclip::imaging::pil_resample::{Filter, PassOrder};
use image::DynamicImage;
use safetensors::{Dtype, SafeTensors};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/preprocess")
}

fn expected_bytes() -> Vec<u8> {
    std::fs::read(dir().join("expected.safetensors")).expect("read expected.safetensors")
}

fn load(name: &str) -> DynamicImage {
    image::open(dir().join(format!("{name}.png"))).expect("open fixture image")
}

fn f32s(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn i32s(data: &[u8]) -> Vec<i64> {
    data.chunks_exact(4)
        .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect()
}

fn filter(name: &str) -> Filter {
    match name {
        "bilinear" => Filter::Bilinear,
        "bicubic" => Filter::Bicubic,
        "box" => Filter::Box,
        "hamming" => Filter::Hamming,
        "lanczos" => Filter::Lanczos,
        other => panic!("unknown filter {other}"),
    }
}

fn raw(img: &PilImage) -> Vec<u8> {
    match img {
        PilImage::L(i) => i.as_raw().clone(),
        PilImage::La(i) => i.as_raw().clone(),
        PilImage::Rgb(i) => i.as_raw().clone(),
        PilImage::Rgba(i) => i.as_raw().clone(),
    }
}

/// Largest absolute difference and how many values are not bit-identical.
fn compare(got: &[f32], want: &[f32]) -> (f32, usize) {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).fold((0.0_f32, 0), |(max, n), (g, w)| {
        (
            (g - w).abs().max(max),
            n + usize::from(g.to_bits() != w.to_bits()),
        )
    })
}

#[test]
fn resize_is_byte_identical_to_pillow() {
    let bytes = expected_bytes();
    let st = SafeTensors::deserialize(&bytes).expect("parse expected.safetensors");
    let mut cases = 0;
    let mut failures = Vec::new();
    for (key, view) in st.tensors() {
        let Some(rest) = key.strip_prefix("resize/") else {
            continue;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (name, fname, size) = (parts[0], parts[1], parts[2]);
        let (w, h) = size.split_once('x').expect("WxH");
        let (w, h): (u32, u32) = (w.parse().unwrap(), h.parse().unwrap());
        assert_eq!(view.dtype(), Dtype::U8);
        assert_eq!(view.shape()[..2], [h as usize, w as usize], "{key}");
        let src = PilImage::from_dynamic(&load(name));
        let got = raw(&src.resize(w, h, filter(fname)).expect("resize"));
        let want = view.data();
        let diff = got.iter().zip(want).filter(|(a, b)| a != b).count();
        let max = got
            .iter()
            .zip(want)
            .map(|(&a, &b)| a.abs_diff(b))
            .max()
            .unwrap_or(0);
        if got.len() != want.len() || diff > 0 {
            failures.push(format!(
                "{key} ({}): {diff} of {} bytes differ, max {max}",
                src.mode(),
                want.len()
            ));
        }
        cases += 1;
    }
    assert!(cases >= 50, "only {cases} resize cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn explicit_pass_orders_match_pillow_two_pass_resizes() {
    let bytes = expected_bytes();
    let st = SafeTensors::deserialize(&bytes).expect("parse expected.safetensors");
    let mut cases = 0;
    let mut failures = Vec::new();
    for (key, view) in st.tensors() {
        let Some(rest) = key.strip_prefix("resize_order/") else {
            continue;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (name, fname, size, tag) = (parts[0], parts[1], parts[2], parts[3]);
        let (w, h) = size.split_once('x').expect("WxH");
        let (w, h): (u32, u32) = (w.parse().unwrap(), h.parse().unwrap());
        let order = match tag {
            "h" => PassOrder::HorizontalFirst,
            "v" => PassOrder::VerticalFirst,
            other => panic!("unknown order {other}"),
        };
        let src = PilImage::from_dynamic(&load(name));
        let got = raw(&src.resize_with(w, h, filter(fname), order).expect("resize"));
        let diff = got.iter().zip(view.data()).filter(|(a, b)| a != b).count();
        if got.len() != view.data().len() || diff > 0 {
            failures.push(format!("{key}: {diff} bytes differ"));
        }
        cases += 1;
    }
    assert!(cases >= 40, "only {cases} pass-order cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn clip_matches_torchvision() {
    let bytes = expected_bytes();
    let st = SafeTensors::deserialize(&bytes).expect("parse expected.safetensors");
    let mut cases = 0;
    for (key, view) in st.tensors() {
        let Some(rest) = key.strip_prefix("clip/") else {
            continue;
        };
        let (name, n_px) = rest.split_once('/').expect("name/n_px");
        let n_px: usize = n_px.parse().unwrap();
        assert_eq!(view.shape(), [3, n_px, n_px], "{key}");
        let got = preprocess_clip(&load(name), n_px).expect("preprocess_clip");
        let (max, not_bit_exact) = compare(&got, &f32s(view.data()));
        eprintln!("{key}: max |diff| {max:e}, {not_bit_exact} values not bit-identical");
        assert!(max <= 1e-6, "{key}: max |diff| {max}");
        cases += 1;
    }
    assert!(cases >= 8, "only {cases} CLIP cases found");
}

#[test]
fn detr_matches_torchvision() {
    let bytes = expected_bytes();
    let st = SafeTensors::deserialize(&bytes).expect("parse expected.safetensors");
    let mut cases = 0;
    for (key, view) in st.tensors() {
        let Some(rest) = key.strip_prefix("detr/") else {
            continue;
        };
        let (name, sizes) = rest.split_once('/').expect("name/sizes");
        let (shorter, max_size) = sizes.split_once('_').expect("shorter_max");
        let shorter: u32 = shorter.parse().unwrap();
        let max_size: u32 = max_size.parse().unwrap();
        let max_size = (max_size > 0).then_some(max_size);
        let (got, shape) = preprocess_detr(&load(name), shorter, max_size).expect("preprocess");
        assert_eq!(shape.as_slice(), view.shape(), "{key}");
        let (max, not_bit_exact) = compare(&got, &f32s(view.data()));
        eprintln!("{key}: max |diff| {max:e}, {not_bit_exact} values not bit-identical");
        assert!(max <= 1e-6, "{key}: max |diff| {max}");
        cases += 1;
    }
    assert!(cases >= 8, "only {cases} DETR cases found");
}

#[test]
fn size_rules_match_the_references() {
    let bytes = expected_bytes();
    let st = SafeTensors::deserialize(&bytes).expect("parse expected.safetensors");

    let clip = st.tensor("clip_sizes").expect("clip_sizes");
    let rows = i32s(clip.data());
    assert!(rows.len() > 7 * 100);
    for r in rows.chunks_exact(7) {
        let (w, h, n) = (r[0] as u32, r[1] as u32, r[2] as u32);
        let (nw, nh) = clip_resized_size(w, h, n);
        assert_eq!(
            (nw as i64, nh as i64),
            (r[3], r[4]),
            "Resize({n}) of {w}x{h}"
        );
        assert_eq!(
            center_crop_offsets(nw, nh, n, n),
            (r[5], r[6]),
            "CenterCrop({n}) of {nw}x{nh}"
        );
    }

    let detr = st.tensor("detr_sizes").expect("detr_sizes");
    let rows = i32s(detr.data());
    assert!(rows.len() > 6 * 100);
    for r in rows.chunks_exact(6) {
        let (w, h, s) = (r[0] as u32, r[1] as u32, r[2] as u32);
        let max = (r[3] > 0).then_some(r[3] as u32);
        let (ow, oh) = detr_target_size(w, h, s, max);
        assert_eq!((ow as i64, oh as i64), (r[4], r[5]), "{w}x{h} {s} {max:?}");
    }
}

#[test]
fn empty_images_are_errors_not_panics() {
    for img in [
        DynamicImage::new_rgb8(0, 0),
        DynamicImage::new_rgb8(0, 7),
        DynamicImage::new_luma8(7, 0),
        DynamicImage::new_rgba8(0, 0),
    ] {
        assert!(matches!(
            preprocess_clip(&img, 16),
            Err(HoiclipError::Image { .. })
        ));
        assert!(matches!(
            preprocess_detr(&img, 800, Some(1333)),
            Err(HoiclipError::Image { .. })
        ));
    }
    let ok = DynamicImage::new_rgb8(4, 4);
    assert!(matches!(
        preprocess_clip(&ok, 0),
        Err(HoiclipError::Image { .. })
    ));
    let device = BackendChoice::compiled()[0].device().expect("device");
    let err = preprocess_clip_batch(&[ok.clone(), DynamicImage::new_rgb8(0, 0)], 8, &device)
        .expect_err("second image is empty");
    assert!(err.to_string().contains("input 1"), "{err}");
    assert!(preprocess_clip_batch(&[], 8, &device).is_err());
}

#[test]
fn batch_stacks_single_images() {
    let device = BackendChoice::compiled()[0].device().expect("device");
    let images = [load("rgb_37x23"), load("rgba_29x31"), load("l_17x41")];
    let batch = preprocess_clip_batch(&images, 16, &device).expect("batch");
    assert_eq!(batch.dims(), [3, 3, 16, 16]);
    let data = batch.into_data().try_to_vec::<f32>().expect("f32 data");
    for (i, img) in images.iter().enumerate() {
        let single = preprocess_clip(img, 16).expect("single");
        assert_eq!(&data[i * 3 * 256..(i + 1) * 3 * 256], single.as_slice());
    }
}

#[test]
fn wide_formats_map_to_eight_bits() {
    let rgb = load("rgb_37x23").to_rgb8();
    let want = preprocess_clip(&DynamicImage::ImageRgb8(rgb.clone()), 16).unwrap();

    // 16-bit: high byte (v * 257 >> 8 == v).
    let wide = image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::from_raw(
        rgb.width(),
        rgb.height(),
        rgb.as_raw().iter().map(|&v| u16::from(v) * 257).collect(),
    )
    .unwrap();
    assert_eq!(
        preprocess_clip(&DynamicImage::ImageRgb16(wide), 16).unwrap(),
        want
    );

    // Float: round(v * 255), NaN → 0, clamped.
    let float = image::Rgb32FImage::from_raw(
        rgb.width(),
        rgb.height(),
        rgb.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect(),
    )
    .unwrap();
    assert_eq!(
        preprocess_clip(&DynamicImage::ImageRgb32F(float), 16).unwrap(),
        want
    );
    let odd = image::Rgb32FImage::from_raw(2, 1, vec![f32::NAN, -1.0, 2.0, 0.5, 0.0, 1.0]).unwrap();
    let PilImage::Rgb(mapped) = PilImage::from_dynamic(&DynamicImage::ImageRgb32F(odd)) else {
        panic!("float RGB must map to RGB");
    };
    assert_eq!(mapped.as_raw(), &[0, 0, 255, 128, 0, 255]);
}

#[test]
fn constants_are_the_references() {
    // numpy.float32 of the Python floats, as torch's Normalize holds them.
    assert_eq!(
        CLIP_MEAN.map(f32::to_bits),
        [0x3ef6_813a, 0x3eea_685e, 0x3ed1_00ff]
    );
    assert_eq!(
        CLIP_STD.map(f32::to_bits),
        [0x3e89_89d0, 0x3e85_c974, 0x3e8d_32a8]
    );
}

#[test]
fn image_size_reads_the_header_and_names_bad_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let png = dir.path().join("a.png");
    image::RgbImage::new(7, 5).save(&png).expect("png");
    assert_eq!(hoiclip::imaging::image_size(&png).expect("size"), (7, 5));
    let missing = dir.path().join("missing.jpg");
    let err = hoiclip::imaging::image_size(&missing)
        .expect_err("missing")
        .to_string();
    assert!(err.contains("missing.jpg"), "{err}");
    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "not an image").expect("write");
    let err = hoiclip::imaging::image_size(&text)
        .expect_err("not an image")
        .to_string();
    assert!(err.contains("notes.jpg"), "{err}");
}
