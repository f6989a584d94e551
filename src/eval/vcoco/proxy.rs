//! The HOICLIP authors' V-COCO evaluator, `datasets/datasets_gen/vcoco_eval.py`
//! (`VCOCOEvaluator`, the numbers of their training logs: `mAP_all`, `mAP_thesis`). This is
//! a proxy: the official V-COCO role AP is s-gupta/v-coco's `vsrl_eval.py`.
//!
//! Two steps, as in the reference:
//!
//! 1. **Pre-evaluation** (`VCOCOEvaluator.__init__`, [`VcocoImagePredictions::from_pair_scores`]):
//!    from the per-pair outputs of `PostProcessHOITriplet` (2Q boxes: Q subjects then Q
//!    objects; labels; `[Q, 263]` sigmoid HOI scores; `[Q, 82]` sigmoid object scores),
//!    `score_mode = 1`: `hoi_scores + obj_scores**2[:, hoi_obj_list]` (float32), per pair
//!    and verb the max over the verb's HOI classes, times
//!    `correct_mat[verb, object label]` (with a column of ones appended,
//!    [`VcocoCorrectMat`]), then Python's stable sort by decreasing score and the first 100
//!    (`max_hois`). No triplet NMS (`use_nms_filter` is accepted and ignored by the
//!    reference).
//! 2. **Evaluation** ([`evaluate`]) of those lists against the test ground truth; see
//!    `docs/evaluation.md` ("V-COCO: the authors' proxy") for every rule and quirk.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::annotations::{NUM_VCOCO_VERBS, VcocoAnnotations, VcocoHoi};
use super::correct_mat::{VCOCO_MAX_OBJECT_LABEL, VcocoCorrectMat};
use crate::error::{HoiclipError, Result};
use crate::eval::ap::{NUMPY_RECALL_POINTS, eleven_point_ap};
use crate::eval::json::Ctx;
use crate::labels::vcoco::{VCOCO_HOIS, VCOCO_VERBS};
use crate::postprocess::top_k_verbs;
use crate::postprocess::vcoco::verb_scores_from_probabilities;

/// Interactions the reference keeps per image (`max_hois`).
pub const VCOCO_MAX_HOIS: usize = 100;

/// Number of V-COCO HOI classes (columns of the HOI scores).
pub const VCOCO_NUM_HOIS: usize = VCOCO_HOIS.len();

/// Columns of the object scores: 80 objects, "person only" (80), "nothing" (81).
pub const VCOCO_OBJ_SCORE_COLUMNS: usize = 82;

/// The 24 verbs of `mAP_thesis` (`thesis_map_indices`: all but stand, walk, run, smile,
/// point).
pub const VCOCO_THESIS_VERBS: [usize; 24] = [
    0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 24, 25, 27, 28,
];

/// The IoU a box match needs (`overlap_iou`).
pub const VCOCO_OVERLAP_IOU: f64 = 0.5;

// ---------------------------------------------------------------------------------------
// Predictions
// ---------------------------------------------------------------------------------------

/// One predicted box of the post-processed predictions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VcocoPredBox {
    /// `[x1, y1, x2, y2]` pixels (`f32`, as the reference's tensors).
    pub bbox: [f32; 4],
    /// Contiguous object label: 0 (person) for subjects, 0..=80 for objects (80 = "person
    /// only"). Boxes match ground truth of the same class only.
    pub category_id: usize,
}

/// One post-processed interaction: a pair and a verb.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VcocoPredHoi {
    /// Index of the subject box in [`VcocoImagePredictions::predictions`].
    pub subject_id: usize,
    /// Index of the object box in [`VcocoImagePredictions::predictions`].
    pub object_id: usize,
    /// Verb 0..29.
    pub category_id: usize,
    /// Score (`float64` in the reference, holding a `float32` sum times the mask).
    pub score: f64,
}

/// The predictions of one image after the reference's pre-evaluation step: its
/// `{'predictions': ..., 'hoi_prediction': ...}` dictionary, with the file name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VcocoImagePredictions {
    /// The image's file name (matched against the annotation's `file_name`).
    pub filename: String,
    /// Boxes referenced by [`VcocoImagePredictions::hoi_prediction`].
    pub predictions: Vec<VcocoPredBox>,
    /// Interactions, best first.
    pub hoi_prediction: Vec<VcocoPredHoi>,
}

/// The raw per-pair outputs of the authors' `PostProcessHOITriplet` for one image, as
/// [`VcocoImagePredictions::from_pair_scores`] takes them.
#[derive(Debug, Clone, Copy)]
pub struct VcocoPairScores<'a> {
    /// `2Q` boxes `[x1, y1, x2, y2]` in original-image pixels: the Q subject boxes, then
    /// the Q object boxes (`sub_ids = 0..Q`, `obj_ids = Q..2Q`).
    pub boxes: &'a [[f32; 4]],
    /// `2Q` labels: the subjects' (0), then the objects' (0..=80).
    pub labels: &'a [usize],
    /// `[Q, 263]` row-major sigmoid HOI scores (training-free enhancement already added,
    /// if any).
    pub hoi_scores: &'a [f32],
    /// `[Q, 82]` row-major sigmoid object scores.
    pub obj_scores: &'a [f32],
}

impl VcocoImagePredictions {
    /// The reference's pre-evaluation step for one image (`VCOCOEvaluator.__init__`,
    /// `score_mode = 1`):
    ///
    /// 1. `s[q, h] = hoi_scores[q, h] + obj_scores[q, o(h)] * obj_scores[q, o(h)]` in `f32`,
    ///    `o(h)` the object of class `h` (80 for the object-less classes);
    /// 2. per pair `q` and verb `v`: `max` of `s[q, h]` over the verb's classes, widened to
    ///    `f64`, times `correct_mat[v, labels[Q + q]]` (with the appended ones,
    ///    [`VcocoCorrectMat::mask`]);
    /// 3. the `Q × 29` entries in pair-major order, stable-sorted by decreasing score
    ///    (Python's `list.sort(reverse=True)` keeps equal scores in that order), the first
    ///    [`VCOCO_MAX_HOIS`] kept. `subject_id = q`, `object_id = Q + q`.
    ///
    /// The boxes and labels become [`VcocoImagePredictions::predictions`] unchanged. The
    /// arithmetic is the reference's, operation for operation, so the scores are
    /// bit-identical to its float32 results for the same inputs.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when the lengths disagree (`boxes` and `labels` of length
    /// `2Q`, `hoi_scores` `Q × 263`, `obj_scores` `Q × 82`), an object label exceeds 80, or a
    /// score or box is not finite.
    pub fn from_pair_scores(
        filename: impl Into<String>,
        scores: &VcocoPairScores<'_>,
        correct_mat: &VcocoCorrectMat,
    ) -> Result<Self> {
        let filename = filename.into();
        let bad =
            |why: String| HoiclipError::Config(format!("V-COCO pair scores of {filename}: {why}"));
        let n = scores.boxes.len();
        if !n.is_multiple_of(2) || scores.labels.len() != n {
            return Err(bad(format!(
                "{n} boxes and {} labels: expected 2Q of each (Q subjects, then Q objects)",
                scores.labels.len()
            )));
        }
        let q = n / 2;
        if scores.hoi_scores.len() != q * VCOCO_NUM_HOIS {
            return Err(bad(format!(
                "{} HOI scores, expected Q x 263 = {}",
                scores.hoi_scores.len(),
                q * VCOCO_NUM_HOIS
            )));
        }
        if scores.obj_scores.len() != q * VCOCO_OBJ_SCORE_COLUMNS {
            return Err(bad(format!(
                "{} object scores, expected Q x 82 = {}",
                scores.obj_scores.len(),
                q * VCOCO_OBJ_SCORE_COLUMNS
            )));
        }
        if let Some(k) = scores
            .labels
            .iter()
            .position(|&l| l > VCOCO_MAX_OBJECT_LABEL)
        {
            return Err(bad(format!(
                "label {} of box {k} exceeds 80",
                scores.labels[k]
            )));
        }
        if scores
            .hoi_scores
            .iter()
            .chain(scores.obj_scores)
            .any(|s| !s.is_finite())
        {
            return Err(bad("a score is not finite".into()));
        }
        if let Some(k) = scores
            .boxes
            .iter()
            .position(|b| b.iter().any(|v| !v.is_finite()))
        {
            return Err(bad(format!("box {k} is not finite")));
        }

        let class_verbs: Vec<usize> = VCOCO_HOIS.iter().map(|h| usize::from(h.verb)).collect();
        let class_objects: Vec<usize> = VCOCO_HOIS.iter().map(|h| usize::from(h.object)).collect();
        let verb_scores = verb_scores_from_probabilities(
            scores.hoi_scores,
            scores.obj_scores,
            &class_verbs,
            &class_objects,
            q,
            VCOCO_OBJ_SCORE_COLUMNS,
            NUM_VCOCO_VERBS,
        );
        let entries: Vec<VcocoPredHoi> = top_k_verbs(
            &verb_scores,
            &scores.labels[q..],
            &correct_mat.verb_object_mask(),
            VCOCO_MAX_HOIS,
        )?
        .into_iter()
        .map(|c| VcocoPredHoi {
            subject_id: c.pair,
            object_id: q + c.pair,
            category_id: c.verb,
            score: c.score,
        })
        .collect();
        let predictions = scores
            .boxes
            .iter()
            .zip(scores.labels)
            .map(|(&bbox, &category_id)| VcocoPredBox { bbox, category_id })
            .collect();
        Ok(Self {
            filename,
            predictions,
            hoi_prediction: entries,
        })
    }

    /// The image as JSON (`filename`, `predictions`, `hoi_prediction`).
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Checks box indices, verbs and finiteness.
    fn validate(&self, ctx: &Ctx<'_>) -> Result<()> {
        for (k, b) in self.predictions.iter().enumerate() {
            if b.bbox.iter().any(|v| !v.is_finite()) {
                return Err(ctx.error(&format!("predictions[{k}].bbox"), "not finite"));
            }
            if b.category_id > VCOCO_MAX_OBJECT_LABEL {
                return Err(ctx.error(
                    &format!("predictions[{k}].category_id"),
                    format!("label {} exceeds 80", b.category_id),
                ));
            }
        }
        let n = self.predictions.len();
        for (k, h) in self.hoi_prediction.iter().enumerate() {
            if h.subject_id >= n || h.object_id >= n {
                return Err(ctx.error(
                    &format!("hoi_prediction[{k}]"),
                    format!("box index out of range (the image has {n} boxes)"),
                ));
            }
            if h.category_id >= NUM_VCOCO_VERBS {
                return Err(ctx.error(
                    &format!("hoi_prediction[{k}].category_id"),
                    format!("verb {} is not in 0..29", h.category_id),
                ));
            }
            if !h.score.is_finite() {
                return Err(ctx.error(&format!("hoi_prediction[{k}].score"), "not finite"));
            }
        }
        Ok(())
    }
}

/// Post-processed V-COCO predictions of many images, keyed by file name.
///
/// A file is a JSON array of [`VcocoImagePredictions`] objects, an object `{"preds": [...]}`,
/// or JSON lines (`.jsonl`, one image per line). Each image:
///
/// ```json
/// {"filename": "COCO_val2014_000000000042.jpg",
///  "predictions": [{"bbox": [x1, y1, x2, y2], "category_id": 0}, ...],
///  "hoi_prediction": [{"subject_id": 0, "object_id": 64, "category_id": 5, "score": 1.31}, ...]}
/// ```
///
/// (`file_name` is accepted for `filename`.)
#[derive(Debug, Clone, Default)]
pub struct VcocoPredictions {
    images: Vec<VcocoImagePredictions>,
    by_name: HashMap<String, usize>,
}

impl VcocoPredictions {
    /// No images.
    pub fn new() -> Self {
        Self::default()
    }

    /// Predictions from images in memory.
    ///
    /// # Errors
    ///
    /// As [`VcocoPredictions::push`].
    pub fn from_images(images: Vec<VcocoImagePredictions>) -> Result<Self> {
        let mut out = Self::new();
        for img in images {
            out.push(img)?;
        }
        Ok(out)
    }

    /// Adds one image.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when the file name is already present, a box index is out of
    /// range, a label exceeds 80, a verb is not below 29, or a box or score is not finite.
    pub fn push(&mut self, image: VcocoImagePredictions) -> Result<()> {
        let source = Path::new("<in memory>");
        let ctx = Ctx {
            file: source,
            image_index: self.images.len(),
            image_name: Some(&image.filename),
        };
        image.validate(&ctx)?;
        if let Some(first) = self.by_name.get(&image.filename) {
            return Err(ctx.error("filename", format!("repeats image {first}")));
        }
        self.by_name
            .insert(image.filename.clone(), self.images.len());
        self.images.push(image);
        Ok(())
    }

    /// Reads a predictions file (`.jsonl`: JSON lines; otherwise a JSON array or
    /// `{"preds": [...]}`).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when unreadable; [`HoiclipError::Config`] naming the file, the
    /// image and the field for malformed content, and as [`VcocoPredictions::push`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::error::read_text(path)?;
        Self::from_json_str(&text, path)
    }

    /// Parses predictions text; `source` names it in messages, and its extension `.jsonl`
    /// selects JSON lines.
    ///
    /// # Errors
    ///
    /// As [`VcocoPredictions::from_file`], without the I/O case.
    pub fn from_json_str(text: &str, source: impl AsRef<Path>) -> Result<Self> {
        let source = source.as_ref();
        let not_json = |e: serde_json::Error, line: Option<usize>| {
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            HoiclipError::Config(format!("{}{at}: not valid JSON: {e}", source.display()))
        };
        let values: Vec<Value> = if source.extension().is_some_and(|e| e == "jsonl") {
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| serde_json::from_str(l).map_err(|e| not_json(e, Some(i + 1))))
                .collect::<Result<_>>()?
        } else {
            match serde_json::from_str(text).map_err(|e| not_json(e, None))? {
                Value::Array(items) => items,
                Value::Object(mut map) => match map.remove("preds") {
                    Some(Value::Array(items)) => items,
                    _ => {
                        return Err(HoiclipError::Config(format!(
                            "{}: expected a JSON array of images or {{\"preds\": [...]}}",
                            source.display()
                        )));
                    }
                },
                _ => {
                    return Err(HoiclipError::Config(format!(
                        "{}: expected a JSON array of images",
                        source.display()
                    )));
                }
            }
        };
        let mut out = Self::new();
        for (i, v) in values.iter().enumerate() {
            let img = parse_prediction(v, i, source)?;
            let ctx = Ctx {
                file: source,
                image_index: i,
                image_name: Some(&img.filename),
            };
            if let Some(first) = out.by_name.get(&img.filename) {
                return Err(ctx.error("filename", format!("repeats image {first}")));
            }
            img.validate(&ctx)?;
            out.by_name.insert(img.filename.clone(), out.images.len());
            out.images.push(img);
        }
        Ok(out)
    }

    /// The images, in insertion order.
    pub fn images(&self) -> &[VcocoImagePredictions] {
        &self.images
    }

    /// An image by file name.
    pub fn get(&self, filename: &str) -> Option<&VcocoImagePredictions> {
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

    /// Writes a JSON array of the images.
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
            let line = serde_json::to_string(img).map_err(|e| write_err(path, e))?;
            writeln!(w, "{line}").map_err(|e| write_err(path, e))?;
        }
        w.flush().map_err(|e| write_err(path, e))
    }
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> HoiclipError {
    HoiclipError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn parse_prediction(item: &Value, index: usize, file: &Path) -> Result<VcocoImagePredictions> {
    let mut ctx = Ctx {
        file,
        image_index: index,
        image_name: None,
    };
    let name_value = match item.as_object().and_then(|m| m.get("file_name")) {
        Some(v) if item.get("filename").is_none() => v,
        _ => ctx.field(item, "filename", "")?,
    };
    let filename = ctx.string(name_value, "filename")?;
    ctx.image_name = Some(filename);
    let raw_boxes = ctx.array(ctx.field(item, "predictions", "")?, "predictions")?;
    let mut predictions = Vec::with_capacity(raw_boxes.len());
    for (k, b) in raw_boxes.iter().enumerate() {
        let path = format!("predictions[{k}]");
        let bbox_path = format!("{path}.bbox");
        let bbox = ctx.bbox(ctx.field(b, "bbox", &path)?, &bbox_path)?;
        let bbox = bbox.map(|v| v as f32);
        if bbox.iter().any(|v| !v.is_finite()) {
            return Err(ctx.error(&bbox_path, "does not fit in f32"));
        }
        let cat_path = format!("{path}.category_id");
        let category_id = ctx.index(ctx.field(b, "category_id", &path)?, &cat_path)?;
        predictions.push(VcocoPredBox { bbox, category_id });
    }
    let raw_hois = ctx.array(ctx.field(item, "hoi_prediction", "")?, "hoi_prediction")?;
    let mut hoi_prediction = Vec::with_capacity(raw_hois.len());
    for (k, h) in raw_hois.iter().enumerate() {
        let path = format!("hoi_prediction[{k}]");
        let get = |key: &str| ctx.field(h, key, &path);
        let p = |key: &str| format!("{path}.{key}");
        hoi_prediction.push(VcocoPredHoi {
            subject_id: ctx.index(get("subject_id")?, &p("subject_id"))?,
            object_id: ctx.index(get("object_id")?, &p("object_id"))?,
            category_id: ctx.index(get("category_id")?, &p("category_id"))?,
            score: ctx.number(get("score")?, &p("score"))?,
        });
    }
    Ok(VcocoImagePredictions {
        filename: filename.to_string(),
        predictions,
        hoi_prediction,
    })
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

/// How numpy promotes `np.float32 + int`, which decides the precision of the reference's
/// `compute_IOU` (its boxes are float32 numpy scalars; the `+1` is a Python int).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum NumpyPromotion {
    /// numpy 1.x (the authors' environment, torch 1.7.1): value-based casting makes
    /// `np.float32(x) + 1` a float64, so the differences `x2 - x1` are float32 and the
    /// areas, the intersection and the ratio are float64.
    #[default]
    Legacy,
    /// numpy >= 2 (NEP 50): Python ints are "weak", everything stays float32 and the IoU
    /// is a float32 ratio.
    Weak,
}

/// Options of [`evaluate_with`]; [`Default`] is the reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VcocoProxyOptions {
    /// IoU a box match needs (`overlap_iou = 0.5`, compared with `>=`).
    pub overlap_iou: f64,
    /// The numpy promotion rules `compute_IOU` runs under.
    pub promotion: NumpyPromotion,
}

impl Default for VcocoProxyOptions {
    fn default() -> Self {
        Self {
            overlap_iou: VCOCO_OVERLAP_IOU,
            promotion: NumpyPromotion::Legacy,
        }
    }
}

/// The reference's `compute_IOU` on boxes of the same class (the caller compares classes):
///
/// ```text
/// S_a = (x2a - x1a + 1) * (y2a - y1a + 1), S_b likewise
/// left = max(y1a, y1b), right = min(y2a, y2b), top = max(x1a, x1b), bottom = min(x2a, x2b)
/// if left >= right or top >= bottom: 0
/// else inter = (right - left + 1) * (bottom - top + 1);  inter / (S_a + S_b - inter)
/// ```
///
/// (its "left/right" are the y edges and "top/bottom" the x edges; the early return makes
/// boxes that touch, or overlap by less than the `+1` pixel, not overlap at all), in the
/// precision of `promotion`.
pub fn iou_vcoco(a: &[f32; 4], b: &[f32; 4], promotion: NumpyPromotion) -> f64 {
    let left = a[1].max(b[1]);
    let right = a[3].min(b[3]);
    let top = a[0].max(b[0]);
    let bottom = a[2].min(b[2]);
    // f32::max/min differ from Python's max/min only for NaN, which boxes never hold.
    if left >= right || top >= bottom {
        return 0.0;
    }
    match promotion {
        NumpyPromotion::Legacy => {
            let area =
                |r: &[f32; 4]| (f64::from(r[2] - r[0]) + 1.0) * (f64::from(r[3] - r[1]) + 1.0);
            let sum = area(a) + area(b);
            let inter = (f64::from(right - left) + 1.0) * (f64::from(bottom - top) + 1.0);
            inter / (sum - inter)
        }
        NumpyPromotion::Weak => {
            let area = |r: &[f32; 4]| (r[2] - r[0] + 1.0) * (r[3] - r[1] + 1.0);
            let sum = area(a) + area(b);
            let inter = (right - left + 1.0) * (bottom - top + 1.0);
            f64::from(inter / (sum - inter))
        }
    }
}

/// The result of one verb.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VcocoVerbResult {
    /// Verb 0..29.
    pub verb_id: usize,
    /// Verb name ([`VCOCO_VERBS`]).
    pub name: String,
    /// 11-point AP; 0 for a verb without ground truth (which is what `mAP_thesis` reads
    /// for it).
    pub ap: f64,
    /// Ground-truth interactions of the verb (`sum_gts`).
    pub num_gt: usize,
    /// Detections recorded for the verb.
    pub num_detections: usize,
    /// Of which true positives.
    pub num_tp: usize,
    /// Recall at the end of the ranked list (0 without ground truth or detection).
    pub recall: f64,
    /// Whether the verb is one of the 24 of `mAP_thesis`.
    pub thesis: bool,
}

/// What [`evaluate`] reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VcocoProxyReport {
    /// `"vcoco-proxy"`.
    pub protocol: String,
    /// The options used.
    pub options: VcocoProxyOptions,
    /// All 29 verbs, in verb order.
    pub verbs: Vec<VcocoVerbResult>,
    /// `mAP_all`: mean AP over the verbs with ground truth (NaN when none has any, as
    /// `np.mean([])`).
    pub map_all: f64,
    /// `mAP_thesis`: mean over the 24 thesis verbs, a verb without ground truth counting 0.
    pub map_thesis: f64,
    /// Annotated images.
    pub num_images: usize,
    /// Annotated images that had predictions.
    pub num_images_with_predictions: usize,
    /// Prediction images whose file name is not in the annotations (ignored).
    pub unknown_prediction_images: Vec<String>,
    /// Ground-truth interactions.
    pub num_gt: usize,
    /// Interactions in the predictions of annotated images.
    pub num_predictions: usize,
}

impl VcocoProxyReport {
    /// The dictionary the reference's `evaluate()` returns, in its order: `AP_{verb}` for
    /// every verb with ground truth (by verb id), then `mAP_all` and `mAP_thesis`.
    pub fn ap_dict(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .verbs
            .iter()
            .filter(|v| v.num_gt > 0)
            .map(|v| (format!("AP_{}", v.name), v.ap))
            .collect();
        out.push(("mAP_all".into(), self.map_all));
        out.push(("mAP_thesis".into(), self.map_thesis));
        out
    }

    /// The table the reference prints, line for line (`{:>23s}: #GTs = {:>04d}, AP = {:.4f}`
    /// per verb with ground truth, then `mAP all: ... mAP thesis: ...`).
    pub fn table(&self) -> String {
        let rule = "-".repeat(60);
        let mut s = format!("{rule}\n");
        for v in self.verbs.iter().filter(|v| v.num_gt > 0) {
            s.push_str(&format!(
                "{:>23}: #GTs = {:0>4}, AP = {}\n",
                v.name,
                v.num_gt,
                fixed4(v.ap)
            ));
        }
        s.push_str(&format!(
            "{rule}\nmAP all: {} mAP thesis: {}\n{rule}\n",
            fixed4(self.map_all),
            fixed4(self.map_thesis)
        ));
        s
    }
}

/// Python's `'{:.4f}'` (`nan`, `inf` spelled as Python does).
fn fixed4(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x:.4}")
    }
}

/// numpy's `np.add.reduce` of a contiguous float64 array: pairwise summation with an
/// 8-way unrolled base case of up to 128 elements (`pairwise_sum_DOUBLE`).
fn numpy_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[whole..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        numpy_sum(&a[..n2]) + numpy_sum(&a[n2..])
    }
}

/// `np.mean` of a list of floats (NaN for an empty list).
fn numpy_mean(a: &[f64]) -> f64 {
    (0.0 + numpy_sum(a)) / a.len() as f64
}

/// Scores post-processed `predictions` with the reference's rules ([`VcocoProxyOptions::default`]).
pub fn evaluate(
    annotations: &VcocoAnnotations,
    predictions: &VcocoPredictions,
) -> VcocoProxyReport {
    evaluate_with(annotations, predictions, &VcocoProxyOptions::default())
}

/// Scores post-processed `predictions` (the lists of
/// [`VcocoImagePredictions::from_pair_scores`], or any list: no top-100 cut is applied here,
/// as in the reference's `evaluate`). Annotated images without predictions have no
/// detections; prediction images not in the annotations are listed in
/// [`VcocoProxyReport::unknown_prediction_images`].
pub fn evaluate_with(
    annotations: &VcocoAnnotations,
    predictions: &VcocoPredictions,
    options: &VcocoProxyOptions,
) -> VcocoProxyReport {
    let sum_gts = annotations.verb_counts();
    // Per verb: (score, is_tp) in recording order.
    let mut records: Vec<Vec<(f64, bool)>> = vec![Vec::new(); NUM_VCOCO_VERBS];
    let unknown: Vec<String> = predictions
        .images()
        .iter()
        .filter(|p| annotations.image_index(&p.filename).is_none())
        .map(|p| p.filename.clone())
        .collect();
    let (mut with_preds, mut num_predictions) = (0usize, 0usize);
    for img in annotations.images() {
        let Some(p) = predictions.get(&img.file_name) else {
            continue;
        };
        with_preds += 1;
        num_predictions += p.hoi_prediction.len();
        if img.boxes.is_empty() {
            // evaluate(): no ground-truth box, every interaction a false positive, in the
            // given order (no sort).
            for h in &p.hoi_prediction {
                records[h.category_id].push((h.score, false));
            }
            continue;
        }
        // (The reference raises on an image with ground-truth boxes and no predicted box:
        // `compute_iou_mat` returns a bare `{}`; such an image has no interaction anyway.)
        image_fptp(img, p, options, &mut records);
    }

    let mut verbs = Vec::with_capacity(NUM_VCOCO_VERBS);
    for (v, mut recs) in records.into_iter().enumerate() {
        let (ap, recall, num_tp) = if sum_gts[v] == 0 || recs.is_empty() {
            (0.0, 0.0, recs.iter().filter(|r| r.1).count())
        } else {
            // np.argsort(-score): the order of equal scores is unspecified there; stable here.
            recs.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
            let tp: Vec<bool> = recs.iter().map(|r| r.1).collect();
            let r = eleven_point_ap(&tp, sum_gts[v], &NUMPY_RECALL_POINTS);
            (r.ap, r.recall, r.true_positives)
        };
        verbs.push(VcocoVerbResult {
            verb_id: v,
            name: VCOCO_VERBS[v].to_string(),
            ap,
            num_gt: sum_gts[v],
            num_detections: recs.len(),
            num_tp,
            recall,
            thesis: VCOCO_THESIS_VERBS.contains(&v),
        });
    }
    let with_gt: Vec<f64> = verbs
        .iter()
        .filter(|v| v.num_gt > 0)
        .map(|v| v.ap)
        .collect();
    let thesis: Vec<f64> = VCOCO_THESIS_VERBS.iter().map(|&v| verbs[v].ap).collect();
    VcocoProxyReport {
        protocol: "vcoco-proxy".into(),
        options: *options,
        map_all: numpy_mean(&with_gt),
        map_thesis: numpy_mean(&thesis),
        verbs,
        num_images: annotations.len(),
        num_images_with_predictions: with_preds,
        unknown_prediction_images: unknown,
        num_gt: annotations.num_hois(),
        num_predictions,
    }
}

/// `compute_iou_mat` + `compute_fptp` for one image with ground-truth boxes.
fn image_fptp(
    img: &super::annotations::VcocoImage,
    p: &VcocoImagePredictions,
    options: &VcocoProxyOptions,
    records: &mut [Vec<(f64, bool)>],
) {
    let gt_boxes: Vec<[f32; 4]> = img.boxes.iter().map(|b| b.bbox.map(|v| v as f32)).collect();
    // compute_iou_mat: for each predicted box, the ground-truth boxes it matches (same
    // class, IoU >= overlap_iou), in ground-truth order, with their IoU.
    let matches: Vec<Vec<(usize, f64)>> = p
        .predictions
        .iter()
        .map(|pb| {
            img.boxes
                .iter()
                .zip(&gt_boxes)
                .enumerate()
                .filter(|(_, (gb, _))| gb.object == pb.category_id)
                .filter_map(|(g, (_, gbox))| {
                    let iou = iou_vcoco(gbox, &pb.bbox, options.promotion);
                    (iou >= options.overlap_iou).then_some((g, iou))
                })
                .collect()
        })
        .collect();
    let any_match = matches.iter().any(|m| !m.is_empty());
    let overlap = |m: &[(usize, f64)], g: usize| m.iter().find(|(b, _)| *b == g).map(|m| m.1);

    let gt_hois = &img.hois;
    // `gt_hois.index(max_gt_hoi)`: the FIRST entry equal to the chosen one.
    let first_equal = |g: usize| -> usize {
        let want: &VcocoHoi = &gt_hois[g];
        gt_hois.iter().position(|h| h == want).unwrap_or(g)
    };
    let mut vis_tag = vec![false; gt_hois.len()];
    let mut hois = p.hoi_prediction.clone();
    hois.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    for h in &hois {
        let empty: &[(usize, f64)] = &[];
        let sub_m = matches.get(h.subject_id).map_or(empty, Vec::as_slice);
        let obj_m = matches.get(h.object_id).map_or(empty, Vec::as_slice);
        let mut is_match = false;
        let mut max_overlap = 0.0f64;
        let mut best: Option<usize> = None;
        if any_match && !sub_m.is_empty() {
            for (g, gt) in gt_hois.iter().enumerate() {
                let candidate = match gt.object {
                    // Object-less ground truth: the subject alone decides (whatever the
                    // prediction's object is).
                    None => overlap(sub_m, gt.subject),
                    Some(go) if !obj_m.is_empty() => {
                        match (overlap(sub_m, gt.subject), overlap(obj_m, go)) {
                            // Python's min(a, b): b only when strictly smaller.
                            (Some(so), Some(oo)) => Some(if oo < so { oo } else { so }),
                            _ => None,
                        }
                    }
                    Some(_) => None,
                };
                if let Some(ov) = candidate
                    && gt.verb == h.category_id
                {
                    is_match = true;
                    if ov > max_overlap {
                        max_overlap = ov;
                        best = Some(g);
                    }
                }
            }
        }
        // `is_match` with no overlap above 0 leaves `max_gt_hoi = 0` and the reference
        // raises in `gt_hois.index(0)`; matched overlaps are >= overlap_iou > 0, so this
        // only happens with overlap_iou <= 0 — counted as a false positive here.
        let is_tp = match (is_match, best) {
            (true, Some(g)) if !vis_tag[first_equal(g)] => {
                vis_tag[first_equal(g)] = true;
                true
            }
            _ => false,
        };
        records[h.category_id].push((h.score, is_tp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_sum_matches_the_pairwise_tree() {
        let a: Vec<f64> = (0..13).map(|k| 0.1 * k as f64 + 1e-3).collect();
        let r: Vec<f64> = a[..8].to_vec();
        let mut want = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[8..] {
            want += x;
        }
        assert_eq!(numpy_sum(&a).to_bits(), want.to_bits());
        assert!(numpy_mean(&[]).is_nan());
        assert_eq!(numpy_mean(&[1.0, 2.0]), 1.5);
        let big: Vec<f64> = (0..300).map(|k| k as f64).collect();
        assert_eq!(numpy_sum(&big), 44850.0);
    }

    #[test]
    fn iou_edges() {
        let g = [100.0, 100.0, 199.0, 299.0];
        for p in [NumpyPromotion::Legacy, NumpyPromotion::Weak] {
            assert_eq!(iou_vcoco(&g, &[100.0, 100.0, 199.0, 199.0], p), 0.5);
            assert!(iou_vcoco(&g, &[100.0, 100.0, 199.0, 198.0], p) < 0.5);
            // Touching: x1 == the other's x2.
            assert_eq!(iou_vcoco(&g, &[199.0, 100.0, 260.0, 299.0], p), 0.0);
            assert_eq!(iou_vcoco(&g, &[100.0, 299.0, 199.0, 350.0], p), 0.0);
            assert_eq!(iou_vcoco(&g, &g, p), 1.0);
        }
    }

    #[test]
    fn thesis_excludes_five_verbs() {
        let names: Vec<&str> = (0..29)
            .filter(|v| !VCOCO_THESIS_VERBS.contains(v))
            .map(|v| VCOCO_VERBS[v])
            .collect();
        assert_eq!(names, ["stand", "walk", "run", "smile", "point_instr"]);
    }

    #[test]
    fn table_formats_like_python() {
        assert_eq!(fixed4(f64::NAN), "nan");
        assert_eq!(fixed4(1.000_000_000_000_000_2), "1.0000");
        assert_eq!(fixed4(0.237_149_460_708_782_8), "0.2371");
    }
}
