//! Per-image HOI predictions in the JSON form of the HOICLIP family of repositories.
//!
//! One image is (`hico_eval_triplet.py`, `HICOEvaluator.__init__`):
//!
//! ```json
//! {"filename": "HICO_test2015_00000001.jpg",
//!  "predictions": [{"bbox": [x1, y1, x2, y2], "category_id": 0}, ...],
//!  "hoi_prediction": [{"subject_id": 0, "object_id": 64, "category_id": 152, "score": 1.31}, ...]}
//! ```
//!
//! * `predictions[k].bbox`: `[x1, y1, x2, y2]` pixels of the original image;
//!   `category_id` is optional (HOICLIP's triplet evaluator omits it; GEN-VLKT's writes the
//!   contiguous object index 0..80, which is what this crate writes);
//! * `hoi_prediction[k].subject_id` / `object_id`: indices into `predictions`;
//! * `category_id`: the HOI class 0..600 (`hico_text_label` order) — or, with
//!   [`CategoryMeaning::Verb`], GEN-VLKT's verb index 0..117 combined with the object box's
//!   `category_id` into the HOI class;
//! * `score`: the triplet score.
//!
//! A predictions file is a JSON array of such objects, an object `{"preds": [...]}` (the
//! dictionary the reference dumps, once un-stringified), or JSON lines (`.jsonl`, one image per
//! line, as [`super::runner`] appends them).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::ids::{HoiTable, NUM_HOIS, NUM_OBJECTS};
use super::json::Ctx;
use crate::detector::HoiDetection;
use crate::error::{HoiclipError, Result};

/// One predicted box.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredBox {
    /// `[x1, y1, x2, y2]` pixels (`f32`, as the reference's tensors).
    pub bbox: [f32; 4],
    /// The box's class, when the file gives one (contiguous object index 0..80).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_id: Option<i64>,
}

/// One predicted interaction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PredHoi {
    /// Index of the subject box in [`ImagePredictions::predictions`].
    pub subject_id: usize,
    /// Index of the object box in [`ImagePredictions::predictions`].
    pub object_id: usize,
    /// HOI class 0..600.
    pub category_id: usize,
    /// Score; higher is more confident.
    pub score: f32,
}

/// A detection's object box; an object-less detection (which a HICO-DET model does not
/// make) takes its subject box, so that the pair still has two boxes.
fn object_box(d: &HoiDetection) -> [f32; 4] {
    d.object_box.unwrap_or(d.subject_box)
}

/// The predictions of one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImagePredictions {
    /// The image's file name (matched against the annotation's `file_name`).
    pub filename: String,
    /// Boxes referenced by [`ImagePredictions::hoi_prediction`].
    pub predictions: Vec<PredBox>,
    /// Interactions.
    pub hoi_prediction: Vec<PredHoi>,
}

impl ImagePredictions {
    /// Converts a detector's output for one image.
    ///
    /// Boxes are laid out as the reference does: the subject boxes of the distinct pairs
    /// (in order of first appearance), then their object boxes, so that `subject_id = k` and
    /// `object_id = num_pairs + k` for the `k`-th pair. Subject boxes get `category_id` 0
    /// (person), object boxes their detection's `object_id`.
    pub fn from_detections(filename: impl Into<String>, detections: &[HoiDetection]) -> Self {
        // Distinct pairs keyed by (pair, subject box bits, object box bits).
        let mut pairs: Vec<(&HoiDetection, usize)> = Vec::new();
        let mut slot: HashMap<(usize, [u32; 4], [u32; 4]), usize> = HashMap::new();
        let mut hoi_pair = Vec::with_capacity(detections.len());
        for d in detections {
            let key = (
                d.pair,
                d.subject_box.map(f32::to_bits),
                object_box(d).map(f32::to_bits),
            );
            let k = *slot.entry(key).or_insert_with(|| {
                pairs.push((d, pairs.len()));
                pairs.len() - 1
            });
            hoi_pair.push(k);
        }
        let n = pairs.len();
        let mut predictions = Vec::with_capacity(2 * n);
        for (d, _) in &pairs {
            predictions.push(PredBox {
                bbox: d.subject_box,
                category_id: Some(0),
            });
        }
        for (d, _) in &pairs {
            predictions.push(PredBox {
                bbox: object_box(d),
                category_id: Some(d.object_id as i64),
            });
        }
        let hoi_prediction = detections
            .iter()
            .zip(hoi_pair)
            .map(|(d, k)| PredHoi {
                subject_id: k,
                object_id: n + k,
                category_id: d.hoi_id,
                score: d.score,
            })
            .collect();
        Self {
            filename: filename.into(),
            predictions,
            hoi_prediction,
        }
    }

    /// The image as one JSON value of the reference format.
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// How to read `hoi_prediction[k].category_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CategoryMeaning {
    /// The HOI class 0..600 (HOICLIP's `hico_eval_triplet.py`).
    #[default]
    Hoi,
    /// A verb index 0..117 whose object is the object box's `category_id` (a contiguous object
    /// index 0..80), as GEN-VLKT's `hico_eval.py` writes them. Pairs that are not one of the
    /// 600 classes can never match and are dropped (counted in
    /// [`Predictions::dropped_invalid`]).
    Verb,
}

/// Predictions for a set of images.
#[derive(Debug, Clone, Default)]
pub struct Predictions {
    images: Vec<ImagePredictions>,
    by_name: HashMap<String, usize>,
    dropped_invalid: usize,
}

impl Predictions {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// From images.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when a file name repeats or an id is out of range.
    pub fn from_images(images: Vec<ImagePredictions>) -> Result<Self> {
        let mut p = Self::new();
        for img in images {
            p.push(img)?;
        }
        Ok(p)
    }

    /// Adds one image.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when the file name is already present, or a box index or
    /// class is out of range.
    pub fn push(&mut self, image: ImagePredictions) -> Result<()> {
        let index = self.images.len();
        let ctx = Ctx {
            file: Path::new("<predictions>"),
            image_index: index,
            image_name: Some(&image.filename),
        };
        validate(&image, &ctx)?;
        if let Some(first) = self.by_name.get(&image.filename) {
            return Err(ctx.error("filename", format!("repeats image {first}")));
        }
        self.by_name.insert(image.filename.clone(), index);
        self.images.push(image);
        Ok(())
    }

    /// Reads a predictions file (JSON array, `{"preds": [...]}` or JSON lines, see the
    /// module doc), reading `category_id` as the HOI class.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when unreadable; [`HoiclipError::Config`] naming the file, the
    /// image and the field when malformed.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_file_with(path, CategoryMeaning::Hoi)
    }

    /// As [`Predictions::from_file`] with an explicit [`CategoryMeaning`].
    ///
    /// # Errors
    ///
    /// As [`Predictions::from_file`].
    pub fn from_file_with(path: impl AsRef<Path>, meaning: CategoryMeaning) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::error::read_text(path)?;
        Self::from_str_with(&text, path, meaning)
    }

    /// Parses predictions text; `source` names it in messages and its extension `.jsonl`
    /// selects JSON lines (text that is not one JSON document is also tried as JSON lines).
    ///
    /// # Errors
    ///
    /// As [`Predictions::from_file`], without the I/O case.
    pub fn from_str_with(text: &str, source: &Path, meaning: CategoryMeaning) -> Result<Self> {
        let jsonl = source.extension().is_some_and(|e| e == "jsonl");
        let values: Vec<Value> = if jsonl {
            parse_lines(text, source)?
        } else {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(items)) => items,
                Ok(Value::Object(mut map)) if map.contains_key("preds") => {
                    match map.remove("preds") {
                        Some(Value::Array(items)) => items,
                        _ => {
                            return Err(HoiclipError::Config(format!(
                                "{}: field `preds` is not an array",
                                source.display()
                            )));
                        }
                    }
                }
                Ok(v @ Value::Object(_)) => vec![v],
                Ok(Value::String(_)) => {
                    return Err(HoiclipError::Config(format!(
                        "{}: the file holds a JSON string (the reference's \
                         `json.dumps(str(...))` dump of a Python repr); convert it first, \
                         e.g. `json.dump(eval(json.load(f))['preds'], out)`",
                        source.display()
                    )));
                }
                Ok(_) => {
                    return Err(HoiclipError::Config(format!(
                        "{}: expected a JSON array of images",
                        source.display()
                    )));
                }
                Err(e) => parse_lines(text, source).map_err(|_| {
                    HoiclipError::Config(format!("{}: not valid JSON: {e}", source.display()))
                })?,
            }
        };
        let table = HoiTable::new();
        let mut out = Self::new();
        for (i, v) in values.iter().enumerate() {
            let (img, dropped) = parse_image(v, i, source, meaning, &table)?;
            out.dropped_invalid += dropped;
            let ctx = Ctx {
                file: source,
                image_index: i,
                image_name: Some(&img.filename),
            };
            if let Some(first) = out.by_name.get(&img.filename) {
                return Err(ctx.error("filename", format!("repeats image {first}")));
            }
            out.by_name.insert(img.filename.clone(), out.images.len());
            out.images.push(img);
        }
        Ok(out)
    }

    /// The images, in order.
    pub fn images(&self) -> &[ImagePredictions] {
        &self.images
    }

    /// The predictions of an image, by file name.
    pub fn get(&self, filename: &str) -> Option<&ImagePredictions> {
        self.by_name.get(filename).map(|&i| &self.images[i])
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Interactions dropped when reading with [`CategoryMeaning::Verb`] because their (verb,
    /// object) is not one of the 600 classes.
    pub fn dropped_invalid(&self) -> usize {
        self.dropped_invalid
    }

    /// Writes a JSON array (the reference's `preds` list).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Write`] when the file cannot be written.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = serde_json::to_string(&self.images).map_err(|e| write_err(path, e))?;
        std::fs::write(path, text).map_err(|e| write_err(path, e))
    }

    /// Writes JSON lines, one image per line.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Write`] when the file cannot be written.
    pub fn write_jsonl(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(|e| write_err(path, e))?;
        let mut w = std::io::BufWriter::new(file);
        for img in &self.images {
            writeln!(w, "{}", jsonl_line(img)?).map_err(|e| write_err(path, e))?;
        }
        w.flush().map_err(|e| write_err(path, e))
    }
}

/// One image as a JSON line (no newline).
pub(crate) fn jsonl_line(img: &ImagePredictions) -> Result<String> {
    serde_json::to_string(img)
        .map_err(|e| HoiclipError::Config(format!("cannot serialise {}: {e}", img.filename)))
}

pub(crate) fn write_err(path: &Path, e: impl std::fmt::Display) -> HoiclipError {
    HoiclipError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn parse_lines(text: &str, source: &Path) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(line).map_err(|e| {
            HoiclipError::Config(format!(
                "{}: line {}: not valid JSON: {e}",
                source.display(),
                n + 1
            ))
        })?;
        out.push(v);
    }
    Ok(out)
}

/// Parses one image; also used by the runner. Returns the image and the number of
/// interactions dropped by [`CategoryMeaning::Verb`].
pub(crate) fn parse_image(
    item: &Value,
    index: usize,
    file: &Path,
    meaning: CategoryMeaning,
    table: &HoiTable,
) -> Result<(ImagePredictions, usize)> {
    let mut ctx = Ctx {
        file,
        image_index: index,
        image_name: None,
    };
    let filename = ctx.string(ctx.field(item, "filename", "")?, "filename")?;
    ctx.image_name = Some(filename);
    let raw_boxes = ctx.array(ctx.field(item, "predictions", "")?, "predictions")?;
    let mut predictions = Vec::with_capacity(raw_boxes.len());
    for (k, b) in raw_boxes.iter().enumerate() {
        let path = format!("predictions[{k}]");
        let bbox = ctx.bbox(ctx.field(b, "bbox", &path)?, &format!("{path}.bbox"))?;
        let category_id = match b.as_object().and_then(|m| m.get("category_id")) {
            Some(v) => Some(ctx.int(v, &format!("{path}.category_id"))?),
            None => None,
        };
        predictions.push(PredBox {
            bbox: bbox.map(|x| x as f32),
            category_id,
        });
    }
    let raw_hois = ctx.array(ctx.field(item, "hoi_prediction", "")?, "hoi_prediction")?;
    let mut hois = Vec::with_capacity(raw_hois.len());
    let mut dropped = 0;
    for (k, h) in raw_hois.iter().enumerate() {
        let path = format!("hoi_prediction[{k}]");
        let box_index = |key: &str| -> Result<usize> {
            let p = format!("{path}.{key}");
            let i = ctx.index(ctx.field(h, key, &path)?, &p)?;
            if i >= predictions.len() {
                return Err(ctx.error(
                    &p,
                    format!(
                        "box {i} does not exist (the image has {} boxes)",
                        predictions.len()
                    ),
                ));
            }
            Ok(i)
        };
        let subject_id = box_index("subject_id")?;
        let object_id = box_index("object_id")?;
        let cat_path = format!("{path}.category_id");
        let cat = ctx.index(ctx.field(h, "category_id", &path)?, &cat_path)?;
        let score_path = format!("{path}.score");
        let score = ctx.number(ctx.field(h, "score", &path)?, &score_path)? as f32;
        let category_id = match meaning {
            CategoryMeaning::Hoi => {
                if cat >= NUM_HOIS {
                    return Err(ctx.error(&cat_path, format!("HOI class {cat} is not below 600")));
                }
                cat
            }
            CategoryMeaning::Verb => {
                let obj_path = format!("predictions[{object_id}].category_id");
                let object = predictions[object_id]
                    .category_id
                    .ok_or_else(|| ctx.error(&obj_path, "missing (needed to read verb ids)"))?;
                let object = usize::try_from(object)
                    .ok()
                    .filter(|&o| o < NUM_OBJECTS)
                    .ok_or_else(|| ctx.error(&obj_path, format!("{object} is not in 0..80")))?;
                match table.get(cat, object) {
                    Some(hoi) => hoi,
                    None => {
                        dropped += 1;
                        continue;
                    }
                }
            }
        };
        hois.push(PredHoi {
            subject_id,
            object_id,
            category_id,
            score,
        });
    }
    Ok((
        ImagePredictions {
            filename: filename.to_string(),
            predictions,
            hoi_prediction: hois,
        },
        dropped,
    ))
}

fn validate(image: &ImagePredictions, ctx: &Ctx<'_>) -> Result<()> {
    for (k, h) in image.hoi_prediction.iter().enumerate() {
        if h.subject_id >= image.predictions.len() || h.object_id >= image.predictions.len() {
            return Err(ctx.error(&format!("hoi_prediction[{k}]"), "box index out of range"));
        }
        if h.category_id >= NUM_HOIS {
            return Err(ctx.error(
                &format!("hoi_prediction[{k}].category_id"),
                "HOI class is not below 600",
            ));
        }
    }
    Ok(())
}
