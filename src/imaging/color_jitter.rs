//! torchvision's `ColorJitter` on a PIL image, bit for bit: `adjust_brightness`,
//! `adjust_contrast` and `adjust_saturation` call Pillow's `ImageEnhance.Brightness`,
//! `Contrast` and `Color`, each `Image.blend(degenerate, image, factor)`:
//!
//! - **blend** (Pillow `ImagingBlend`, `alpha` a C `float`): `in1 + alpha * (in2 - in1)` in
//!   `f32`, truncated to `u8`; for `alpha` outside `[0, 1]` the value is clipped to
//!   `[0, 255]` first;
//! - **brightness**: the degenerate image is black;
//! - **contrast**: a flat grey image of `int(mean + 0.5)`, the mean of the image's `L`
//!   conversion (`ImageStat`, in `f64`);
//! - **saturation**: the image's `L` conversion, back to RGB;
//! - **`L`** (Pillow `rgb2l`): `(19595 r + 38470 g + 7471 b + 0x8000) >> 16`.

use image::RgbImage;

/// One of `ColorJitter`'s adjustments, numbered as its `fn_idx` (`hue`, 3, has no variant:
/// the authors' jitter leaves hue alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorAdjustment {
    /// `fn_idx` 0.
    Brightness,
    /// `fn_idx` 1.
    Contrast,
    /// `fn_idx` 2.
    Saturation,
}

/// Pillow's `RGB` → `L`.
fn luma(p: [u8; 3]) -> u8 {
    ((u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471 + 0x8000) >> 16)
        as u8
}

/// Pillow's `ImagingBlend` of one channel value.
fn blend(degenerate: u8, value: u8, alpha: f32) -> u8 {
    let v = f32::from(degenerate) + alpha * (f32::from(value) - f32::from(degenerate));
    if (0.0..=1.0).contains(&alpha) {
        v as u8
    } else if v <= 0.0 {
        0
    } else if v >= 255.0 {
        255
    } else {
        v as u8
    }
}

/// Apply `adjustment` with `factor` (torchvision's `adjust_*` on a PIL image) in place.
pub fn adjust(image: &mut RgbImage, adjustment: ColorAdjustment, factor: f64) {
    // Pillow takes `alpha` as a C float.
    let alpha = factor as f32;
    match adjustment {
        ColorAdjustment::Brightness => {
            for v in image.iter_mut() {
                *v = blend(0, *v, alpha);
            }
        }
        ColorAdjustment::Contrast => {
            let count = u64::from(image.width()) * u64::from(image.height());
            if count == 0 {
                return;
            }
            let sum: u64 = image.pixels().map(|p| u64::from(luma(p.0))).sum();
            let mean = (sum as f64 / count as f64 + 0.5) as u8;
            for v in image.iter_mut() {
                *v = blend(mean, *v, alpha);
            }
        }
        ColorAdjustment::Saturation => {
            for p in image.pixels_mut() {
                let grey = luma(p.0);
                p.0 = p.0.map(|v| blend(grey, v, alpha));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_one_is_the_identity_and_zero_the_degenerate() {
        let image = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8 * 90, 7]));
        for adj in [
            ColorAdjustment::Brightness,
            ColorAdjustment::Contrast,
            ColorAdjustment::Saturation,
        ] {
            let mut same = image.clone();
            adjust(&mut same, adj, 1.0);
            assert_eq!(same, image, "{adj:?}");
        }
        let mut black = image.clone();
        adjust(&mut black, ColorAdjustment::Brightness, 0.0);
        assert!(black.iter().all(|&v| v == 0));
        let mut grey = image.clone();
        adjust(&mut grey, ColorAdjustment::Saturation, 0.0);
        assert!(grey.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
    }

    #[test]
    fn extrapolation_clips() {
        let mut image = RgbImage::from_pixel(2, 2, image::Rgb([200, 10, 128]));
        adjust(&mut image, ColorAdjustment::Brightness, 1.4);
        assert_eq!(image.get_pixel(0, 0).0, [255, 14, 179]);
    }
}
