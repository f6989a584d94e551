//! Pillow's `Image.resize` for 8-bit images, byte for byte.
//!
//! A re-implementation (not a translation) of `ImagingResample` in Pillow's
//! `libImaging/Resample.c` as called by `img.resize(size, resample)` with no `box` and no
//! `reducing_gap` (Pillow 13.0):
//!
//! * convolution-based, separable: two one-axis passes, each rounded and clipped to `u8`; a
//!   pass is skipped when its axis keeps its size. The order matters (the intermediate image is
//!   rounded) and depends on the Pillow version, see [`PassOrder`]. By default Pillow 13's rule
//!   is used: vertical first when the height shrinks by more than twice as many pixels as the
//!   width does, horizontal first otherwise;
//! * the filter's support is widened by the downscale factor (`max(in / out, 1)`), so
//!   downscaling is antialiased;
//! * per output pixel the coefficients are computed in `f64`, normalised to sum 1, then turned
//!   into fixed point with 22 fractional bits (`PRECISION_BITS = 32 - 8 - 2`); the sums start at
//!   one half, are shifted back and clipped to `0..=255` after each pass;
//! * `RGBA` and `LA` images are resized premultiplied (`RGBa`, `La`): Pillow converts to
//!   premultiplied alpha, resizes, and converts back, with Pillow's integer rounding both ways;
//! * a resize to the image's own size returns a copy, untouched (no premultiplication round
//!   trip).
//!
//! The functions here work on interleaved 8-bit buffers ([`resample_u8`], [`resample_u8_with`])
//! or on `image` crate buffers ([`resize_luma8`], [`resize_luma_alpha8`], [`resize_rgb8`],
//! [`resize_rgba8`]).

use image::{GrayAlphaImage, GrayImage, ImageBuffer, Pixel, RgbImage, RgbaImage};

use crate::error::{HoiclipError, Result};

/// Fractional bits of the fixed-point coefficients (Pillow's `PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// A resampling filter of Pillow's `Image.resize` (Pillow's `Image.Resampling`, except
/// `NEAREST`, which Pillow implements as an affine transform rather than a convolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// `Image.Resampling.BOX`: each output pixel averages the input pixels it covers
    /// (support 0.5).
    Box,
    /// `Image.Resampling.BILINEAR`: triangle filter (support 1). torchvision's default on PIL
    /// images.
    Bilinear,
    /// `Image.Resampling.HAMMING`: Hamming-windowed sinc (support 1).
    Hamming,
    /// `Image.Resampling.BICUBIC`: Keys cubic convolution with `a = -0.5` (support 2). CLIP's
    /// resize and Pillow's default.
    Bicubic,
    /// `Image.Resampling.LANCZOS`: Lanczos-windowed sinc with 3 lobes (support 3).
    Lanczos,
}

impl Filter {
    /// The filter's support (half width) in input pixels, before widening for downscaling.
    pub fn support(self) -> f64 {
        match self {
            Filter::Box => 0.5,
            Filter::Bilinear | Filter::Hamming => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    /// The filter's kernel at `x`, evaluated exactly as Pillow does (same operation order in
    /// `f64`).
    pub fn kernel(self, x: f64) -> f64 {
        match self {
            Filter::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 { 1.0 - x } else { 0.0 }
            }
            Filter::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * std::f64::consts::PI;
                    // Pillow writes the window's constants as C `float` literals.
                    x.sin() / x * (f64::from(0.54_f32) + f64::from(0.46_f32) * x.cos())
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

/// Which of the two passes runs first. Pillow's output depends on it by a least significant
/// bit or more (sharp filters, strong downscaling), and Pillow changed the rule in 13.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PassOrder {
    /// Pillow 13.0's rule (`ImagingResampleInner`): vertical first when
    /// `in_h - out_h > 0 && in_h - out_h > 2 * (in_w - out_w)`, else horizontal first. For
    /// aspect-preserving resizes this means vertical first only for images more than about
    /// twice as tall as wide that are shrunk.
    #[default]
    Pillow13,
    /// Always horizontal first: Pillow up to 12.1 (and 12.2 to 12.3 except for images more
    /// than 100 times taller than wide that are shrunk vertically, which those resize
    /// vertically first).
    HorizontalFirst,
    /// Always vertical first.
    VerticalFirst,
}

impl PassOrder {
    /// Whether the horizontal pass runs first for this resize.
    pub fn horizontal_first(
        self,
        width: u32,
        height: u32,
        out_width: u32,
        out_height: u32,
    ) -> bool {
        match self {
            PassOrder::Pillow13 => {
                let dh = i64::from(height) - i64::from(out_height);
                let dw = i64::from(width) - i64::from(out_width);
                !(dh > 0 && dh > dw * 2)
            }
            PassOrder::HorizontalFirst => true,
            PassOrder::VerticalFirst => false,
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

/// Fixed-point coefficients of one axis: for output index `i`, the input window starts at
/// `starts[i]`, has `lens[i]` taps, and its weights are `weights[i * ksize..][..lens[i]]`.
struct Coeffs {
    ksize: usize,
    starts: Vec<usize>,
    lens: Vec<usize>,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`, for the full box
/// `[0, in_size)`.
fn precompute_coeffs(in_size: usize, out_size: usize, filter: Filter) -> Coeffs {
    // Pillow takes the box as C floats; whole sizes below 2^24 are exact in both.
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let inv_filterscale = 1.0 / filterscale;

    let mut starts = Vec::with_capacity(out_size);
    let mut lens = Vec::with_capacity(out_size);
    let mut weights = vec![0_i32; out_size * ksize];
    let mut k = vec![0.0_f64; ksize];
    for (xx, row) in weights.chunks_exact_mut(ksize).enumerate() {
        let center = (xx as f64 + 0.5) * scale;
        // C's `(int)` truncates toward zero; anything below zero is clamped to 0 anyway.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64);
        let len = (xmax - xmin as i64).max(0) as usize;
        let len = len.min(ksize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(len) {
            let w = filter.kernel(((x + xmin) as f64 - center + 0.5) * inv_filterscale);
            *kx = w;
            ww += w;
        }
        for (dst, &w) in row.iter_mut().zip(&k).take(len) {
            let w = if ww != 0.0 { w / ww } else { w };
            let fixed = w * f64::from(1_u32 << PRECISION_BITS);
            *dst = if w < 0.0 {
                (-0.5 + fixed) as i32
            } else {
                (0.5 + fixed) as i32
            };
        }
        starts.push(xmin);
        lens.push(len);
    }
    Coeffs {
        ksize,
        starts,
        lens,
        weights,
    }
}

/// Pillow's `clip8`: drop the fractional bits (arithmetic shift) and clamp to a byte.
#[inline]
fn clip8(sum: i64) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

const HALF: i64 = 1 << (PRECISION_BITS - 1);

/// Horizontal pass over rows `first_row..first_row + rows` of `src` (`width` pixels of
/// `channels` bytes each).
fn resample_horizontal(
    src: &[u8],
    width: usize,
    channels: usize,
    first_row: usize,
    rows: usize,
    coeffs: &Coeffs,
) -> Vec<u8> {
    let out_w = coeffs.starts.len();
    let mut out = vec![0_u8; out_w * rows * channels];
    let mut sums = [0_i64; 4];
    for (y, out_row) in out.chunks_exact_mut(out_w * channels).enumerate() {
        let row_start = (first_row + y) * width * channels;
        let in_row = &src[row_start..row_start + width * channels];
        for (xx, out_px) in out_row.chunks_exact_mut(channels).enumerate() {
            let start = coeffs.starts[xx];
            let k = &coeffs.weights[xx * coeffs.ksize..][..coeffs.lens[xx]];
            let window = &in_row[start * channels..(start + k.len()) * channels];
            let sums = &mut sums[..channels];
            sums.fill(HALF);
            for (&w, px) in k.iter().zip(window.chunks_exact(channels)) {
                for (s, &v) in sums.iter_mut().zip(px) {
                    *s += i64::from(v) * i64::from(w);
                }
            }
            for (o, &s) in out_px.iter_mut().zip(sums.iter()) {
                *o = clip8(s);
            }
        }
    }
    out
}

/// Vertical pass: `src` is `width` pixels wide; output row `yy` reads rows
/// `coeffs.starts[yy] - row_offset ..`.
fn resample_vertical(
    src: &[u8],
    width: usize,
    channels: usize,
    row_offset: usize,
    coeffs: &Coeffs,
) -> Vec<u8> {
    let stride = width * channels;
    let out_h = coeffs.starts.len();
    let mut out = vec![0_u8; stride * out_h];
    let mut acc = vec![0_i64; stride];
    for (yy, out_row) in out.chunks_exact_mut(stride).enumerate() {
        let start = coeffs.starts[yy] - row_offset;
        let k = &coeffs.weights[yy * coeffs.ksize..][..coeffs.lens[yy]];
        acc.fill(HALF);
        for (y, &w) in k.iter().enumerate() {
            let row = &src[(start + y) * stride..][..stride];
            let w = i64::from(w);
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += i64::from(v) * w;
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

fn size_error(reason: String) -> HoiclipError {
    HoiclipError::Image {
        what: "resize input".to_string(),
        reason,
    }
}

/// Resamples an interleaved 8-bit image of `channels` (1 to 4) bands, every band
/// independently, exactly as Pillow 13's `ImagingResample` does for 8-bit modes (`L`,
/// `LA`/`La`, `RGB`, `RGBA`/`RGBa` store their bands this way). Same as [`resample_u8_with`]
/// with [`PassOrder::Pillow13`].
///
/// Does **not** premultiply alpha: this is the raw resampler, as Pillow applies it to `La` and
/// `RGBa` images. [`resize_rgba8`] and [`resize_luma_alpha8`] add Pillow's premultiplication.
///
/// `src` holds `height` rows of `width * channels` bytes. Returns `out_height` rows of
/// `out_width * channels` bytes. If the size is unchanged the data is returned as is.
///
/// # Errors
///
/// [`HoiclipError::Image`] if a size is zero, `channels` is not in `1..=4`, or `src` has the
/// wrong length.
pub fn resample_u8(
    src: &[u8],
    width: u32,
    height: u32,
    channels: usize,
    out_width: u32,
    out_height: u32,
    filter: Filter,
) -> Result<Vec<u8>> {
    resample_u8_with(
        src,
        width,
        height,
        channels,
        out_width,
        out_height,
        filter,
        PassOrder::Pillow13,
    )
}

/// [`resample_u8`] with an explicit [`PassOrder`] (for parity with another Pillow version).
///
/// # Errors
///
/// As [`resample_u8`].
#[allow(clippy::too_many_arguments)]
pub fn resample_u8_with(
    src: &[u8],
    width: u32,
    height: u32,
    channels: usize,
    out_width: u32,
    out_height: u32,
    filter: Filter,
    order: PassOrder,
) -> Result<Vec<u8>> {
    if !(1..=4).contains(&channels) {
        return Err(size_error(format!(
            "{channels} channels (1 to 4 supported)"
        )));
    }
    if width == 0 || height == 0 {
        return Err(size_error(format!("source is {width}x{height}")));
    }
    if out_width == 0 || out_height == 0 {
        return Err(size_error(format!(
            "target size {out_width}x{out_height} (width and height must be > 0)"
        )));
    }
    let (w, h) = (width as usize, height as usize);
    let (ow, oh) = (out_width as usize, out_height as usize);
    let expected = w
        .checked_mul(h)
        .and_then(|n| n.checked_mul(channels))
        .ok_or_else(|| size_error(format!("source {width}x{height} is too large")))?;
    if src.len() != expected {
        return Err(size_error(format!(
            "buffer of {} bytes for {width}x{height}x{channels} (expected {expected})",
            src.len()
        )));
    }
    let need_horizontal = ow != w;
    let need_vertical = oh != h;
    match (need_horizontal, need_vertical) {
        (false, false) => Ok(src.to_vec()),
        (true, false) => {
            let horiz = precompute_coeffs(w, ow, filter);
            Ok(resample_horizontal(src, w, channels, 0, h, &horiz))
        }
        (false, true) => {
            let vert = precompute_coeffs(h, oh, filter);
            Ok(resample_vertical(src, w, channels, 0, &vert))
        }
        (true, true) => {
            let horiz = precompute_coeffs(w, ow, filter);
            let vert = precompute_coeffs(h, oh, filter);
            if order.horizontal_first(width, height, out_width, out_height) {
                // Only the rows the vertical pass reads.
                let first = vert.starts.first().copied().unwrap_or(0);
                let last = vert
                    .starts
                    .iter()
                    .zip(&vert.lens)
                    .map(|(&s, &l)| s + l)
                    .max()
                    .unwrap_or(h)
                    .clamp(first, h);
                let tmp = resample_horizontal(src, w, channels, first, last - first, &horiz);
                Ok(resample_vertical(&tmp, ow, channels, first, &vert))
            } else {
                let tmp = resample_vertical(src, w, channels, 0, &vert);
                Ok(resample_horizontal(&tmp, w, channels, 0, oh, &horiz))
            }
        }
    }
}

fn resize_buffer<P>(
    src: &ImageBuffer<P, Vec<u8>>,
    width: u32,
    height: u32,
    filter: Filter,
    order: PassOrder,
) -> Result<ImageBuffer<P, Vec<u8>>>
where
    P: Pixel<Subpixel = u8>,
{
    let channels = usize::from(P::CHANNEL_COUNT);
    let data = resample_u8_with(
        src.as_raw(),
        src.width(),
        src.height(),
        channels,
        width,
        height,
        filter,
        order,
    )?;
    ImageBuffer::from_raw(width, height, data)
        .ok_or_else(|| size_error(format!("cannot build a {width}x{height} image")))
}

/// Pillow's `MULDIV255(a, b)`: `a * b / 255` rounded, the way Pillow premultiplies.
#[inline]
fn muldiv255(a: u8, b: u8) -> u8 {
    let t = u32::from(a) * u32::from(b) + 128;
    (((t >> 8) + t) >> 8) as u8
}

/// Pillow's `RGBa -> RGBA` (and `La -> LA`) channel: `255 * c / alpha` truncated and clipped,
/// untouched where alpha is 0 or 255.
#[inline]
fn unpremultiply(c: u8, alpha: u8) -> u8 {
    if alpha == 0 || alpha == 255 {
        c
    } else {
        ((255 * u32::from(c)) / u32::from(alpha)).min(255) as u8
    }
}

/// Pillow `img.resize((width, height), filter)` of an `L` image.
///
/// # Errors
///
/// [`HoiclipError::Image`] if the source or target size is zero.
pub fn resize_luma8(src: &GrayImage, width: u32, height: u32, filter: Filter) -> Result<GrayImage> {
    resize_buffer(src, width, height, filter, PassOrder::Pillow13)
}

/// Pillow `img.resize((width, height), filter)` of an `RGB` image.
///
/// # Errors
///
/// [`HoiclipError::Image`] if the source or target size is zero.
pub fn resize_rgb8(src: &RgbImage, width: u32, height: u32, filter: Filter) -> Result<RgbImage> {
    resize_buffer(src, width, height, filter, PassOrder::Pillow13)
}

/// [`resize_luma8`], [`resize_rgb8`] and the like for any 8-bit buffer with an explicit
/// [`PassOrder`], **without** premultiplying alpha (see [`resize_rgba8_with`] and
/// [`resize_luma_alpha8_with`] for Pillow's alpha handling).
///
/// # Errors
///
/// [`HoiclipError::Image`] if the source or target size is zero.
pub fn resize_straight_with<P>(
    src: &ImageBuffer<P, Vec<u8>>,
    width: u32,
    height: u32,
    filter: Filter,
    order: PassOrder,
) -> Result<ImageBuffer<P, Vec<u8>>>
where
    P: Pixel<Subpixel = u8>,
{
    resize_buffer(src, width, height, filter, order)
}

/// Pillow `img.resize((width, height), filter)` of an `RGBA` image: converted to
/// premultiplied `RGBa`, resampled, converted back to `RGBA`, each step with Pillow's
/// rounding. The same size returns a copy.
///
/// # Errors
///
/// [`HoiclipError::Image`] if the source or target size is zero.
pub fn resize_rgba8(src: &RgbaImage, width: u32, height: u32, filter: Filter) -> Result<RgbaImage> {
    resize_rgba8_with(src, width, height, filter, PassOrder::Pillow13)
}

/// [`resize_rgba8`] with an explicit [`PassOrder`].
///
/// # Errors
///
/// [`HoiclipError::Image`] if the source or target size is zero.
pub fn resize_rgba8_with(
    src: &RgbaImage,
    width: u32,
    height: u32,
    filter: Filter,
    order: PassOrder,
) -> Result<RgbaImage> {
    if src.dimensions() == (width, height) && width > 0 && height > 0 {
        return Ok(src.clone());
    }
    let mut pre = src.clone();
    for p in pre.pixels_mut() {
        let a = p.0[3];
        for c in &mut p.0[..3] {
            *c = muldiv255(*c, a);
        }
    }
    let mut out = resize_buffer(&pre, width, height, filter, order)?;
    for p in out.pixels_mut() {
        let a = p.0[3];
        for c in &mut p.0[..3] {
            *c = unpremultiply(*c, a);
        }
    }
    Ok(out)
}

/// Pillow `img.resize((width, height), filter)` of an `LA` image: converted to premultiplied
/// `La`, resampled, converted back to `LA`, each step with Pillow's rounding. The same size
/// returns a copy.
///
/// # Errors
///
/// [`HoiclipError::Image`] if the source or target size is zero.
pub fn resize_luma_alpha8(
    src: &GrayAlphaImage,
    width: u32,
    height: u32,
    filter: Filter,
) -> Result<GrayAlphaImage> {
    resize_luma_alpha8_with(src, width, height, filter, PassOrder::Pillow13)
}

/// [`resize_luma_alpha8`] with an explicit [`PassOrder`].
///
/// # Errors
///
/// [`HoiclipError::Image`] if the source or target size is zero.
pub fn resize_luma_alpha8_with(
    src: &GrayAlphaImage,
    width: u32,
    height: u32,
    filter: Filter,
    order: PassOrder,
) -> Result<GrayAlphaImage> {
    if src.dimensions() == (width, height) && width > 0 && height > 0 {
        return Ok(src.clone());
    }
    let mut pre = src.clone();
    for p in pre.pixels_mut() {
        p.0[0] = muldiv255(p.0[0], p.0[1]);
    }
    let mut out = resize_buffer(&pre, width, height, filter, order)?;
    for p in out.pixels_mut() {
        p.0[0] = unpremultiply(p.0[0], p.0[1]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_errors() {
        let img = RgbImage::from_fn(5, 4, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let same = resize_rgb8(&img, 5, 4, Filter::Bicubic).unwrap();
        assert_eq!(same, img);
        assert!(resize_rgb8(&img, 0, 4, Filter::Bicubic).is_err());
        assert!(resize_rgb8(&RgbImage::new(0, 0), 3, 3, Filter::Bilinear).is_err());
        assert!(resample_u8(&[0; 5], 2, 2, 1, 1, 1, Filter::Box).is_err());
        assert!(resample_u8(&[0; 4], 2, 2, 5, 1, 1, Filter::Box).is_err());
    }

    #[test]
    fn constant_image_stays_constant() {
        for filter in [
            Filter::Box,
            Filter::Bilinear,
            Filter::Hamming,
            Filter::Bicubic,
            Filter::Lanczos,
        ] {
            let img = GrayImage::from_pixel(13, 9, image::Luma([201]));
            for (w, h) in [(5, 3), (29, 17), (13, 2), (1, 1)] {
                let out = resize_luma8(&img, w, h, filter).unwrap();
                assert!(out.pixels().all(|p| p.0[0] == 201), "{filter:?} {w}x{h}");
            }
        }
    }

    #[test]
    fn premultiply_helpers_match_pillow_rounding() {
        assert_eq!(muldiv255(255, 255), 255);
        assert_eq!(muldiv255(255, 128), 128);
        assert_eq!(muldiv255(1, 127), 0);
        assert_eq!(muldiv255(1, 128), 1);
        assert_eq!(unpremultiply(100, 0), 100);
        assert_eq!(unpremultiply(100, 128), 199);
        assert_eq!(unpremultiply(200, 100), 255);
    }
}
