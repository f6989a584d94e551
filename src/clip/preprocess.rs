//! CLIP's reference image transform (openai/CLIP `clip/clip.py`, `_transform(n_px)`):
//!
//! ```text
//! Resize(n_px, interpolation=BICUBIC)   # torchvision on a PIL image → Pillow resize
//! CenterCrop(n_px)
//! convert("RGB")
//! ToTensor()                            # / 255
//! Normalize(CLIP_MEAN, CLIP_STD)
//! ```
//!
//! The resize happens in the image's own Pillow mode (`RGBA` and `LA` premultiplied, as Pillow
//! does) and the conversion to RGB after the crop, in that order. How an
//! [`image::DynamicImage`] maps to a Pillow mode (16-bit and float images) is described in
//! [`crate::imaging::pil_image`]. The resampled pixels are byte-identical to Pillow's, and the
//! tensor values are computed with the same `f32` operations as torch; see
//! `docs/preprocessing.md`.

use burn::tensor::{Device, Tensor, TensorData};
use image::DynamicImage;

use crate::error::{HoiclipError, Result};
use crate::imaging::pil_image::{PilImage, to_tensor_normalized};
use crate::imaging::pil_resample::Filter;

/// CLIP's per-channel (R, G, B) normalisation mean, as torch holds it (`f32` of the Python
/// float).
pub const CLIP_MEAN: [f32; 3] = [
    0.48145466_f64 as f32,
    0.4578275_f64 as f32,
    0.40821073_f64 as f32,
];

/// CLIP's per-channel (R, G, B) normalisation standard deviation, as torch holds it.
pub const CLIP_STD: [f32; 3] = [
    0.26862954_f64 as f32,
    0.26130258_f64 as f32,
    0.27577711_f64 as f32,
];

/// torchvision `Resize(n_px)` output size `(width, height)` for a `width x height` image: the
/// shorter side becomes `n_px`, the longer `int(n_px * long / short)` (Python float division,
/// truncated), as `_compute_resized_output_size` computes it. A zero side gives `(0, 0)`.
pub fn clip_resized_size(width: u32, height: u32, n_px: u32) -> (u32, u32) {
    if width == 0 || height == 0 {
        return (0, 0);
    }
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let new_long = ((u64::from(n_px) * u64::from(long)) as f64 / f64::from(short)) as u32;
    if width <= height {
        (n_px, new_long)
    } else {
        (new_long, n_px)
    }
}

/// Python's `round()` on a float: to nearest, ties to even.
fn round_half_even(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        (2.0 * (x / 2.0).round()) as i64
    } else {
        r as i64
    }
}

/// torchvision `center_crop` offsets `(left, top)` of a `crop_width x crop_height` crop from a
/// `width x height` image: `int(round((size - crop) / 2.0))` (ties to even) per axis. Where the
/// image is smaller than the crop, torchvision pads it with zeros first,
/// `(crop - size) // 2` before; the offset returned is then that padding, negated.
pub fn center_crop_offsets(
    width: u32,
    height: u32,
    crop_width: u32,
    crop_height: u32,
) -> (i64, i64) {
    fn axis(size: u32, crop: u32) -> i64 {
        if crop > size {
            -i64::from((crop - size) / 2)
        } else {
            round_half_even(f64::from(size - crop) / 2.0)
        }
    }
    (axis(width, crop_width), axis(height, crop_height))
}

/// One image → CLIP's normalised CHW `f32` input, `[3, n_px, n_px]`, as a `Vec` in row-major
/// order (`out[c * n_px * n_px + y * n_px + x]`).
///
/// # Errors
///
/// [`HoiclipError::Image`] if the image has a zero side, `n_px` is zero, or the resize would
/// make a side zero.
pub fn preprocess_clip(image: &DynamicImage, n_px: usize) -> Result<Vec<f32>> {
    preprocess_clip_named(image, n_px, "input")
}

fn preprocess_clip_named(image: &DynamicImage, n_px: usize, what: &str) -> Result<Vec<f32>> {
    let err = |reason: String| HoiclipError::Image {
        what: what.to_string(),
        reason,
    };
    let n = u32::try_from(n_px)
        .ok()
        .filter(|&n| n > 0 && n <= 1 << 15)
        .ok_or_else(|| err(format!("CLIP input size n_px = {n_px} is not in 1..=32768")))?;
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 {
        return Err(err(format!(
            "is {w}x{h}; both sides must be at least 1 pixel"
        )));
    }
    let pil = PilImage::from_dynamic(image);
    let (nw, nh) = clip_resized_size(w, h, n);
    if nw == 0 || nh == 0 {
        return Err(err(format!(
            "{w}x{h} would resize to {nw}x{nh} for n_px = {n_px}"
        )));
    }
    let resized = pil
        .resize(nw, nh, Filter::Bicubic)
        .map_err(|e| err(e.to_string()))?;
    let (left, top) = center_crop_offsets(nw, nh, n, n);
    let rgb = resized.crop(left, top, n, n).into_rgb();
    Ok(to_tensor_normalized(&rgb, CLIP_MEAN, CLIP_STD))
}

/// Many images → CLIP's input batch, a `[batch, 3, n_px, n_px]` tensor on `device`.
///
/// # Errors
///
/// [`HoiclipError::Image`] (naming `input <i>`) for the first unusable image, or if `images`
/// is empty.
pub fn preprocess_clip_batch(
    images: &[DynamicImage],
    n_px: usize,
    device: &Device,
) -> Result<Tensor<4>> {
    if images.is_empty() {
        return Err(HoiclipError::Image {
            what: "batch".to_string(),
            reason: "no images given".to_string(),
        });
    }
    let mut data = Vec::with_capacity(images.len() * 3 * n_px * n_px);
    for (i, image) in images.iter().enumerate() {
        data.extend(preprocess_clip_named(image, n_px, &format!("input {i}"))?);
    }
    Ok(Tensor::<4>::from_data(
        TensorData::new(data, [images.len(), 3, n_px, n_px]),
        device,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_round() {
        assert_eq!(round_half_even(0.5), 0);
        assert_eq!(round_half_even(1.5), 2);
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(2.4), 2);
        assert_eq!(round_half_even(2.6), 3);
        assert_eq!(round_half_even(0.0), 0);
    }

    #[test]
    fn sizes() {
        assert_eq!(clip_resized_size(640, 480, 224), (298, 224));
        assert_eq!(clip_resized_size(480, 640, 224), (224, 298));
        assert_eq!(center_crop_offsets(298, 224, 224, 224), (37, 0));
        assert_eq!(center_crop_offsets(5, 5, 8, 9), (-1, -2));
    }

    #[test]
    fn empty_image_is_an_error() {
        let img = DynamicImage::new_rgb8(0, 0);
        assert!(matches!(
            preprocess_clip(&img, 16),
            Err(HoiclipError::Image { .. })
        ));
    }
}
