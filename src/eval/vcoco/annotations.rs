//! V-COCO ground truth in the JSON form of the GEN-VLKT family (GEN-VLKT, HOICLIP):
//! `trainval_vcoco.json` and `test_vcoco.json`, as `tools/convert_vcoco_annotations.py`
//! writes them and `datasets/datasets_gen/vcoco.py` reads them.
//!
//! The file is a JSON array with one object per image:
//!
//! ```json
//! {"file_name": "COCO_val2014_000000000042.jpg",
//!  "annotations": [{"bbox": [x1, y1, x2, y2], "category_id": 1}, ...],
//!  "hoi_annotation": [{"subject_id": 0, "object_id": 2, "category_id": 5},
//!                     {"subject_id": 0, "object_id": -1, "category_id": 1}, ...]}
//! ```
//!
//! * `annotations[k].bbox`: `[x1, y1, x2, y2]` pixels (the converter adds the COCO width
//!   and height to `[x, y]`), taken as they are;
//! * `annotations[k].category_id`: a COCO category id, mapped to the contiguous object index
//!   0..80 as `_valid_obj_ids.index(category_id)`
//!   ([`crate::labels::vcoco::VCOCO_COCO_CATEGORY_IDS`]);
//! * `hoi_annotation[k].subject_id` / `object_id`: indices into `annotations`;
//!   `object_id` is `-1` for an interaction without an object (a verb with no object role,
//!   e.g. `stand`, or a role left empty in V-COCO);
//! * `hoi_annotation[k].category_id`: the verb 0..29 of
//!   [`crate::labels::vcoco::VCOCO_VERBS`] (`_valid_verb_ids = range(29)`).
//!
//! Other keys are ignored. Nothing else is checked against the label tables: a (verb,
//! object) pair outside the 263 HOI classes is kept (the authors' test evaluator ignores
//! classes; their training loader skips such pairs — [`VcocoHoi::hoi_class`] tells which),
//! duplicate interactions are kept (they count as ground truth), and a subject need not be a
//! person box.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::super::json::Ctx;
use crate::error::{HoiclipError, Result};
use crate::labels::vcoco::{VCOCO_COCO_CATEGORY_IDS, VCOCO_HOIS, VCOCO_NO_OBJECT, VCOCO_VERBS};

/// Number of V-COCO verbs.
pub const NUM_VCOCO_VERBS: usize = VCOCO_VERBS.len();

/// Number of object classes of a ground-truth box (the 80 COCO classes).
pub const NUM_VCOCO_OBJECTS: usize = VCOCO_COCO_CATEGORY_IDS.len();

/// The contiguous object index 0..80 of a COCO category id (`_valid_obj_ids.index(id)`).
pub fn object_index_of_coco_id(coco_id: i64) -> Option<usize> {
    VCOCO_COCO_CATEGORY_IDS
        .iter()
        .position(|&c| i64::from(c) == coco_id)
}

/// The COCO category id of a contiguous object index 0..80.
pub fn coco_id_of_object_index(object: usize) -> Option<u16> {
    VCOCO_COCO_CATEGORY_IDS.get(object).copied()
}

/// The HOI class 0..263 ([`VCOCO_HOIS`] order) of (verb, object index), where object 80
/// means "no object"; `None` when the pair is not one of the 263 classes.
pub fn hoi_class_of(verb: usize, object: usize) -> Option<usize> {
    VCOCO_HOIS
        .iter()
        .position(|h| usize::from(h.verb) == verb && usize::from(h.object) == object)
}

/// One ground-truth box.
#[derive(Debug, Clone, PartialEq)]
pub struct VcocoBox {
    /// `[x1, y1, x2, y2]` pixels, as written in the file.
    pub bbox: [f64; 4],
    /// Contiguous object index 0..80 (person = 0).
    pub object: usize,
}

/// One ground-truth interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VcocoHoi {
    /// Index of the subject box in [`VcocoImage::boxes`].
    pub subject: usize,
    /// Index of the object box, `None` for `object_id = -1`.
    pub object: Option<usize>,
    /// Verb 0..29.
    pub verb: usize,
}

impl VcocoHoi {
    /// The HOI class 0..263 of this interaction, as the authors' training loader forms it:
    /// (verb, class of the object box), or (verb, 80) without an object; `None` when the
    /// pair is not a class (their loader skips it) or a box index is out of range.
    pub fn hoi_class(&self, boxes: &[VcocoBox]) -> Option<usize> {
        let object = match self.object {
            Some(o) => boxes.get(o)?.object,
            None => usize::from(VCOCO_NO_OBJECT),
        };
        hoi_class_of(self.verb, object)
    }
}

/// The ground truth of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct VcocoImage {
    /// The image's file name.
    pub file_name: String,
    /// Its boxes, in file order.
    pub boxes: Vec<VcocoBox>,
    /// Its interactions, in file order (duplicates kept).
    pub hois: Vec<VcocoHoi>,
}

/// A whole V-COCO annotation file.
#[derive(Debug, Clone)]
pub struct VcocoAnnotations {
    images: Vec<VcocoImage>,
    by_name: HashMap<String, usize>,
    source: PathBuf,
}

impl VcocoAnnotations {
    /// Reads `test_vcoco.json` / `trainval_vcoco.json`.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when the file cannot be read; [`HoiclipError::Config`] naming the
    /// file, the image and the field when the content is malformed (not JSON, a missing or
    /// mistyped field, a box that is not four finite numbers, a COCO id that is not one of
    /// the 80, a verb outside 0..29, a box index out of range or an `object_id` below -1, a
    /// repeated file name).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::error::read_text(path)?;
        Self::from_json_str(&text, path)
    }

    /// Parses annotation JSON; `source` names it in error messages.
    ///
    /// # Errors
    ///
    /// As [`VcocoAnnotations::from_file`], without the I/O case.
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
        let images = items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_image(item, i, source))
            .collect::<Result<Vec<_>>>()?;
        Self::build(images, source.to_path_buf())
    }

    /// Builds annotations from images in memory (synthetic data, tests).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when a file name repeats, an object index is not below 80, a
    /// box index is out of range, a verb is not below 29 or a box is not finite.
    pub fn from_images(images: Vec<VcocoImage>) -> Result<Self> {
        let source = PathBuf::from("<in memory>");
        for (i, img) in images.iter().enumerate() {
            let ctx = Ctx {
                file: &source,
                image_index: i,
                image_name: Some(&img.file_name),
            };
            for (k, b) in img.boxes.iter().enumerate() {
                if b.object >= NUM_VCOCO_OBJECTS {
                    return Err(ctx.error(&format!("boxes[{k}].object"), "not below 80"));
                }
                if b.bbox.iter().any(|v| !v.is_finite()) {
                    return Err(ctx.error(&format!("boxes[{k}].bbox"), "not finite"));
                }
            }
            for (k, h) in img.hois.iter().enumerate() {
                let n = img.boxes.len();
                if h.subject >= n || h.object.is_some_and(|o| o >= n) {
                    return Err(ctx.error(&format!("hois[{k}]"), "box index out of range"));
                }
                if h.verb >= NUM_VCOCO_VERBS {
                    return Err(ctx.error(&format!("hois[{k}].verb"), "not below 29"));
                }
            }
        }
        Self::build(images, source)
    }

    fn build(images: Vec<VcocoImage>, source: PathBuf) -> Result<Self> {
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
    pub fn images(&self) -> &[VcocoImage] {
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

    /// The file the annotations came from (`<in memory>` for
    /// [`VcocoAnnotations::from_images`]).
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Position of an image by file name.
    pub fn image_index(&self, file_name: &str) -> Option<usize> {
        self.by_name.get(file_name).copied()
    }

    /// An image by file name.
    pub fn get(&self, file_name: &str) -> Option<&VcocoImage> {
        self.image_index(file_name).map(|i| &self.images[i])
    }

    /// Number of ground-truth interactions of each verb (`[29]`), counting every
    /// `hoi_annotation` entry (duplicates and object-less ones included), as the reference's
    /// `sum_gts` counts them.
    pub fn verb_counts(&self) -> [usize; NUM_VCOCO_VERBS] {
        let mut counts = [0usize; NUM_VCOCO_VERBS];
        for img in &self.images {
            for h in &img.hois {
                counts[h.verb] += 1;
            }
        }
        counts
    }

    /// Total number of ground-truth interactions.
    pub fn num_hois(&self) -> usize {
        self.images.iter().map(|i| i.hois.len()).sum()
    }

    /// The annotations in the file's JSON form (COCO category ids, `object_id` -1 for no
    /// object, verbs 0..29).
    pub fn to_json_value(&self) -> Value {
        Value::Array(self.images.iter().map(image_to_json).collect())
    }

    /// Writes [`VcocoAnnotations::to_json_value`] to a file.
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

fn image_to_json(img: &VcocoImage) -> Value {
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
            let object = h.object.map_or(-1, |o| o as i64);
            serde_json::json!({
                "subject_id": h.subject,
                "object_id": object,
                "category_id": h.verb,
            })
        })
        .collect();
    serde_json::json!({
        "file_name": img.file_name,
        "annotations": boxes,
        "hoi_annotation": hois,
    })
}

fn parse_image(item: &Value, index: usize, file: &Path) -> Result<VcocoImage> {
    let mut ctx = Ctx {
        file,
        image_index: index,
        image_name: None,
    };
    let file_name = ctx.string(ctx.field(item, "file_name", "")?, "file_name")?;
    ctx.image_name = Some(file_name);

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
        boxes.push(VcocoBox { bbox, object });
    }

    let raw_hois = ctx.array(ctx.field(item, "hoi_annotation", "")?, "hoi_annotation")?;
    let mut hois = Vec::with_capacity(raw_hois.len());
    for (k, h) in raw_hois.iter().enumerate() {
        let path = format!("hoi_annotation[{k}]");
        let box_index = |key: &str, allow_none: bool| -> Result<Option<usize>> {
            let p = format!("{path}.{key}");
            let i = ctx.int(ctx.field(h, key, &path)?, &p)?;
            if allow_none && i == -1 {
                return Ok(None);
            }
            match usize::try_from(i) {
                Ok(i) if i < boxes.len() => Ok(Some(i)),
                _ => Err(ctx.error(
                    &p,
                    format!(
                        "box {i} does not exist (the image has {} boxes{})",
                        boxes.len(),
                        if allow_none { "; -1 = no object" } else { "" }
                    ),
                )),
            }
        };
        let subject = box_index("subject_id", false)?.unwrap_or(0);
        let object = box_index("object_id", true)?;
        let verb_path = format!("{path}.category_id");
        let verb = ctx.int(ctx.field(h, "category_id", &path)?, &verb_path)?;
        let verb = usize::try_from(verb)
            .ok()
            .filter(|&v| v < NUM_VCOCO_VERBS)
            .ok_or_else(|| ctx.error(&verb_path, format!("verb {verb} is not in 0..29")))?;
        hois.push(VcocoHoi {
            subject,
            object,
            verb,
        });
    }
    Ok(VcocoImage {
        file_name: file_name.to_string(),
        boxes,
        hois,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"[{"file_name": "a.jpg", "width": 640,
        "annotations": [{"bbox": [1, 2, 30.5, 40], "category_id": 1},
                        {"bbox": [5, 5, 50, 60], "category_id": 90}],
        "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 0},
                           {"subject_id": 0, "object_id": -1, "category_id": 1}]}]"#;

    #[test]
    fn reads_and_writes() {
        let a = VcocoAnnotations::from_json_str(ONE, "t.json").unwrap();
        let img = &a.images()[0];
        assert_eq!(img.boxes[1].object, 79, "COCO id 90 is the last class");
        assert_eq!(img.boxes[0].bbox, [1.0, 2.0, 30.5, 40.0]);
        assert_eq!(img.hois[1].object, None);
        assert_eq!(a.verb_counts()[0], 1);
        assert_eq!(a.num_hois(), 2);
        assert_eq!(a.get("a.jpg").map(|i| i.hois.len()), Some(2));
        let again =
            VcocoAnnotations::from_json_str(&a.to_json_value().to_string(), "u.json").unwrap();
        assert_eq!(again.images(), a.images());
        // (stand, no object) is a class; (hold, toothbrush) may not be.
        assert!(img.hois[1].hoi_class(&img.boxes).is_some());
    }

    fn err(text: &str) -> String {
        VcocoAnnotations::from_json_str(text, "t.json")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_file_image_and_field() {
        let e = err(&ONE.replace(r#""category_id": 90"#, r#""category_id": 12"#));
        assert!(e.contains("t.json") && e.contains("image 0 (a.jpg)"), "{e}");
        assert!(
            e.contains("annotations[1].category_id") && e.contains("12"),
            "{e}"
        );
        let e = err(&ONE.replace(r#""object_id": -1"#, r#""object_id": -2"#));
        assert!(e.contains("hoi_annotation[1].object_id"), "{e}");
        let e = err(&ONE.replace(r#""object_id": 1"#, r#""object_id": 2"#));
        assert!(
            e.contains("hoi_annotation[0].object_id") && e.contains("2 boxes"),
            "{e}"
        );
        let e = err(&ONE.replace(
            r#""subject_id": 0, "object_id": -1"#,
            r#""subject_id": -1, "object_id": -1"#,
        ));
        assert!(e.contains("hoi_annotation[1].subject_id"), "{e}");
        let e = err(&ONE.replace(r#""category_id": 1}]}]"#, r#""category_id": 29}]}]"#));
        assert!(
            e.contains("hoi_annotation[1].category_id") && e.contains("0..29"),
            "{e}"
        );
        let e = err(&ONE.replace("[1, 2, 30.5, 40]", "[1, 2, 30.5]"));
        assert!(e.contains("annotations[0].bbox"), "{e}");
        let e = err(&ONE.replace(r#""file_name": "a.jpg","#, ""));
        assert!(e.contains("file_name") && e.contains("missing"), "{e}");
        let e = err(&format!("[{0}, {0}]", &ONE[1..ONE.len() - 1]));
        assert!(e.contains("repeats image 0"), "{e}");
        assert!(err("{").contains("not valid JSON"));
        assert!(err("{}").contains("JSON array"));
    }
}
