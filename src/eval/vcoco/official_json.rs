//! Field readers for the official V-COCO files (vsrl annotations, COCO instances,
//! detections): each failure is a [`HoiclipError::Config`] naming the file, the item (an
//! action, an annotation, a detection) and the field path, e.g.
//! `vcoco_test.json: action 7 (eat): field `role_object_id[12]`: expected an integer, found "x"`.

use std::fmt::Display;
use std::path::Path;

use serde_json::Value;

use crate::error::{HoiclipError, Result};
pub(super) use crate::eval::json::{kind, show};

/// Where a value sits: the file and the item inside it, for messages.
pub(super) struct Loc<'a> {
    pub(super) file: &'a Path,
    /// The item, in words: `action 7 (eat)`, `annotations[12] (id 4031)`, `detection 3`.
    pub(super) item: String,
}

impl Loc<'_> {
    /// A `HoiclipError::Config` naming the file, item and field.
    pub(super) fn error(&self, field: &str, what: impl Display) -> HoiclipError {
        HoiclipError::Config(format!(
            "{}: {}: field `{field}`: {what}",
            self.file.display(),
            self.item
        ))
    }

    /// A `HoiclipError::Config` naming the file and item (no single field at fault).
    pub(super) fn error_item(&self, what: impl Display) -> HoiclipError {
        HoiclipError::Config(format!("{}: {}: {what}", self.file.display(), self.item))
    }

    /// `obj[key]`, which must exist.
    pub(super) fn field<'v>(&self, obj: &'v Value, key: &str) -> Result<&'v Value> {
        self.opt_field(obj, key)?
            .ok_or_else(|| self.error(key, "missing"))
    }

    /// `obj[key]` when present (`obj` must be an object).
    pub(super) fn opt_field<'v>(&self, obj: &'v Value, key: &str) -> Result<Option<&'v Value>> {
        match obj {
            Value::Object(map) => Ok(map.get(key)),
            other => Err(self.error_item(format!("expected an object, found {}", kind(other)))),
        }
    }

    pub(super) fn array<'v>(&self, v: &'v Value, path: &str) -> Result<&'v [Value]> {
        v.as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| self.error(path, format!("expected an array, found {}", kind(v))))
    }

    pub(super) fn string<'v>(&self, v: &'v Value, path: &str) -> Result<&'v str> {
        v.as_str()
            .ok_or_else(|| self.error(path, format!("expected a string, found {}", kind(v))))
    }

    /// An integer: a JSON integer, or a number with no fractional part (numpy may write
    /// `123.0`).
    pub(super) fn int(&self, v: &Value, path: &str) -> Result<i64> {
        if let Some(i) = v.as_i64() {
            return Ok(i);
        }
        if let Some(f) = v.as_f64()
            && f.fract() == 0.0
            && f.abs() < 9.0e15
        {
            return Ok(f as i64);
        }
        Err(self.error(path, format!("expected an integer, found {}", show(v))))
    }

    /// An array of integers.
    pub(super) fn int_list(&self, v: &Value, path: &str) -> Result<Vec<i64>> {
        self.array(v, path)?
            .iter()
            .enumerate()
            .map(|(k, x)| self.int(x, &format!("{path}[{k}]")))
            .collect()
    }

    /// A finite number.
    pub(super) fn number(&self, v: &Value, path: &str) -> Result<f64> {
        match v.as_f64() {
            Some(f) if f.is_finite() => Ok(f),
            _ => Err(self.error(path, format!("expected a finite number, found {}", show(v)))),
        }
    }

    /// A number, or `null` for NaN (how the detections files write numpy's NaN).
    pub(super) fn number_or_null(&self, v: &Value, path: &str) -> Result<f64> {
        if v.is_null() {
            Ok(f64::NAN)
        } else {
            self.number(v, path)
        }
    }
}

/// Parses JSON text; `source` names it in the error.
pub(super) fn parse(text: &str, source: &Path) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| HoiclipError::Config(format!("{}: not valid JSON: {e}", source.display())))
}
