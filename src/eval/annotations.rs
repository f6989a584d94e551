//! HICO-DET ground truth in the JSON form of the PyTorch repositories (PPDM, GEN-VLKT,
//! HOICLIP): `trainval_hico.json` and `test_hico.json`.
//!
//! Mirrors the reading in `HICODetection.__getitem__` (test branch) and `set_rare_hois` of
//! `datasets/datasets_gen/hico.py`. The file is a JSON array with one object per image:
//!
//! ```json
//! {"file_name": "HICO_test2015_00000001.jpg",
//!  "annotations": [{"bbox": [x1, y1, x2, y2], "category_id": 1}, ...],
//!  "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 88,
//!                      "hoi_category_id": 155}, ...]}
//! ```
//!
//! * `annotations[k].bbox`: `[x1, y1, x2, y2]` pixels, taken as they are (no clipping, no
//!   `+1`/`-1` shift);
//! * `annotations[k].category_id`: a COCO category id, mapped to the object index 0..80 with
//!   [`super::ids::object_index_of_coco_id`];
//! * `hoi_annotation[k].category_id`: the verb id 1..=117 (verb index = id - 1);
//! * the HOI class is `hico_text_label.index((verb, object of the object box))`, exactly as
//!   the reference evaluator computes it; `hoi_category_id` (1..=600), optional, must agree.
//!
//! Other keys (`img_id`, `width`, ...) are ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ids::{
    HoiTable, NUM_HOIS, coco_id_of_object_index, object_index_of_coco_id, verb_index_of_verb_id,
};
use super::json::Ctx;
use crate::error::{HoiclipError, Result};

/// One ground-truth box of an image.
#[derive(Debug, Clone, PartialEq)]
pub struct GtBox {
    /// `[x1, y1, x2, y2]` pixels, as written in the file.
    pub bbox: [f64; 4],
    /// Object index 0..80 (person = 0).
    pub object: usize,
}

/// One ground-truth interaction: two boxes of the image and the HOI class joining them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GtHoi {
    /// Index of the subject (person) box in [`ImageAnnotation::boxes`].
    pub subject: usize,
    /// Index of the object box in [`ImageAnnotation::boxes`].
    pub object: usize,
    /// Verb index 0..117.
    pub verb: usize,
    /// HOI class 0..600 (`hoi_category_id - 1`).
    pub hoi: usize,
}

/// The ground truth of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageAnnotation {
    /// The image's file name, e.g. `HICO_test2015_00000001.jpg`.
    pub file_name: String,
    /// Its boxes, in file order.
    pub boxes: Vec<GtBox>,
    /// Its interactions, in file order.
    pub hois: Vec<GtHoi>,
}

impl ImageAnnotation {
    /// Whether one of the image's interactions has this object index as its object (the
    /// image is then kept for that object's classes in Known Object mode).
    pub fn has_hoi_with_object(&self, object: usize) -> bool {
        self.hois
            .iter()
            .any(|h| self.boxes.get(h.object).is_some_and(|b| b.object == object))
    }
}

/// A whole HICO-DET annotation file.
#[derive(Debug, Clone)]
pub struct HicoAnnotations {
    images: Vec<ImageAnnotation>,
    by_name: HashMap<String, usize>,
    source: PathBuf,
}

impl HicoAnnotations {
    /// Reads `trainval_hico.json` / `test_hico.json`.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when the file cannot be read; [`HoiclipError::Config`] naming the
    /// file, the image and the field when the content is malformed (not JSON, a missing or
    /// mistyped field, a COCO id that is not one of the 80, a verb id outside 1..=117, a box
    /// index out of range, a (verb, object) pair that is not one of the 600 classes, a
    /// `hoi_category_id` that disagrees, a repeated file name).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::error::read_text(path)?;
        Self::from_json_str(&text, path)
    }

    /// Parses annotation JSON; `source` names it in error messages.
    ///
    /// # Errors
    ///
    /// As [`HicoAnnotations::from_file`], without the I/O case.
    pub fn from_json_str(text: &str, source: impl AsRef<Path>) -> Result<Self> {
        let source = source.as_ref();
        let value: Value = serde_json::from_str(text).map_err(|e| {
            HoiclipError::Config(format!("{}: not valid JSON: {e}", source.display()))
        })?;
        let Value::Array(items) = value else {
            return Err(HoiclipError::Config(format!(
                "{}: expected a JSON array of images at the top level",
                source.display()
            )));
        };
        let table = HoiTable::new();
        let images = items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_image(item, i, source, &table))
            .collect::<Result<Vec<_>>>()?;
        Self::build(images, source.to_path_buf())
    }

    /// Builds annotations from parsed images (for synthetic data and tests).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when a file name repeats, a box index is out of range, an
    /// object index is not below 80, or an HOI class disagrees with its verb and object.
    pub fn from_images(images: Vec<ImageAnnotation>) -> Result<Self> {
        let table = HoiTable::new();
        let source = PathBuf::from("<in memory>");
        for (i, img) in images.iter().enumerate() {
            let ctx = Ctx {
                file: &source,
                image_index: i,
                image_name: Some(&img.file_name),
            };
            for (k, b) in img.boxes.iter().enumerate() {
                if b.object >= super::ids::NUM_OBJECTS {
                    return Err(ctx.error(&format!("boxes[{k}].object"), "not below 80"));
                }
            }
            for (k, h) in img.hois.iter().enumerate() {
                let obj = img.boxes.get(h.object).map(|b| b.object);
                if h.subject >= img.boxes.len() || obj.is_none() {
                    return Err(ctx.error(&format!("hois[{k}]"), "box index out of range"));
                }
                if obj.and_then(|o| table.get(h.verb, o)) != Some(h.hoi) {
                    return Err(ctx.error(
                        &format!("hois[{k}].hoi"),
                        "does not match the verb and the object box's class",
                    ));
                }
            }
        }
        Self::build(images, source)
    }

    fn build(images: Vec<ImageAnnotation>, source: PathBuf) -> Result<Self> {
        let mut by_name = HashMap::with_capacity(images.len());
        for (i, img) in images.iter().enumerate() {
            if let Some(first) = by_name.insert(img.file_name.clone(), i) {
                return Err(HoiclipError::Config(format!(
                    "{}: image {i} ({}): field `file_name`: repeats image {first}",
                    source.display(),
                    img.file_name
                )));
            }
        }
        Ok(Self {
            images,
            by_name,
            source,
        })
    }

    /// The images, in file order.
    pub fn images(&self) -> &[ImageAnnotation] {
        &self.images
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether the file holds no image.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The file the annotations came from (`<in memory>` for [`HicoAnnotations::from_images`]).
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Position of an image by file name.
    pub fn image_index(&self, file_name: &str) -> Option<usize> {
        self.by_name.get(file_name).copied()
    }

    /// The image file names, in file order.
    pub fn file_names(&self) -> Vec<String> {
        self.images.iter().map(|i| i.file_name.clone()).collect()
    }

    /// Number of ground-truth interactions of each HOI class (`[600]`), counting every
    /// `hoi_annotation` entry, as `set_rare_hois` and `eval_one.m`'s `num_inst` count them.
    pub fn hoi_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; NUM_HOIS];
        for img in &self.images {
            for h in &img.hois {
                counts[h.hoi] += 1;
            }
        }
        counts
    }

    /// Total number of ground-truth interactions.
    pub fn num_hois(&self) -> usize {
        self.images.iter().map(|i| i.hois.len()).sum()
    }

    /// The annotations as the reference JSON (`file_name`, `annotations` with COCO ids,
    /// `hoi_annotation` with 1-based verb ids and `hoi_category_id`).
    pub fn to_json_value(&self) -> Value {
        Value::Array(self.images.iter().map(image_to_json).collect())
    }

    /// Writes [`HicoAnnotations::to_json_value`] to a file.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Write`] when the file cannot be written.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json_value().to_string()).map_err(|e| HoiclipError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

fn image_to_json(img: &ImageAnnotation) -> Value {
    let boxes: Vec<Value> = img
        .boxes
        .iter()
        .map(|b| {
            serde_json::json!({
                "bbox": b.bbox,
                "category_id": coco_id_of_object_index(b.object).unwrap_or(0),
            })
        })
        .collect();
    let hois: Vec<Value> = img
        .hois
        .iter()
        .map(|h| {
            serde_json::json!({
                "subject_id": h.subject,
                "object_id": h.object,
                "category_id": h.verb + 1,
                "hoi_category_id": h.hoi + 1,
            })
        })
        .collect();
    serde_json::json!({
        "file_name": img.file_name,
        "annotations": boxes,
        "hoi_annotation": hois,
    })
}

/// An image entry's `annotations`: `bbox` `[x1, y1, x2, y2]` and COCO `category_id` of each
/// box (shared by the evaluation and the training readers).
pub(crate) fn parse_boxes(ctx: &Ctx<'_>, item: &Value) -> Result<Vec<GtBox>> {
    let raw_boxes = ctx.array(ctx.field(item, "annotations", "")?, "annotations")?;
    let mut boxes = Vec::with_capacity(raw_boxes.len());
    for (k, b) in raw_boxes.iter().enumerate() {
        let path = format!("annotations[{k}]");
        let bbox = ctx.bbox(ctx.field(b, "bbox", &path)?, &format!("{path}.bbox"))?;
        let cat_path = format!("{path}.category_id");
        let coco = ctx.int(ctx.field(b, "category_id", &path)?, &cat_path)?;
        let object = object_index_of_coco_id(coco).ok_or_else(|| {
            ctx.error(
                &cat_path,
                format!("{coco} is not one of the 80 COCO category ids"),
            )
        })?;
        boxes.push(GtBox { bbox, object });
    }
    Ok(boxes)
}

fn parse_image(
    item: &Value,
    index: usize,
    file: &Path,
    table: &HoiTable,
) -> Result<ImageAnnotation> {
    let mut ctx = Ctx {
        file,
        image_index: index,
        image_name: None,
    };
    let file_name = ctx.string(ctx.field(item, "file_name", "")?, "file_name")?;
    ctx.image_name = Some(file_name);

    let boxes = parse_boxes(&ctx, item)?;

    let raw_hois = ctx.array(ctx.field(item, "hoi_annotation", "")?, "hoi_annotation")?;
    let mut hois = Vec::with_capacity(raw_hois.len());
    for (k, h) in raw_hois.iter().enumerate() {
        let path = format!("hoi_annotation[{k}]");
        let box_index = |key: &str| -> Result<usize> {
            let p = format!("{path}.{key}");
            let i = ctx.index(ctx.field(h, key, &path)?, &p)?;
            if i >= boxes.len() {
                return Err(ctx.error(
                    &p,
                    format!(
                        "box {i} does not exist (the image has {} boxes)",
                        boxes.len()
                    ),
                ));
            }
            Ok(i)
        };
        let subject = box_index("subject_id")?;
        let object = box_index("object_id")?;
        let verb_path = format!("{path}.category_id");
        let verb_id = ctx.int(ctx.field(h, "category_id", &path)?, &verb_path)?;
        let verb = verb_index_of_verb_id(verb_id)
            .ok_or_else(|| ctx.error(&verb_path, format!("verb id {verb_id} is not in 1..=117")))?;
        let object_class = boxes[object].object;
        let hoi = table.get(verb, object_class).ok_or_else(|| {
            ctx.error(
                &verb_path,
                format!(
                    "(verb {verb}, object {object_class}) is not one of the 600 HICO-DET classes"
                ),
            )
        })?;
        if let Some(v) = h.as_object().and_then(|m| m.get("hoi_category_id")) {
            let p = format!("{path}.hoi_category_id");
            let id = ctx.int(v, &p)?;
            if id != hoi as i64 + 1 {
                return Err(ctx.error(
                    &p,
                    format!(
                        "{id} disagrees with verb id {verb_id} and the object box's class, which give {}",
                        hoi + 1
                    ),
                ));
            }
        }
        hois.push(GtHoi {
            subject,
            object,
            verb,
            hoi,
        });
    }
    Ok(ImageAnnotation {
        file_name: file_name.to_string(),
        boxes,
        hois,
    })
}
