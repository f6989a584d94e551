//! `corre_hico.npy`: the `[117 verbs, 80 objects]` matrix of valid (verb, object) pairs that
//! the GEN-VLKT family loads next to the annotations (`load_correct_mat` in
//! `datasets/datasets_gen/hico.py`).
//!
//! HOICLIP's triplet evaluator receives it but does not use it (its 600 classes are valid by
//! construction); it is read here so a dataset folder can be checked against the 600 classes
//! of [`crate::labels::hico::HICO_HOIS`].

use std::path::Path;

use super::ids::{NUM_OBJECTS, NUM_VERBS};
use crate::error::{HoiclipError, Result};
use crate::labels::hico::HICO_HOIS;

/// Valid (verb, object) pairs, `[117][80]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectMat {
    valid: Vec<bool>,
}

impl CorrectMat {
    /// The matrix implied by the 600 HOI classes.
    pub fn from_hois() -> Self {
        let mut valid = vec![false; NUM_VERBS * NUM_OBJECTS];
        for h in &HICO_HOIS {
            valid[h.verb as usize * NUM_OBJECTS + h.object as usize] = true;
        }
        Self { valid }
    }

    /// Reads a `.npy` file of shape `(117, 80)` (any of `f8`/`f4`/`i8`/`i4`/`u1`/`b1`, C or
    /// Fortran order, little-endian); non-zero entries are valid pairs.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when unreadable; [`HoiclipError::Config`] naming the file for a
    /// bad header, an unsupported dtype, a wrong shape or a short file.
    pub fn from_npy(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| HoiclipError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |why: String| HoiclipError::Config(format!("{}: {why}", path.display()));
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err(bad("not a .npy file (bad magic)".into()));
        }
        let (header_len, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            v => return Err(bad(format!("unsupported .npy version {v}"))),
        };
        let header = bytes
            .get(start..start + header_len)
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or_else(|| bad("truncated header".into()))?;
        let descr = header_value(header, "descr")
            .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
            .ok_or_else(|| bad("header has no `descr`".into()))?;
        let fortran = header_value(header, "fortran_order").is_some_and(|v| v.trim() == "True");
        let shape: Vec<usize> = header_value(header, "shape")
            .map(|v| {
                v.trim_matches(|c| c == '(' || c == ')')
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .filter_map(|s| s.trim().parse().ok())
                    .collect()
            })
            .ok_or_else(|| bad("header has no `shape`".into()))?;
        if shape != [NUM_VERBS, NUM_OBJECTS] {
            return Err(bad(format!("shape {shape:?}, expected [117, 80]")));
        }
        let width = match descr.as_str() {
            "<f8" | "<i8" | "<u8" => 8,
            "<f4" | "<i4" | "<u4" => 4,
            "|b1" | "|u1" | "|i1" => 1,
            other => return Err(bad(format!("unsupported dtype {other}"))),
        };
        let data = &bytes[start + header_len..];
        let n = NUM_VERBS * NUM_OBJECTS;
        if data.len() < n * width {
            return Err(bad(format!(
                "data holds {} bytes, shape and dtype need {}",
                data.len(),
                n * width
            )));
        }
        let nonzero = |k: usize| -> bool {
            let b = &data[k * width..(k + 1) * width];
            match descr.as_str() {
                "<f8" => f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) != 0.0,
                "<f4" => f32::from_le_bytes(b.try_into().unwrap_or([0; 4])) != 0.0,
                _ => b.iter().any(|&x| x != 0),
            }
        };
        let mut valid = vec![false; n];
        for v in 0..NUM_VERBS {
            for o in 0..NUM_OBJECTS {
                let k = if fortran {
                    o * NUM_VERBS + v
                } else {
                    v * NUM_OBJECTS + o
                };
                valid[v * NUM_OBJECTS + o] = nonzero(k);
            }
        }
        Ok(Self { valid })
    }

    /// Whether (verb, object) is a valid pair.
    pub fn is_valid(&self, verb: usize, object: usize) -> bool {
        verb < NUM_VERBS && object < NUM_OBJECTS && self.valid[verb * NUM_OBJECTS + object]
    }

    /// Number of valid pairs (600 for HICO-DET).
    pub fn num_valid(&self) -> usize {
        self.valid.iter().filter(|&&v| v).count()
    }

    /// Checks the matrix against the 600 HOI classes.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] listing the first pairs that differ.
    pub fn check_against_hois(&self) -> Result<()> {
        let expected = Self::from_hois();
        let diff: Vec<String> = (0..NUM_VERBS * NUM_OBJECTS)
            .filter(|&k| self.valid[k] != expected.valid[k])
            .take(10)
            .map(|k| format!("(verb {}, object {})", k / NUM_OBJECTS, k % NUM_OBJECTS))
            .collect();
        if diff.is_empty() {
            Ok(())
        } else {
            Err(HoiclipError::Config(format!(
                "correct matrix has {} valid pairs and differs from the 600 HOI classes at {}",
                self.num_valid(),
                diff.join(", ")
            )))
        }
    }
}

/// The text after `'key':` up to the next top-level comma (a tuple counts as one value).
fn header_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let pos = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[pos + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0i32;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    Some(rest)
}
