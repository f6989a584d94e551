//! What the HICO-DET and V-COCO training readers share: reading the annotation array, the
//! reference's per-image box handling (first `num_queries` boxes, clamped to the image in
//! `f32`, empty ones dropped), normalisation to `(cx, cy, w, h)`, the merging of a pair's
//! interactions into one multi-hot row, and decoding a sample's image.

use std::path::Path;

use serde_json::Value;

use super::sample::TrainingSample;
use super::target::HoiTarget;
use crate::error::{HoiclipError, Result};
use crate::eval::GtBox;

/// The JSON array of images of an annotation file at `path`.
pub(crate) fn read_array(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|source| HoiclipError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_array(&text, path)
}

/// The JSON array of images in `text` (`source` names the file in errors).
pub(crate) fn parse_array(text: &str, source: &Path) -> Result<Vec<Value>> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| HoiclipError::Config(format!("{}: not valid JSON: {e}", source.display())))?;
    match root {
        Value::Array(items) => Ok(items),
        _ => Err(HoiclipError::Config(format!(
            "{}: expected a JSON array of images",
            source.display()
        ))),
    }
}

/// A box the reference keeps: `[x1, y1, x2, y2]` pixels (clamped) and its object index.
pub(crate) type KeptBox = ([f64; 4], usize);

/// The reference's box handling for an image of `width × height`: the first `num_queries`
/// boxes, clamped to the image and compared in `f32` (as the reference's float32 tensor), a
/// box with no area dropped (`None`), indices kept.
pub(crate) fn kept_boxes(
    boxes: &[GtBox],
    num_queries: usize,
    width: u32,
    height: u32,
) -> Vec<Option<KeptBox>> {
    let (w, h) = (width as f32, height as f32);
    boxes
        .iter()
        .take(num_queries)
        .map(|b| {
            let c = [
                (b.bbox[0] as f32).clamp(0.0, w),
                (b.bbox[1] as f32).clamp(0.0, h),
                (b.bbox[2] as f32).clamp(0.0, w),
                (b.bbox[3] as f32).clamp(0.0, h),
            ];
            (c[3] > c[1] && c[2] > c[0]).then_some((c.map(f64::from), b.object))
        })
        .collect()
}

/// `[x1, y1, x2, y2]` pixels → `(cx, cy, w, h)` normalised by the image size.
pub(crate) fn normalised(b: [f64; 4], width: u32, height: u32) -> [f32; 4] {
    let (w, h) = (f64::from(width), f64::from(height));
    [
        ((b[0] + b[2]) / 2.0 / w) as f32,
        ((b[1] + b[3]) / 2.0 / h) as f32,
        ((b[2] - b[0]) / w) as f32,
        ((b[3] - b[1]) / h) as f32,
    ]
}

/// Builds a [`HoiTarget`] as the reference does: interactions with the same pair key merge
/// into one pair (at the position of the first, with its boxes and object class), their HOI
/// classes multi-hot.
pub(crate) struct PairMerger<K> {
    keys: Vec<K>,
    target: HoiTarget,
}

impl<K: PartialEq> PairMerger<K> {
    pub(crate) fn new() -> Self {
        Self {
            keys: Vec::new(),
            target: HoiTarget::default(),
        }
    }

    /// One interaction of pair `key` with HOI class `class`; the boxes and object label are
    /// used when the pair is new.
    pub(crate) fn add(
        &mut self,
        key: K,
        human_box: [f32; 4],
        object_box: [f32; 4],
        object_label: usize,
        class: usize,
    ) {
        match self.keys.iter().position(|k| *k == key) {
            Some(pair) => {
                if !self.target.hoi_labels[pair].contains(&class) {
                    self.target.hoi_labels[pair].push(class);
                }
            }
            None => {
                self.keys.push(key);
                self.target.human_boxes.push(human_box);
                self.target.object_boxes.push(object_box);
                self.target.object_labels.push(object_label);
                self.target.hoi_labels.push(vec![class]);
            }
        }
    }

    pub(crate) fn finish(self) -> HoiTarget {
        self.target
    }
}

/// Sample `index` of a reader: its file name (`None` out of range, of `count` samples), the
/// image decoded from `images_dir`, and the target `target(width, height)` builds for it.
pub(crate) fn load_sample(
    images_dir: &Path,
    file_name: Option<&str>,
    index: usize,
    count: usize,
    target: impl FnOnce(u32, u32) -> Result<HoiTarget>,
) -> Result<TrainingSample> {
    let name = file_name
        .ok_or_else(|| HoiclipError::Training(format!("no sample {index} (of {count})")))?
        .to_string();
    let image = crate::imaging::open_image(images_dir.join(&name))?;
    let target = target(image.width(), image.height())?;
    Ok(TrainingSample {
        name,
        image,
        target,
    })
}
