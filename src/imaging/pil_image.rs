//! An 8-bit image in one of Pillow's modes (`L`, `LA`, `RGB`, `RGBA`), with the Pillow and
//! torchvision operations the reference pipelines apply to it: `resize`, `crop`,
//! `convert("RGB")`, and `ToTensor` + `Normalize`.
//!
//! [`PilImage::from_dynamic`] maps an [`image::DynamicImage`] to the mode Pillow would hold for
//! the same picture:
//!
//! | `DynamicImage`              | Pillow mode | conversion                                  |
//! |-----------------------------|-------------|---------------------------------------------|
//! | `ImageLuma8`                | `L`         | none                                        |
//! | `ImageLumaA8`               | `LA`        | none                                        |
//! | `ImageRgb8`                 | `RGB`       | none                                        |
//! | `ImageRgba8`                | `RGBA`      | none                                        |
//! | `ImageLuma16`, `ImageLumaA16`, `ImageRgb16`, `ImageRgba16` | `L`, `LA`, `RGB`, `RGBA` | high byte, `v >> 8` |
//! | `ImageRgb32F`, `ImageRgba32F` | `RGB`, `RGBA` | `round(clamp(v, 0, 1) * 255)`, NaN → 0  |
//!
//! The high byte is what Pillow's PNG decoder keeps for 16-bit `RGB`, `RGBA` and `LA` PNGs.
//! (Pillow opens a 16-bit grey PNG as mode `I;16` instead, whose `convert("RGB")` saturates
//! every value above 255 to white; that is not mirrored.)

use image::{DynamicImage, GrayAlphaImage, GrayImage, ImageBuffer, Pixel, RgbImage, RgbaImage};

use super::pil_resample::{self, Filter, PassOrder};
use crate::error::Result;

/// An 8-bit image in the Pillow mode it would have after `Image.open` (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum PilImage {
    /// Mode `L`: 8-bit grey.
    L(GrayImage),
    /// Mode `LA`: 8-bit grey and alpha.
    La(GrayAlphaImage),
    /// Mode `RGB`.
    Rgb(RgbImage),
    /// Mode `RGBA` (straight, not premultiplied, alpha).
    Rgba(RgbaImage),
}

/// `u16 → u8` by the high byte.
fn high_byte<P, Q>(src: &ImageBuffer<P, Vec<u16>>) -> ImageBuffer<Q, Vec<u8>>
where
    P: Pixel<Subpixel = u16>,
    Q: Pixel<Subpixel = u8>,
{
    let data = src.as_raw().iter().map(|&v| (v >> 8) as u8).collect();
    ImageBuffer::from_raw(src.width(), src.height(), data).unwrap_or_else(|| ImageBuffer::new(0, 0))
}

/// `f32 → u8`: `round(clamp(v, 0, 1) * 255)`, NaN → 0.
fn float_to_u8<P, Q>(src: &ImageBuffer<P, Vec<f32>>) -> ImageBuffer<Q, Vec<u8>>
where
    P: Pixel<Subpixel = f32>,
    Q: Pixel<Subpixel = u8>,
{
    let data = src
        .as_raw()
        .iter()
        .map(|&v| {
            if v.is_nan() {
                0
            } else {
                (v.clamp(0.0, 1.0) * 255.0).round() as u8
            }
        })
        .collect();
    ImageBuffer::from_raw(src.width(), src.height(), data).unwrap_or_else(|| ImageBuffer::new(0, 0))
}

impl PilImage {
    /// Maps a decoded image to its Pillow mode, converting 16-bit and float images to 8 bits
    /// (rules in the module docs).
    pub fn from_dynamic(image: &DynamicImage) -> Self {
        match image {
            DynamicImage::ImageLuma8(i) => PilImage::L(i.clone()),
            DynamicImage::ImageLumaA8(i) => PilImage::La(i.clone()),
            DynamicImage::ImageRgb8(i) => PilImage::Rgb(i.clone()),
            DynamicImage::ImageRgba8(i) => PilImage::Rgba(i.clone()),
            DynamicImage::ImageLuma16(i) => PilImage::L(high_byte(i)),
            DynamicImage::ImageLumaA16(i) => PilImage::La(high_byte(i)),
            DynamicImage::ImageRgb16(i) => PilImage::Rgb(high_byte(i)),
            DynamicImage::ImageRgba16(i) => PilImage::Rgba(high_byte(i)),
            DynamicImage::ImageRgb32F(i) => PilImage::Rgb(float_to_u8(i)),
            DynamicImage::ImageRgba32F(i) => PilImage::Rgba(float_to_u8(i)),
            // `DynamicImage` is non-exhaustive: a future layout goes through RGBA.
            other => PilImage::Rgba(float_to_u8(&other.to_rgba32f())),
        }
    }

    /// Pillow's mode name: `"L"`, `"LA"`, `"RGB"` or `"RGBA"`.
    pub fn mode(&self) -> &'static str {
        match self {
            PilImage::L(_) => "L",
            PilImage::La(_) => "LA",
            PilImage::Rgb(_) => "RGB",
            PilImage::Rgba(_) => "RGBA",
        }
    }

    /// `(width, height)` in pixels.
    pub fn dimensions(&self) -> (u32, u32) {
        match self {
            PilImage::L(i) => i.dimensions(),
            PilImage::La(i) => i.dimensions(),
            PilImage::Rgb(i) => i.dimensions(),
            PilImage::Rgba(i) => i.dimensions(),
        }
    }

    /// Pillow `img.resize((width, height), filter)` in the image's own mode (premultiplied
    /// alpha for `LA` and `RGBA`, as Pillow does), with Pillow 13's pass order.
    ///
    /// # Errors
    ///
    /// [`crate::HoiclipError::Image`] if the source or target size is zero.
    pub fn resize(&self, width: u32, height: u32, filter: Filter) -> Result<Self> {
        self.resize_with(width, height, filter, PassOrder::Pillow13)
    }

    /// [`PilImage::resize`] with an explicit [`PassOrder`] (for parity with another Pillow
    /// version).
    ///
    /// # Errors
    ///
    /// [`crate::HoiclipError::Image`] if the source or target size is zero.
    pub fn resize_with(
        &self,
        width: u32,
        height: u32,
        filter: Filter,
        order: PassOrder,
    ) -> Result<Self> {
        use pil_resample::{resize_luma_alpha8_with, resize_rgba8_with, resize_straight_with};
        Ok(match self {
            PilImage::L(i) => PilImage::L(resize_straight_with(i, width, height, filter, order)?),
            PilImage::La(i) => {
                PilImage::La(resize_luma_alpha8_with(i, width, height, filter, order)?)
            }
            PilImage::Rgb(i) => {
                PilImage::Rgb(resize_straight_with(i, width, height, filter, order)?)
            }
            PilImage::Rgba(i) => {
                PilImage::Rgba(resize_rgba8_with(i, width, height, filter, order)?)
            }
        })
    }

    /// Pillow `img.crop((left, top, left + width, top + height))`: pixels outside the image
    /// are zero (all bands, alpha included), as Pillow and torchvision's zero padding give.
    pub fn crop(&self, left: i64, top: i64, width: u32, height: u32) -> Self {
        fn crop_buffer<P: Pixel<Subpixel = u8>>(
            src: &ImageBuffer<P, Vec<u8>>,
            left: i64,
            top: i64,
            width: u32,
            height: u32,
        ) -> ImageBuffer<P, Vec<u8>> {
            let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
            let mut out = ImageBuffer::<P, Vec<u8>>::new(width, height);
            for (x, y, px) in out.enumerate_pixels_mut() {
                let (sx, sy) = (left + i64::from(x), top + i64::from(y));
                if (0..sw).contains(&sx) && (0..sh).contains(&sy) {
                    *px = *src.get_pixel(sx as u32, sy as u32);
                }
            }
            out
        }
        match self {
            PilImage::L(i) => PilImage::L(crop_buffer(i, left, top, width, height)),
            PilImage::La(i) => PilImage::La(crop_buffer(i, left, top, width, height)),
            PilImage::Rgb(i) => PilImage::Rgb(crop_buffer(i, left, top, width, height)),
            PilImage::Rgba(i) => PilImage::Rgba(crop_buffer(i, left, top, width, height)),
        }
    }

    /// Pillow `img.convert("RGB")`: grey is replicated, alpha is dropped (not composited).
    pub fn into_rgb(self) -> RgbImage {
        match self {
            PilImage::Rgb(i) => i,
            PilImage::L(i) => {
                let (w, h) = i.dimensions();
                RgbImage::from_fn(w, h, |x, y| {
                    let v = i.get_pixel(x, y).0[0];
                    image::Rgb([v, v, v])
                })
            }
            PilImage::La(i) => {
                let (w, h) = i.dimensions();
                RgbImage::from_fn(w, h, |x, y| {
                    let v = i.get_pixel(x, y).0[0];
                    image::Rgb([v, v, v])
                })
            }
            PilImage::Rgba(i) => {
                let (w, h) = i.dimensions();
                RgbImage::from_fn(w, h, |x, y| {
                    let [r, g, b, _] = i.get_pixel(x, y).0;
                    image::Rgb([r, g, b])
                })
            }
        }
    }
}

/// torchvision `ToTensor()` then `Normalize(mean, std)` of an RGB image: CHW `[3, height,
/// width]` in row-major order, each value `(v as f32 / 255 - mean[c]) / std[c]` in `f32`, the
/// same IEEE operations torch performs.
pub fn to_tensor_normalized(rgb: &RgbImage, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let (w, h) = rgb.dimensions();
    let plane = w as usize * h as usize;
    let mut out = vec![0.0_f32; 3 * plane];
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            let v = f32::from(px.0[c]) / 255.0;
            out[c * plane + i] = (v - mean[c]) / std[c];
        }
    }
    out
}
