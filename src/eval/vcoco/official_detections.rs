//! Detections in the form `vsrl_eval.py` consumes: a list with one entry per detected person.
//!
//! ```json
//! [{"image_id": 123,                      // COCO image id
//!   "person_box": [x1, y1, x2, y2],       // the agent's box, pixels
//!   "hold_agent": 0.81,                   // <action>_agent: the agent score of the action
//!   "hold_obj": [x1, y1, x2, y2, 0.64],   // <action>_<role>: role box and role score
//!   "eat_instr": [null, null, null, null, 0.12],   // NaN box: "no object"
//!   ...}, ...]
//! ```
//!
//! `vsrl_eval.py` reads a pickle of exactly these dicts; this JSON form writes numpy's NaN as
//! `null`. Every detection of an evaluated image needs `<action>_agent` for every action and
//! `<action>_<role>` for every role of the annotation file (the official code raises
//! `KeyError` otherwise); other keys are allowed. Scores rank the detections (a NaN score
//! leaves the detection out of that action's or role's ranking); a role box of four NaNs or
//! four zeros means "no role object" (what Scenario 1 wants when the ground truth has none).
//! GEN-VLKT-style converters write one detection per (human, object) pair with every
//! action's agent score and role box + score, and a NaN box when the pair's object is the
//! "no object" class.
//!
//! The evaluation rounds every number to float32, as `vsrl_eval.py` copies them into
//! float32 arrays.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::json::{Loc, kind, parse};
use crate::error::read_text;
use crate::error::{HoiclipError, Result};

/// One detected person (one dict of the official detections list).
#[derive(Debug, Clone, PartialEq)]
pub struct VcocoDetection {
    /// COCO image id.
    pub image_id: i64,
    /// `person_box`: `[x1, y1, x2, y2]` pixels.
    pub person_box: [f64; 4],
    /// `<action>_agent` keys (e.g. `"hold_agent"`) and their scores; NaN: no score.
    pub agent_scores: BTreeMap<String, f64>,
    /// `<action>_<role>` keys (e.g. `"eat_instr"`) and `[x1, y1, x2, y2, score]`; a NaN box
    /// is "no object", a NaN score leaves the entry out of the ranking.
    pub roles: BTreeMap<String, [f64; 5]>,
}

impl VcocoDetection {
    /// A detection with no scores yet.
    pub fn new(image_id: i64, person_box: [f64; 4]) -> Self {
        Self {
            image_id,
            person_box,
            agent_scores: BTreeMap::new(),
            roles: BTreeMap::new(),
        }
    }

    /// Sets `<action>_agent`.
    pub fn set_agent_score(&mut self, action: &str, score: f64) {
        self.agent_scores.insert(agent_key(action), score);
    }

    /// Sets `<action>_<role>`: the role box (`None`: no object, written as NaNs) and score.
    pub fn set_role(&mut self, action: &str, role: &str, bbox: Option<[f64; 4]>, score: f64) {
        let [x1, y1, x2, y2] = bbox.unwrap_or([f64::NAN; 4]);
        self.roles
            .insert(role_key(action, role), [x1, y1, x2, y2, score]);
    }

    /// `<action>_agent`, when present.
    pub fn agent_score(&self, action: &str) -> Option<f64> {
        self.agent_scores.get(&agent_key(action)).copied()
    }

    /// `<action>_<role>`, when present.
    pub fn role(&self, action: &str, role: &str) -> Option<[f64; 5]> {
        self.roles.get(&role_key(action, role)).copied()
    }
}

/// The key of an action's agent score: `"<action>_agent"`.
pub fn agent_key(action: &str) -> String {
    format!("{action}_agent")
}

/// The key of an action's role entry: `"<action>_<role>"`.
pub fn role_key(action: &str, role: &str) -> String {
    format!("{action}_{role}")
}

/// A detections list (what `vsrl_eval.py`'s `_do_eval` loads from its pickle).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VcocoDetections {
    /// The detections, in file order (the order only matters between equal scores).
    pub detections: Vec<VcocoDetection>,
}

impl VcocoDetections {
    /// Reads a detections JSON file.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when it cannot be read; [`HoiclipError::Config`] naming the file,
    /// the detection and the key when it is not JSON or an entry is mistyped: `image_id` not
    /// an integer, `person_box` not 4 numbers, an `*_agent` value not a number or `null`,
    /// any other key not `[x1, y1, x2, y2, score]` (numbers or `null`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_json_str(&read_text(path)?, path)
    }

    /// Parses detections JSON; `source` names it in error messages.
    ///
    /// # Errors
    ///
    /// As [`VcocoDetections::from_file`], without the I/O case.
    pub fn from_json_str(text: &str, source: impl AsRef<Path>) -> Result<Self> {
        let file = source.as_ref();
        let value = parse(text, file)?;
        let Value::Array(items) = value else {
            return Err(HoiclipError::Config(format!(
                "{}: expected a JSON array of detections at the top level, found {}",
                file.display(),
                kind(&value)
            )));
        };
        let detections = items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_detection(item, i, file))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { detections })
    }

    /// The JSON text (NaN written as `null`): an array, one detection per line.
    pub fn to_json_string(&self) -> String {
        let mut s = String::from("[");
        for (i, d) in self.detections.iter().enumerate() {
            s.push_str(if i == 0 { "\n" } else { ",\n" });
            s.push_str(&detection_json(d).to_string());
        }
        s.push_str("\n]\n");
        s
    }

    /// Writes [`VcocoDetections::to_json_string`] to `path`.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Write`] when the file cannot be written.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json_string()).map_err(|e| HoiclipError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn detection_json(d: &VcocoDetection) -> Value {
    let mut m = Map::new();
    m.insert("image_id".into(), Value::from(d.image_id));
    m.insert(
        "person_box".into(),
        Value::Array(d.person_box.iter().map(|&x| num(x)).collect()),
    );
    for (k, &s) in &d.agent_scores {
        m.insert(k.clone(), num(s));
    }
    for (k, r) in &d.roles {
        m.insert(k.clone(), Value::Array(r.iter().map(|&x| num(x)).collect()));
    }
    Value::Object(m)
}

fn parse_detection(item: &Value, index: usize, file: &Path) -> Result<VcocoDetection> {
    let mut loc = Loc {
        file,
        item: format!("detection {index}"),
    };
    let Value::Object(map) = item else {
        return Err(loc.error_item(format!("expected an object, found {}", kind(item))));
    };
    let image_id = loc.int(loc.field(item, "image_id")?, "image_id")?;
    loc.item = format!("detection {index} (image {image_id})");
    let mut det = VcocoDetection::new(image_id, [0.0; 4]);
    let person = loc.array(loc.field(item, "person_box")?, "person_box")?;
    if person.len() != 4 {
        return Err(loc.error(
            "person_box",
            format!(
                "expected 4 numbers [x1, y1, x2, y2], found {}",
                person.len()
            ),
        ));
    }
    for (k, v) in person.iter().enumerate() {
        det.person_box[k] = loc.number_or_null(v, &format!("person_box[{k}]"))?;
    }
    for (key, v) in map {
        if key == "image_id" || key == "person_box" {
            continue;
        }
        if key.ends_with("_agent") {
            let s = loc.number_or_null(v, key)?;
            det.agent_scores.insert(key.clone(), s);
        } else {
            let items = loc.array(v, key).map_err(|_| {
                loc.error(
                    key,
                    format!(
                        "expected [x1, y1, x2, y2, score] (an `<action>_<role>` entry), found {}",
                        kind(v)
                    ),
                )
            })?;
            if items.len() != 5 {
                return Err(loc.error(
                    key,
                    format!(
                        "expected 5 numbers [x1, y1, x2, y2, score], found {}",
                        items.len()
                    ),
                ));
            }
            let mut r = [0.0; 5];
            for (k, x) in items.iter().enumerate() {
                r[k] = loc.number_or_null(x, &format!("{key}[{k}]"))?;
            }
            det.roles.insert(key.clone(), r);
        }
    }
    Ok(det)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        VcocoDetections::from_json_str(&json!([v]).to_string(), "dets.json")
            .unwrap_err()
            .to_string()
    }

    fn good() -> Value {
        json!({"image_id": 5, "person_box": [1, 2, 3, 4], "hold_agent": 0.5,
               "hold_obj": [1, 2, 3, 4, 0.25], "eat_instr": [null, null, null, null, 0.5],
               "walk_agent": null})
    }

    #[test]
    fn round_trip_keeps_nan_as_null() {
        let d = VcocoDetections::from_json_str(&json!([good()]).to_string(), "d.json").unwrap();
        let det = &d.detections[0];
        assert_eq!(det.agent_score("hold"), Some(0.5));
        assert!(det.agent_score("walk").unwrap().is_nan());
        assert!(
            det.role("eat", "instr").unwrap()[..4]
                .iter()
                .all(|x| x.is_nan())
        );
        let text = d.to_json_string();
        assert!(
            text.contains("\"eat_instr\":[null,null,null,null,0.5]"),
            "{text}"
        );
        let back = VcocoDetections::from_json_str(&text, "d.json").unwrap();
        assert_eq!(back.to_json_string(), text);

        let mut built = VcocoDetection::new(5, [1.0, 2.0, 3.0, 4.0]);
        built.set_agent_score("hold", 0.5);
        built.set_agent_score("walk", f64::NAN);
        built.set_role("hold", "obj", Some([1.0, 2.0, 3.0, 4.0]), 0.25);
        built.set_role("eat", "instr", None, 0.5);
        let built = VcocoDetections {
            detections: vec![built],
        };
        assert_eq!(built.to_json_string(), text);
    }

    #[test]
    fn errors_name_file_detection_and_key() {
        let mut v = good();
        v["hold_obj"][2] = json!("x");
        let e = err(v);
        assert!(
            e.contains("dets.json: detection 0 (image 5): field `hold_obj[2]`"),
            "{e}"
        );

        let mut v = good();
        v["hold_obj"] = json!([1, 2, 3, 4]);
        assert!(err(v).contains("field `hold_obj`: expected 5 numbers"));

        let mut v = good();
        v["hold_agent"] = json!([0.5]);
        assert!(err(v).contains("field `hold_agent`: expected a finite number"));

        let mut v = good();
        v["eat_obj"] = json!(0.3);
        assert!(err(v).contains("field `eat_obj`: expected [x1, y1, x2, y2, score]"));

        let mut v = good();
        v.as_object_mut().unwrap().remove("image_id");
        assert!(err(v).contains("detection 0: field `image_id`: missing"));

        let mut v = good();
        v["person_box"] = json!([1, 2, 3]);
        assert!(err(v).contains("field `person_box`: expected 4 numbers"));

        let e = VcocoDetections::from_json_str("{}", "dets.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("dets.json: expected a JSON array"), "{e}");
    }
}
