//! The DETR / GEN-VLKT / HOICLIP test-time image transform of the detection branch:
//!
//! ```text
//! Image.open(path).convert("RGB")             # datasets/hico.py, coco.py
//! T.RandomResize([800], max_size=1333)        # → resize(): get_size_with_aspect_ratio, F.resize
//! T.ToTensor()
//! T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
//! ```
//!
//! `F.resize(img, (h, w))` on a PIL image is Pillow `img.resize((w, h), BILINEAR)`:
//! torchvision's default interpolation is bilinear, and its `antialias` argument only affects
//! tensors (Pillow always widens the filter when downscaling). The result is byte-identical
//! to Pillow; see `docs/preprocessing.md`.

use image::{DynamicImage, RgbImage};

use super::pil_image::{PilImage, to_tensor_normalized};
use super::pil_resample::Filter;
use crate::error::{HoiclipError, Result};

/// ImageNet normalisation mean (R, G, B), as torch holds it (`f32` of the Python float).
pub const IMAGENET_MEAN: [f32; 3] = [0.485_f64 as f32, 0.456_f64 as f32, 0.406_f64 as f32];

/// ImageNet normalisation standard deviation (R, G, B), as torch holds it.
pub const IMAGENET_STD: [f32; 3] = [0.229_f64 as f32, 0.224_f64 as f32, 0.225_f64 as f32];

/// The reference test-time shorter side (`T.RandomResize([800], max_size=1333)`).
pub const DETR_SHORTER: u32 = 800;

/// The reference test-time cap on the longer side.
pub const DETR_MAX_SIZE: u32 = 1333;

/// Python's `round()` on a float: to nearest, ties to even.
fn round_half_even(x: f64) -> f64 {
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        x.round()
    }
}

/// DETR's `get_size_with_aspect_ratio` (facebookresearch/detr `datasets/transforms.py`): the
/// output size **`(width, height)`** for a `width x height` image resized so that its shorter
/// side is `shorter`, unless the longer side would then exceed `max_size`, in which case the
/// shorter side becomes `int(round(max_size * short / long))`. The longer side is
/// `int(size * long / short)` (Python float division, truncated). If the shorter side already
/// has the target length the size is returned unchanged. A zero side returns the input size.
pub fn detr_target_size(
    width: u32,
    height: u32,
    shorter: u32,
    max_size: Option<u32>,
) -> (u32, u32) {
    if width == 0 || height == 0 {
        return (width, height);
    }
    let (w, h) = (f64::from(width), f64::from(height));
    let mut size = i64::from(shorter);
    if let Some(max_size) = max_size {
        let min_original = w.min(h);
        let max_original = w.max(h);
        if max_original / min_original * size as f64 > f64::from(max_size) {
            size = round_half_even(f64::from(max_size) * min_original / max_original) as i64;
        }
    }
    let size = size.clamp(0, i64::from(u32::MAX)) as u32;
    if (width <= height && width == size) || (height <= width && height == size) {
        return (width, height);
    }
    // `int(size * h / w)`: exact integer product, then one correctly rounded division.
    let scaled =
        |num: u32, den: u32| ((u64::from(size) * u64::from(num)) as f64 / f64::from(den)) as u32;
    if width < height {
        (size, scaled(height, width))
    } else {
        (scaled(width, height), size)
    }
}

/// The reference's test-time resize (`T.RandomResize([800], max_size=1333)` on the RGB PIL
/// image): the image converted to RGB and resized with Pillow's bilinear filter to
/// [`detr_target_size`]. HOICLIP feeds this image both to the detection branch (after
/// [`to_tensor_normalized`]) and to CLIP's preprocessing.
///
/// # Errors
///
/// [`HoiclipError::Image`] if the image has a zero side or the target size has a zero side.
pub fn resize_detr(image: &DynamicImage, shorter: u32, max_size: Option<u32>) -> Result<RgbImage> {
    let err = |reason: String| HoiclipError::Image {
        what: "input".to_string(),
        reason,
    };
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 {
        return Err(err(format!(
            "is {w}x{h}; both sides must be at least 1 pixel"
        )));
    }
    let (ow, oh) = detr_target_size(w, h, shorter, max_size);
    if ow == 0 || oh == 0 {
        return Err(err(format!(
            "{w}x{h} would resize to {ow}x{oh} (shorter side {shorter}, max size {max_size:?})"
        )));
    }
    let rgb = PilImage::Rgb(PilImage::from_dynamic(image).into_rgb());
    Ok(rgb
        .resize(ow, oh, Filter::Bilinear)
        .map_err(|e| err(e.to_string()))?
        .into_rgb())
}

/// The detection branch's input: [`resize_detr`], then `ToTensor` and ImageNet
/// `Normalize`. Returns the CHW values in row-major order and their shape
/// `[3, height, width]`.
///
/// # Errors
///
/// As [`resize_detr`].
pub fn preprocess_detr(
    image: &DynamicImage,
    shorter: u32,
    max_size: Option<u32>,
) -> Result<(Vec<f32>, [usize; 3])> {
    let resized = resize_detr(image, shorter, max_size)?;
    let (ow, oh) = resized.dimensions();
    let data = to_tensor_normalized(&resized, IMAGENET_MEAN, IMAGENET_STD);
    Ok((data, [3, oh as usize, ow as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_sizes() {
        assert_eq!(detr_target_size(640, 480, 800, Some(1333)), (1066, 800));
        assert_eq!(detr_target_size(480, 640, 800, Some(1333)), (800, 1066));
        assert_eq!(detr_target_size(3000, 100, 800, Some(1333)), (1320, 44));
        assert_eq!(detr_target_size(800, 1000, 800, Some(1333)), (800, 1000));
    }

    #[test]
    fn empty_image_is_an_error() {
        assert!(preprocess_detr(&DynamicImage::new_rgb8(0, 5), 800, Some(1333)).is_err());
        assert!(preprocess_detr(&DynamicImage::new_rgb8(3000, 1), 800, Some(1333)).is_err());
    }
}
