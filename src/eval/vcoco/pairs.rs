//! Per-pair V-COCO detector output: what the evaluation runner stores for each image, and
//! from which both V-COCO evaluations are made.
//!
//! Each pair query of an image keeps its subject box, its object box (none when the pair's
//! object label is "person only"), its object label and its 29 verb scores *before* the
//! verb-object mask:
//!
//! * the authors' proxy (`vcoco_eval.py`) masks them with `correct_mat` and keeps the 100
//!   best (pair, verb) cells ([`VcocoPairRecord::proxy_cells`]);
//! * the official evaluation (`vsrl_eval.py`) takes one detection per pair with every
//!   action's agent score and role box + score, as GEN-VLKT's `generate_vcoco_official.py`
//!   writes them (no mask, no top-k; a "person only" pair's role boxes are NaN).
//!
//! One image is one JSON line:
//!
//! ```json
//! {"filename": "COCO_val2014_000000000042.jpg",
//!  "pairs": [{"pair": 0, "subject_box": [x1, y1, x2, y2], "object_box": [x1, y1, x2, y2] | null,
//!             "object_label": 41, "verb_scores": [29 numbers]}, ...]}
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::detector::{HoiDetection, Hoiclip};
use crate::error::{HoiclipError, Result};
use crate::eval::runner::RunRecord;
use crate::eval::vcoco::official::VcocoDetection;
use crate::eval::vcoco::proxy::{VcocoImagePredictions, VcocoPredBox, VcocoPredHoi};
use crate::labels::vcoco::{VCOCO_NO_OBJECT, VCOCO_VERBS};
use crate::postprocess::{VerbObjectMask, VerbScores, top_k_verbs};

/// The COCO image id in a file name: the digits after the last `_` of the stem
/// (`COCO_val2014_000000000042.jpg` → 42), or the whole stem when it is a number
/// (`000000000042.jpg`).
pub fn image_id_of_file_name(file_name: &str) -> Option<i64> {
    let stem = Path::new(file_name).file_stem()?.to_str()?;
    let digits = stem.rsplit('_').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The V-COCO verbs.
pub const NUM_VERBS: usize = VCOCO_VERBS.len();

/// One pair query's boxes, object label and unmasked verb scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VcocoPair {
    /// The pair query (`0..num_queries`).
    pub pair: usize,
    /// `[x1, y1, x2, y2]` pixels.
    pub subject_box: [f32; 4],
    /// `[x1, y1, x2, y2]` pixels; `None` when the object label is "person only" (80).
    pub object_box: Option<[f32; 4]>,
    /// The pair's object label: `argmax softmax(obj_logits)[:-1]`, 0..80 (80 = person only).
    pub object_label: usize,
    /// Per verb, the best class score of the verb (`[29]`, not masked).
    pub verb_scores: Vec<f32>,
}

/// One image's pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VcocoPairRecord {
    /// The image's file name.
    pub filename: String,
    /// Its pairs, by pair index.
    pub pairs: Vec<VcocoPair>,
}

/// One kept (pair, verb) cell of the authors' V-COCO selection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProxyCell {
    /// Index into [`VcocoPairRecord::pairs`].
    pub pair: usize,
    /// The verb.
    pub verb: usize,
    /// `verb score × mask[verb, object label]`, in `f64` as numpy computes it.
    pub score: f64,
}

impl VcocoPairRecord {
    /// The record of a V-COCO detector's output for one image, which must hold every
    /// (pair, verb) cell unmasked: a [`crate::Hoiclip`] with `top_k` at least pairs × 29,
    /// `min_score` 0 and an all-ones verb-object mask (as `eval run --dataset vcoco` sets it).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] naming the image when a verb is out of range, a cell repeats
    /// or a pair lacks a verb (the detector was not set up to return every cell).
    pub fn from_all_cells(filename: &str, detections: &[HoiDetection]) -> Result<Self> {
        let err = |what: String| HoiclipError::Config(format!("{filename}: {what}"));
        let num_pairs = detections.iter().map(|d| d.pair + 1).max().unwrap_or(0);
        let mut pairs: Vec<Option<VcocoPair>> = vec![None; num_pairs];
        let mut filled = vec![[false; NUM_VERBS]; num_pairs];
        for d in detections {
            if d.verb_id >= NUM_VERBS {
                return Err(err(format!(
                    "verb {} is not a V-COCO verb (0..{NUM_VERBS})",
                    d.verb_id
                )));
            }
            let slot = pairs[d.pair].get_or_insert_with(|| VcocoPair {
                pair: d.pair,
                subject_box: d.subject_box,
                object_box: d.object_box,
                object_label: d.object_id,
                verb_scores: vec![0.0; NUM_VERBS],
            });
            if std::mem::replace(&mut filled[d.pair][d.verb_id], true) {
                return Err(err(format!("pair {} verb {} repeats", d.pair, d.verb_id)));
            }
            slot.verb_scores[d.verb_id] = d.score;
        }
        for (p, f) in filled.iter().enumerate() {
            if let Some(v) = f.iter().position(|&x| !x) {
                return Err(err(format!(
                    "pair {p} has no score for verb {v}: the detector must return every \
                     (pair, verb) cell, unmasked (top_k >= pairs x {NUM_VERBS}, min_score 0, \
                     an all-ones verb-object mask)"
                )));
            }
        }
        Ok(Self {
            filename: filename.to_string(),
            pairs: pairs.into_iter().flatten().collect(),
        })
    }

    /// Sets `detector` up to return every (pair, verb) cell unmasked, as
    /// [`Self::from_all_cells`] needs: `top_k` unbounded, `min_score` 0, an all-ones
    /// verb-object mask (the masks of the evaluations are applied to the records later).
    pub fn configure_detector(detector: &mut Hoiclip) {
        let options = detector.options_mut();
        options.top_k = usize::MAX;
        options.min_score = 0.0;
        let objects = detector.vocabulary().objects.len();
        let ones = vec![1.0; NUM_VERBS * objects];
        detector
            .set_verb_object_mask(VerbObjectMask::from_correct_mat(&ones, NUM_VERBS, objects).ok());
    }

    /// The authors' selection (`VCOCOEvaluator.__init__`): every (pair, verb) cell's score
    /// times `mask[verb, object label]`, the `top_k` best, equal scores in (pair, verb)
    /// order (Python's stable sort).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when the mask has no column for a pair's label.
    pub fn proxy_cells(&self, mask: &VerbObjectMask, top_k: usize) -> Result<Vec<ProxyCell>> {
        let scores = VerbScores {
            scores: self
                .pairs
                .iter()
                .flat_map(|p| p.verb_scores.iter().copied())
                .collect(),
            best_class: vec![None; self.pairs.len() * NUM_VERBS],
            num_verbs: NUM_VERBS,
        };
        let labels: Vec<usize> = self.pairs.iter().map(|p| p.object_label).collect();
        let cells = top_k_verbs(&scores, &labels, mask, top_k)
            .map_err(|e| HoiclipError::Config(format!("{}: {e}", self.filename)))?;
        Ok(cells
            .into_iter()
            .map(|c| ProxyCell {
                pair: c.pair,
                verb: c.verb,
                score: c.score,
            })
            .collect())
    }

    /// The authors' post-processed predictions of the image ([`Self::proxy_cells`] with the
    /// boxes laid out as `PostProcessHOITriplet` does: subjects `0..Q` (label 0), objects
    /// `Q..2Q` (their labels); a "person only" pair, which has no object box, takes its
    /// subject box there: a box labelled 80 never matches a ground-truth box, so its value
    /// does not matter).
    ///
    /// # Errors
    ///
    /// As [`Self::proxy_cells`].
    pub fn to_proxy_predictions(
        &self,
        mask: &VerbObjectMask,
        top_k: usize,
    ) -> Result<VcocoImagePredictions> {
        let q = self.pairs.len();
        let mut predictions = Vec::with_capacity(2 * q);
        for p in &self.pairs {
            predictions.push(VcocoPredBox {
                bbox: p.subject_box,
                category_id: 0,
            });
        }
        for p in &self.pairs {
            predictions.push(VcocoPredBox {
                bbox: p.object_box.unwrap_or(p.subject_box),
                category_id: p.object_label,
            });
        }
        let hoi_prediction = self
            .proxy_cells(mask, top_k)?
            .into_iter()
            .map(|c| VcocoPredHoi {
                subject_id: c.pair,
                object_id: q + c.pair,
                category_id: c.verb,
                score: c.score,
            })
            .collect();
        Ok(VcocoImagePredictions {
            filename: self.filename.clone(),
            predictions,
            hoi_prediction,
        })
    }

    /// One official detection per pair, as GEN-VLKT's `generate_vcoco_official.py` writes
    /// them (every pair, no mask, no top-k): `person_box` = the subject box; for each verb
    /// `<action>_<role>` = the object box (NaN for a "person only" pair) + the verb's score
    /// and `<action>_agent` = that score; the single-word verbs (`stand`, `walk`, `run`,
    /// `smile`) only `<verb>_agent`; `cut`, `hit` and `eat`, which have two roles, take the
    /// larger of their two roles' scores as the agent score (0 when both are 0).
    pub fn to_official_detections(&self, image_id: i64) -> Vec<VcocoDetection> {
        let two_roles = ["cut", "hit", "eat"];
        self.pairs
            .iter()
            .map(|p| {
                let mut d = VcocoDetection::new(image_id, p.subject_box.map(f64::from));
                let object_box = if Self::is_object_less(p) {
                    None
                } else {
                    p.object_box.map(|b| b.map(f64::from))
                };
                let mut two_role_agent = [0.0f64; 3];
                for (verb, &score) in VCOCO_VERBS.iter().zip(&p.verb_scores) {
                    let score = f64::from(score);
                    match verb.rsplit_once('_') {
                        Some((action, role)) if role == "obj" || role == "instr" => {
                            d.set_role(action, role, object_box, score);
                            match two_roles.iter().position(|a| *a == action) {
                                Some(k) => two_role_agent[k] = two_role_agent[k].max(score),
                                None => d.set_agent_score(action, score),
                            }
                        }
                        _ => d.set_agent_score(verb, score),
                    }
                }
                for (action, score) in two_roles.iter().zip(two_role_agent) {
                    d.set_agent_score(action, score);
                }
                d
            })
            .collect()
    }

    /// Whether pair `p`'s object label is "person only".
    pub fn is_object_less(pair: &VcocoPair) -> bool {
        pair.object_label == usize::from(VCOCO_NO_OBJECT)
    }
}

fn parse_box(ctx: &str, v: &Value) -> Result<[f32; 4]> {
    let arr = v
        .as_array()
        .filter(|a| a.len() == 4)
        .ok_or_else(|| HoiclipError::Config(format!("{ctx}: expected [x1, y1, x2, y2]")))?;
    let mut out = [0.0f32; 4];
    for (o, x) in out.iter_mut().zip(arr) {
        *o = x
            .as_f64()
            .ok_or_else(|| HoiclipError::Config(format!("{ctx}: expected numbers")))?
            as f32;
    }
    Ok(out)
}

impl RunRecord for VcocoPairRecord {
    fn from_detections(filename: &str, detections: &[HoiDetection]) -> Result<Self> {
        Self::from_all_cells(filename, detections)
    }

    fn filename(&self) -> &str {
        &self.filename
    }

    fn to_json_line(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| HoiclipError::Config(format!("cannot serialise {}: {e}", self.filename)))
    }

    fn from_json(value: &Value, line: usize, file: &Path) -> Result<Self> {
        let at = |field: &str| format!("{}: line {}: {field}", file.display(), line + 1);
        let filename = value
            .get("filename")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                HoiclipError::Config(format!("{}: missing or not a string", at("filename")))
            })?
            .to_string();
        let raw_pairs = value
            .get("pairs")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                HoiclipError::Config(format!("{}: missing or not an array", at("pairs")))
            })?;
        let mut pairs = Vec::with_capacity(raw_pairs.len());
        for (k, p) in raw_pairs.iter().enumerate() {
            let f = |name: &str| at(&format!("pairs[{k}].{name}"));
            let pair = p
                .get("pair")
                .and_then(Value::as_u64)
                .ok_or_else(|| HoiclipError::Config(format!("{}: expected an index", f("pair"))))?;
            let subject_box = parse_box(
                &f("subject_box"),
                p.get("subject_box").unwrap_or(&Value::Null),
            )?;
            let object_box = match p.get("object_box") {
                None | Some(Value::Null) => None,
                Some(b) => Some(parse_box(&f("object_box"), b)?),
            };
            let object_label = p
                .get("object_label")
                .and_then(Value::as_u64)
                .ok_or_else(|| {
                    HoiclipError::Config(format!("{}: expected an index", f("object_label")))
                })?;
            let scores = p
                .get("verb_scores")
                .and_then(Value::as_array)
                .filter(|a| a.len() == NUM_VERBS)
                .ok_or_else(|| {
                    HoiclipError::Config(format!(
                        "{}: expected {NUM_VERBS} numbers",
                        f("verb_scores")
                    ))
                })?;
            let verb_scores = scores
                .iter()
                .map(|x| x.as_f64().map(|x| x as f32))
                .collect::<Option<Vec<f32>>>()
                .ok_or_else(|| {
                    HoiclipError::Config(format!("{}: expected numbers", f("verb_scores")))
                })?;
            pairs.push(VcocoPair {
                pair: pair as usize,
                subject_box,
                object_box,
                object_label: object_label as usize,
                verb_scores,
            });
        }
        Ok(Self { filename, pairs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(pair: usize, verb: usize, score: f32, label: usize) -> HoiDetection {
        HoiDetection {
            subject_box: [0.0, 0.0, 10.0, 10.0],
            object_box: (label != 80).then_some([5.0, 5.0, 20.0, 20.0]),
            object_id: label,
            object_name: String::new(),
            verb_id: verb,
            verb_name: String::new(),
            hoi_id: 0,
            hoi_prompt: String::new(),
            score,
            pair,
        }
    }

    fn all_cells(labels: &[usize]) -> Vec<HoiDetection> {
        let mut d = Vec::new();
        for (p, &l) in labels.iter().enumerate() {
            for v in 0..NUM_VERBS {
                d.push(detection(p, v, (p * NUM_VERBS + v) as f32 / 100.0, l));
            }
        }
        d
    }

    #[test]
    fn records_need_every_cell_and_round_trip() {
        let dets = all_cells(&[41, 80]);
        let rec = VcocoPairRecord::from_all_cells("a.jpg", &dets).expect("record");
        assert_eq!(rec.pairs.len(), 2);
        assert_eq!(rec.pairs[1].object_box, None);
        assert!(VcocoPairRecord::is_object_less(&rec.pairs[1]));
        let line = rec.to_json_line().expect("json");
        let value: Value = serde_json::from_str(&line).expect("parse");
        let back = VcocoPairRecord::from_json(&value, 0, Path::new("x.jsonl")).expect("back");
        assert_eq!(back, rec);
        let err = VcocoPairRecord::from_all_cells("a.jpg", &dets[1..]).expect_err("a missing cell");
        assert!(
            err.to_string().contains("pair 0 has no score for verb 0"),
            "{err}"
        );
        let bad: Value = serde_json::json!({"filename": "a.jpg", "pairs": [{"pair": 0}]});
        let err = VcocoPairRecord::from_json(&bad, 4, Path::new("x.jsonl")).expect_err("bad");
        assert!(
            err.to_string()
                .contains("x.jsonl: line 5: pairs[0].subject_box"),
            "{err}"
        );
    }

    #[test]
    fn official_detections_follow_gen_vlkt() {
        let rec = VcocoPairRecord::from_all_cells("a.jpg", &all_cells(&[41, 80])).expect("record");
        let dets = rec.to_official_detections(7);
        assert_eq!(dets.len(), 2);
        let score = |p: usize, verb: &str| {
            let v = VCOCO_VERBS.iter().position(|x| *x == verb).expect("verb");
            f64::from(((p * NUM_VERBS + v) as f32) / 100.0)
        };
        let d = &dets[0];
        assert_eq!(d.image_id, 7);
        assert_eq!(d.agent_score("stand"), Some(score(0, "stand")));
        assert_eq!(d.agent_score("hold"), Some(score(0, "hold_obj")));
        assert_eq!(
            d.agent_score("talk_on_phone"),
            Some(score(0, "talk_on_phone_instr"))
        );
        let cut = score(0, "cut_instr").max(score(0, "cut_obj"));
        assert_eq!(d.agent_score("cut"), Some(cut));
        let role = d.role("eat", "instr").expect("eat_instr");
        assert_eq!(role, [5.0, 5.0, 20.0, 20.0, score(0, "eat_instr")]);
        assert!(d.role("stand", "obj").is_none());
        // A person-only pair's role boxes are NaN.
        let role = dets[1].role("hold", "obj").expect("hold_obj");
        assert!(role[..4].iter().all(|v| v.is_nan()));
        assert_eq!(
            image_id_of_file_name("COCO_val2014_000000000042.jpg"),
            Some(42)
        );
        assert_eq!(image_id_of_file_name("000000000042.jpg"), Some(42));
        assert_eq!(image_id_of_file_name("photo.jpg"), None);
    }

    #[test]
    fn proxy_cells_mask_and_keep_ties_in_order() {
        let rec = VcocoPairRecord::from_all_cells("a.jpg", &all_cells(&[0, 80])).expect("record");
        // Only verb 3 is valid for object 0; "person only" (the appended column) is never masked.
        let mut values = vec![0.0; NUM_VERBS * 80];
        values[3 * 80] = 1.0;
        let mask = VerbObjectMask::from_correct_mat(&values, NUM_VERBS, 80).expect("mask");
        let cells = rec.proxy_cells(&mask, 40).expect("cells");
        assert_eq!(cells.len(), 40);
        assert_eq!((cells[0].pair, cells[0].verb), (1, 28));
        assert!(cells[..30].iter().all(|c| c.pair == 1 || c.verb == 3));
        // Masked cells (0) follow in (pair, verb) order.
        let zeros: Vec<(usize, usize)> = cells
            .iter()
            .filter(|c| c.score == 0.0)
            .map(|c| (c.pair, c.verb))
            .collect();
        assert_eq!(zeros[0], (0, 0));
        assert_eq!(zeros[1], (0, 1));
    }
}
