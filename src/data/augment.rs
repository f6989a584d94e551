//! The authors' training augmentation (`make_hico_transforms('train')` of
//! `datasets/datasets_gen/hico.py`, the same for V-COCO, built from DETR's
//! `datasets/transforms.py`):
//!
//! ```text
//! RandomHorizontalFlip()                                  # p = 0.5
//! ColorJitter(0.4, 0.4, 0.4)                              # torchvision, on the PIL image
//! RandomSelect(                                           # p = 0.5 for the first
//!     RandomResize(scales, max_size=1333),                # scales 480, 512, ..., 800
//!     Compose([RandomResize([400, 500, 600]),
//!              RandomSizeCrop(384, 600),
//!              RandomResize(scales, max_size=1333)]))
//! ```
//!
//! Split in two so that a test can replay the reference's random draws:
//! [`AugmentConfig::draw`] makes every random choice (an [`AugmentDraws`]), and
//! [`AugmentConfig::apply`] applies them, deterministically, with the reference's arithmetic:
//!
//! - **flip**: the image mirrored; boxes `x1, x2 ← w − x2, w − x1` (`f32`);
//! - **colour jitter**: brightness, contrast and saturation in the drawn order, each Pillow's
//!   `ImageEnhance` blend ([`crate::imaging::color_jitter`]);
//! - **resize**: DETR's `get_size_with_aspect_ratio`, Pillow's bilinear resize, boxes scaled
//!   by the `f32` ratios of the new to the old width and height;
//! - **crop**: the image cut to the region; boxes shifted, clipped to it, and dropped when
//!   empty — an interaction using a dropped box is dropped with it (see
//!   [`super::AnnotatedSample::target`]).
//!
//! The image is converted to RGB first (the reference opens images with `convert("RGB")`).
//! The CLIP input is made from the augmented image, as the reference's
//! `clip_preprocess(img_0)`, by the trainer's input builder.

use image::{DynamicImage, RgbImage};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::annotated::{AnnotatedBox, AnnotatedSample};
use crate::error::{HoiclipError, Result};
use crate::imaging::color_jitter::{ColorAdjustment, adjust};
use crate::imaging::detr_transform::detr_target_size;
use crate::imaging::pil_image::PilImage;
use crate::imaging::pil_resample::{Filter, resize_rgb8};

/// The largest side a configured size may have (a guard against sizes that would allocate
/// enormous images; the authors' largest is 1333).
pub const MAX_SIDE: u32 = 8192;

/// The augmentation's parameters. [`AugmentConfig::authors`] is the authors' (HICO-DET and
/// V-COCO use the same).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// `RandomHorizontalFlip(p)`.
    pub flip_probability: f64,
    /// `ColorJitter` brightness: factors drawn from `[max(0, 1 − b), 1 + b]`; 0 disables it.
    pub brightness: f64,
    /// `ColorJitter` contrast, as `brightness`.
    pub contrast: f64,
    /// `ColorJitter` saturation, as `brightness`.
    pub saturation: f64,
    /// `RandomSelect(p)`: the probability of the plain multi-scale resize (else crop branch).
    pub resize_probability: f64,
    /// The multi-scale resize's shorter sides.
    pub scales: Vec<u32>,
    /// The multi-scale resize's cap on the longer side.
    pub max_size: Option<u32>,
    /// The crop branch's first resize (shorter sides, no cap).
    pub crop_scales: Vec<u32>,
    /// `RandomSizeCrop(min, max)`: the smallest crop side.
    pub crop_min: u32,
    /// `RandomSizeCrop(min, max)`: the largest crop side.
    pub crop_max: u32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self::authors()
    }
}

impl AugmentConfig {
    /// The authors' augmentation (`make_hico_transforms('train')`,
    /// `make_vcoco_transforms('train')`).
    pub fn authors() -> Self {
        Self {
            flip_probability: 0.5,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            resize_probability: 0.5,
            scales: (480..=800).step_by(32).collect(),
            max_size: Some(1333),
            crop_scales: vec![400, 500, 600],
            crop_min: 384,
            crop_max: 600,
        }
    }

    /// Check the parameters.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] naming the field: a probability outside `[0, 1]`, a negative
    /// or non-finite jitter, an empty or zero scale list, `crop_min` of 0 or above `crop_max`.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: String| {
            Err(HoiclipError::Config(format!("augmentation {field}: {why}")))
        };
        for (field, p) in [
            ("flip_probability", self.flip_probability),
            ("resize_probability", self.resize_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(field, format!("{p} is not a probability in [0, 1]"));
            }
        }
        for (field, j) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            if !(j.is_finite() && j >= 0.0) {
                return bad(field, format!("{j} is not a finite value >= 0"));
            }
        }
        for (field, scales) in [("scales", &self.scales), ("crop_scales", &self.crop_scales)] {
            if scales.is_empty() || scales.iter().any(|&v| v == 0 || v > MAX_SIDE) {
                return bad(
                    field,
                    format!("{scales:?} must be non-empty sizes in 1..={MAX_SIDE}"),
                );
            }
        }
        if let Some(m) = self.max_size
            && (m == 0 || m > MAX_SIDE)
        {
            return bad("max_size", format!("{m} is not in 1..={MAX_SIDE}"));
        }
        if self.crop_min == 0 || self.crop_min > self.crop_max || self.crop_max > MAX_SIDE {
            return bad(
                "crop_min",
                format!(
                    "{} must be >= 1 and <= crop_max {} (at most {MAX_SIDE})",
                    self.crop_min, self.crop_max
                ),
            );
        }
        // The crop branch resizes the shorter side to a crop scale, then crops at least
        // `crop_min`: a smaller scale would leave nothing to crop (the reference's randint
        // raises).
        if let Some(&s) = self.crop_scales.iter().find(|&&s| s < self.crop_min) {
            return bad(
                "crop_scales",
                format!("{s} is smaller than crop_min {}", self.crop_min),
            );
        }
        Ok(())
    }

    /// Every random choice of one augmentation of a `width × height` image, drawn in the
    /// reference's order from `rng`.
    ///
    /// # Errors
    ///
    /// As [`Self::validate`]; [`HoiclipError::Image`] when the crop branch's first resize
    /// leaves a side shorter than `crop_min` (the reference's `random.randint` would raise).
    pub fn draw(&self, rng: &mut impl Rng, width: u32, height: u32) -> Result<AugmentDraws> {
        self.validate()?;
        let flip = rng.random::<f64>() < self.flip_probability;
        let mut jitter_order = [0, 1, 2, 3];
        jitter_order.shuffle(rng);
        let mut factor = |strength: f64| {
            (strength > 0.0).then(|| rng.random_range((1.0 - strength).max(0.0)..=1.0 + strength))
        };
        let brightness = factor(self.brightness);
        let contrast = factor(self.contrast);
        let saturation = factor(self.saturation);
        let geometry = if rng.random::<f64>() < self.resize_probability {
            GeometryDraw::Resize {
                shorter: pick(rng, &self.scales),
            }
        } else {
            let pre_shorter = pick(rng, &self.crop_scales);
            let (w, h) = detr_target_size(width, height, pre_shorter, None);
            let (max_w, max_h) = (w.min(self.crop_max), h.min(self.crop_max));
            if max_w < self.crop_min || max_h < self.crop_min {
                return Err(HoiclipError::Image {
                    what: format!("{width}x{height} image"),
                    reason: format!(
                        "resized to {w}x{h} for the crop branch, smaller than the smallest \
                         crop side {}",
                        self.crop_min
                    ),
                });
            }
            let crop_w = rng.random_range(self.crop_min..=max_w);
            let crop_h = rng.random_range(self.crop_min..=max_h);
            let (top, left) = if crop_w == w && crop_h == h {
                (0, 0)
            } else {
                (
                    rng.random_range(0..=h - crop_h),
                    rng.random_range(0..=w - crop_w),
                )
            };
            GeometryDraw::CropResize {
                pre_shorter,
                crop: CropRegion {
                    top,
                    left,
                    height: crop_h,
                    width: crop_w,
                },
                shorter: pick(rng, &self.scales),
            }
        };
        Ok(AugmentDraws {
            flip,
            jitter_order,
            brightness,
            contrast,
            saturation,
            geometry,
        })
    }

    /// Apply `draws` to `image` and its `boxes` (`[x1, y1, x2, y2]` pixels; a box cropped away
    /// becomes `None`). Returns the augmented image.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Image`] when a resize would give an empty image or the crop region
    /// does not lie inside the resized image.
    pub fn apply(
        &self,
        image: RgbImage,
        boxes: &mut [Option<AnnotatedBox>],
        draws: &AugmentDraws,
    ) -> Result<RgbImage> {
        let mut image = image;
        if draws.flip {
            image = image::imageops::flip_horizontal(&image);
            let w = image.width() as f32;
            for b in boxes.iter_mut().flatten() {
                let [x1, y1, x2, y2] = b.xyxy;
                b.xyxy = [w - x2, y1, w - x1, y2];
            }
        }
        for fn_id in draws.jitter_order {
            let (adjustment, factor) = match fn_id {
                0 => (ColorAdjustment::Brightness, draws.brightness),
                1 => (ColorAdjustment::Contrast, draws.contrast),
                2 => (ColorAdjustment::Saturation, draws.saturation),
                _ => continue,
            };
            if let Some(f) = factor {
                adjust(&mut image, adjustment, f);
            }
        }
        match draws.geometry {
            GeometryDraw::Resize { shorter } => resize(image, boxes, shorter, self.max_size),
            GeometryDraw::CropResize {
                pre_shorter,
                crop,
                shorter,
            } => {
                let image = resize(image, boxes, pre_shorter, None)?;
                let image = crop_region(&image, boxes, crop)?;
                resize(image, boxes, shorter, self.max_size)
            }
        }
    }

    /// Augment `sample` with draws from `rng`: the image converted to RGB, then
    /// [`Self::draw`] and [`Self::apply`].
    ///
    /// # Errors
    ///
    /// As [`Self::draw`] and [`Self::apply`], naming the sample.
    pub fn augment(&self, sample: AnnotatedSample, rng: &mut impl Rng) -> Result<AnnotatedSample> {
        let AnnotatedSample {
            name,
            image,
            mut boxes,
            interactions,
        } = sample;
        let named = |e: HoiclipError| match e {
            HoiclipError::Image { reason, .. } => HoiclipError::Image {
                what: name.clone(),
                reason,
            },
            other => other,
        };
        let rgb = PilImage::from_dynamic(&image).into_rgb();
        let draws = self.draw(rng, rgb.width(), rgb.height()).map_err(named)?;
        let out = self.apply(rgb, &mut boxes, &draws).map_err(named)?;
        Ok(AnnotatedSample {
            name,
            image: DynamicImage::ImageRgb8(out),
            boxes,
            interactions,
        })
    }
}

/// The random choices of one augmentation (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentDraws {
    /// Whether the image is flipped.
    pub flip: bool,
    /// `ColorJitter`'s `fn_idx`: the order of brightness (0), contrast (1), saturation (2)
    /// and hue (3, unused).
    pub jitter_order: [usize; 4],
    /// The brightness factor (`None`: no brightness jitter).
    pub brightness: Option<f64>,
    /// The contrast factor.
    pub contrast: Option<f64>,
    /// The saturation factor.
    pub saturation: Option<f64>,
    /// The geometric branch.
    pub geometry: GeometryDraw,
}

/// The branch `RandomSelect` took, with its draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GeometryDraw {
    /// `RandomResize(scales, max_size)` to shorter side `shorter`.
    Resize {
        /// The chosen scale.
        shorter: u32,
    },
    /// Resize to `pre_shorter` (no cap), crop `crop`, resize to `shorter` (capped).
    CropResize {
        /// The first resize's scale.
        pre_shorter: u32,
        /// The crop region in the resized image.
        crop: CropRegion,
        /// The final scale.
        shorter: u32,
    },
}

/// A crop region, as torchvision's `(top, left, height, width)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropRegion {
    /// First row.
    pub top: u32,
    /// First column.
    pub left: u32,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
}

/// `random.choice(scales)`.
fn pick(rng: &mut impl Rng, scales: &[u32]) -> u32 {
    scales[rng.random_range(0..scales.len())]
}

/// DETR's `resize`: the image to [`detr_target_size`] with Pillow's bilinear filter, boxes
/// scaled by the `f32` ratios.
fn resize(
    image: RgbImage,
    boxes: &mut [Option<AnnotatedBox>],
    shorter: u32,
    max_size: Option<u32>,
) -> Result<RgbImage> {
    let (w, h) = image.dimensions();
    let (ow, oh) = detr_target_size(w, h, shorter, max_size);
    if ow == 0 || oh == 0 {
        return Err(HoiclipError::Image {
            what: "input".into(),
            reason: format!("{w}x{h} would resize to {ow}x{oh} (shorter side {shorter})"),
        });
    }
    let out = if (ow, oh) == (w, h) {
        image
    } else {
        resize_rgb8(&image, ow, oh, Filter::Bilinear)?
    };
    let rw = (f64::from(ow) / f64::from(w)) as f32;
    let rh = (f64::from(oh) / f64::from(h)) as f32;
    for b in boxes.iter_mut().flatten() {
        let [x1, y1, x2, y2] = b.xyxy;
        b.xyxy = [x1 * rw, y1 * rh, x2 * rw, y2 * rh];
    }
    Ok(out)
}

/// DETR's `crop`: the image cut to `region`; boxes shifted, clipped to `[0, w] × [0, h]` of
/// the region and dropped (`None`) unless both sides stay positive.
fn crop_region(
    image: &RgbImage,
    boxes: &mut [Option<AnnotatedBox>],
    region: CropRegion,
) -> Result<RgbImage> {
    let CropRegion {
        top,
        left,
        height,
        width,
    } = region;
    let (iw, ih) = image.dimensions();
    if u64::from(left) + u64::from(width) > u64::from(iw)
        || u64::from(top) + u64::from(height) > u64::from(ih)
        || width == 0
        || height == 0
    {
        return Err(HoiclipError::Image {
            what: "input".into(),
            reason: format!("crop {region:?} does not lie inside the {iw}x{ih} image"),
        });
    }
    let out = image::imageops::crop_imm(image, left, top, width, height).to_image();
    let (l, t, w, h) = (left as f32, top as f32, width as f32, height as f32);
    for slot in boxes.iter_mut() {
        if let Some(b) = slot {
            let [x1, y1, x2, y2] = b.xyxy;
            let c = [
                (x1 - l).min(w).max(0.0),
                (y1 - t).min(h).max(0.0),
                (x2 - l).min(w).max(0.0),
                (y2 - t).min(h).max(0.0),
            ];
            if c[2] > c[0] && c[3] > c[1] {
                b.xyxy = c;
            } else {
                *slot = None;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn draws_stay_in_the_configured_ranges() {
        let config = AugmentConfig::authors();
        config.validate().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut flips, mut crops) = (0, 0);
        for _ in 0..400 {
            let d = config.draw(&mut rng, 640, 427).unwrap();
            flips += usize::from(d.flip);
            let mut order = d.jitter_order;
            order.sort();
            assert_eq!(order, [0, 1, 2, 3]);
            for f in [d.brightness, d.contrast, d.saturation] {
                assert!((0.6..=1.4).contains(&f.unwrap()));
            }
            match d.geometry {
                GeometryDraw::Resize { shorter } => assert!(config.scales.contains(&shorter)),
                GeometryDraw::CropResize {
                    pre_shorter,
                    crop,
                    shorter,
                } => {
                    crops += 1;
                    let (w, h) = detr_target_size(640, 427, pre_shorter, None);
                    assert!(crop.left + crop.width <= w && crop.top + crop.height <= h);
                    assert!((384..=600).contains(&crop.width));
                    assert!((384..=600).contains(&crop.height));
                    assert!(config.scales.contains(&shorter));
                }
            }
        }
        assert!((150..250).contains(&flips), "{flips}");
        assert!((150..250).contains(&crops), "{crops}");
    }

    #[test]
    fn crop_clips_and_drops_boxes() {
        let image = RgbImage::new(20, 10);
        let b = |xyxy| Some(AnnotatedBox { xyxy, object: 1 });
        let mut boxes = vec![b([1.0, 1.0, 5.0, 5.0]), b([8.0, 2.0, 30.0, 9.0]), None];
        let region = CropRegion {
            top: 1,
            left: 6,
            height: 6,
            width: 10,
        };
        let out = crop_region(&image, &mut boxes, region).unwrap();
        assert_eq!(out.dimensions(), (10, 6));
        assert_eq!(boxes[0], None);
        assert_eq!(boxes[1].unwrap().xyxy, [2.0, 1.0, 10.0, 6.0]);
        assert_eq!(boxes[2], None);
    }
}
