//! What the HICO-DET and V-COCO training readers share: reading the annotation array, the
//! reference's per-image box handling (first `num_queries` boxes, clamped to the image in
//! `f32`, empty ones dropped), the merging of a pair's interactions into one multi-hot row,
//! and decoding a sample's image.

use std::path::Path;

use serde_json::Value;

use super::annotated::{AnnotatedBox, AnnotatedSample, Interaction};
use super::target::HoiTarget;
use crate::error::{HoiclipError, Result};
use crate::eval::GtBox;

/// The JSON array of images of an annotation file at `path`.
pub(crate) fn read_array(path: &Path) -> Result<Vec<Value>> {
    let text = crate::error::read_text(path)?;
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

/// The reference's box handling for an image of `width × height`: the first `num_queries`
/// boxes, clamped to the image in `f32` (the reference's float32 tensor), a box with no area
/// dropped (`None`), indices kept.
pub(crate) fn kept_boxes(
    boxes: &[GtBox],
    num_queries: usize,
    width: u32,
    height: u32,
) -> Vec<Option<AnnotatedBox>> {
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
            (c[3] > c[1] && c[2] > c[0]).then_some(AnnotatedBox {
                xyxy: c,
                object: b.object,
            })
        })
        .collect()
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

/// Entry `index` of a reader's images, or the error naming the index out of range.
pub(crate) fn entry<T>(images: &[T], index: usize) -> Result<&T> {
    images
        .get(index)
        .ok_or_else(|| HoiclipError::Training(format!("no sample {index} (of {})", images.len())))
}

/// Sample `index` of a reader: its file name (`None` out of range, of `count` samples), the
/// image decoded from `images_dir`, and the boxes and interactions `annotate(width, height)`
/// builds for it.
pub(crate) fn load_annotated(
    images_dir: &Path,
    file_name: Option<&str>,
    index: usize,
    count: usize,
    annotate: impl FnOnce(u32, u32) -> Result<(Vec<Option<AnnotatedBox>>, Vec<Interaction>)>,
) -> Result<AnnotatedSample> {
    let name = file_name
        .ok_or_else(|| HoiclipError::Training(format!("no sample {index} (of {count})")))?
        .to_string();
    let image = crate::imaging::open_image(images_dir.join(&name))?;
    let (boxes, interactions) = annotate(image.width(), image.height())?;
    Ok(AnnotatedSample {
        name,
        image,
        boxes,
        interactions,
    })
}
