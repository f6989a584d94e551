//! Small helpers that read fields out of a `serde_json::Value` and report, on failure, the
//! file, the image and the field path (e.g. `annotations[2].bbox[3]`).

use std::path::Path;

use serde_json::Value;

use crate::error::HoiclipError;

/// Where a value sits: the file, the image (index and file name when known), for messages.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a Path,
    pub(crate) image_index: usize,
    pub(crate) image_name: Option<&'a str>,
}

impl Ctx<'_> {
    /// A `HoiclipError::Config` naming the file, image and field.
    pub(crate) fn error(&self, field: &str, what: impl std::fmt::Display) -> HoiclipError {
        let image = match self.image_name {
            Some(name) => format!("image {} ({name})", self.image_index),
            None => format!("image {}", self.image_index),
        };
        HoiclipError::Config(format!(
            "{}: {image}: field `{field}`: {what}",
            self.file.display()
        ))
    }

    pub(crate) fn field<'v>(
        &self,
        obj: &'v Value,
        key: &str,
        path: &str,
    ) -> Result<&'v Value, HoiclipError> {
        match obj {
            Value::Object(map) => map
                .get(key)
                .ok_or_else(|| self.error(&join(path, key), "missing")),
            other => Err(self.error(path, format!("expected an object, found {}", kind(other)))),
        }
    }

    pub(crate) fn array<'v>(&self, v: &'v Value, path: &str) -> Result<&'v [Value], HoiclipError> {
        v.as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| self.error(path, format!("expected an array, found {}", kind(v))))
    }

    pub(crate) fn string<'v>(&self, v: &'v Value, path: &str) -> Result<&'v str, HoiclipError> {
        v.as_str()
            .ok_or_else(|| self.error(path, format!("expected a string, found {}", kind(v))))
    }

    /// An integer (a JSON integer, or a float with no fractional part as numpy may write).
    pub(crate) fn int(&self, v: &Value, path: &str) -> Result<i64, HoiclipError> {
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

    pub(crate) fn index(&self, v: &Value, path: &str) -> Result<usize, HoiclipError> {
        let i = self.int(v, path)?;
        usize::try_from(i).map_err(|_| self.error(path, format!("negative index {i}")))
    }

    pub(crate) fn number(&self, v: &Value, path: &str) -> Result<f64, HoiclipError> {
        match v.as_f64() {
            Some(f) if f.is_finite() => Ok(f),
            _ => Err(self.error(path, format!("expected a finite number, found {}", show(v)))),
        }
    }

    /// A box `[x1, y1, x2, y2]`.
    pub(crate) fn bbox(&self, v: &Value, path: &str) -> Result<[f64; 4], HoiclipError> {
        let items = self.array(v, path)?;
        if items.len() != 4 {
            return Err(self.error(
                path,
                format!("expected 4 numbers [x1, y1, x2, y2], found {}", items.len()),
            ));
        }
        let mut b = [0.0; 4];
        for (k, item) in items.iter().enumerate() {
            b[k] = self.number(item, &format!("{path}[{k}]"))?;
        }
        Ok(b)
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The JSON type of a value, for messages (`a string`, `null`, ...).
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as JSON text, cut to about 40 characters, for messages.
pub(crate) fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!("{}...", &s[..s.floor_char_boundary(40)])
    } else {
        s
    }
}
