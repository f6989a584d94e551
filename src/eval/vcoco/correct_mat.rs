//! `corre_vcoco.npy`: the `[29 verbs, N objects]` verb-object matrix the GEN-VLKT family
//! loads next to the V-COCO annotations (`load_correct_mat` in `datasets/datasets_gen/vcoco.py`).
//!
//! `tools/convert_vcoco_annotations.py` writes it from VSGNet's `prior.pickle` (one row per
//! verb, one column per object class: 80 columns for the published file). The authors'
//! `VCOCOEvaluator` multiplies each (pair, verb) score by
//! `concatenate((correct_mat, ones((29, 1))), axis=1)[verb, object label]`: the appended
//! column of ones is the one the "person only" label 80 reads when the matrix has 80 columns.
//!
//! The reference re-concatenates inside its per-image loop (the local `correct_mat` gains one
//! more column of ones for every image with pairs). Labels are at most 80, so with `N >= 80`
//! the extra columns are never read and the result is the same as appending one column once;
//! [`VcocoCorrectMat`] therefore requires `N >= 80` (with fewer columns the reference would
//! raise an `IndexError` on the first image and read ones on later ones).
//!
//! The values are kept as numbers: a non-binary prior scales the scores, as in the reference.

use std::path::Path;

use crate::error::{HoiclipError, Result};
use crate::eval::npy::read_2d;
use crate::labels::vcoco::{VCOCO_HOIS, VCOCO_NO_OBJECT, VCOCO_VERBS};
use crate::postprocess::VerbObjectMask;

/// Number of V-COCO verbs (rows).
const NUM_VERBS: usize = VCOCO_VERBS.len();

/// The largest object label a prediction can carry: 80, "person only".
pub const VCOCO_MAX_OBJECT_LABEL: usize = VCOCO_NO_OBJECT as usize;

/// The `[29, N]` verb-object matrix, `N >= 80`, with the reference's column of ones after it.
#[derive(Debug, Clone, PartialEq)]
pub struct VcocoCorrectMat {
    columns: usize,
    values: Vec<f64>,
}

impl VcocoCorrectMat {
    /// The 0/1 matrix of the 263 HOI classes ([`VCOCO_HOIS`]): `[29, 81]`, 1 where
    /// (verb, object) is a class, object 80 included. Every verb has an object-less class
    /// `(verb, 80)`, so column 80 is all ones, as the appended column of a `[29, 80]` file is.
    pub fn from_hois() -> Self {
        let columns = VCOCO_MAX_OBJECT_LABEL + 1;
        let mut values = vec![0.0; NUM_VERBS * columns];
        for h in &VCOCO_HOIS {
            values[usize::from(h.verb) * columns + usize::from(h.object)] = 1.0;
        }
        Self { columns, values }
    }

    /// A matrix from row-major values (`values.len() == 29 * columns`).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when `columns < 80`, the length is not `29 * columns`, or a
    /// value is not finite.
    pub fn from_values(columns: usize, values: Vec<f64>) -> Result<Self> {
        if columns < VCOCO_MAX_OBJECT_LABEL {
            return Err(HoiclipError::Config(format!(
                "V-COCO correct matrix has {columns} object columns; at least 80 are needed \
                 (labels 0..=80 with the appended column of ones)"
            )));
        }
        if values.len() != NUM_VERBS * columns {
            return Err(HoiclipError::Config(format!(
                "V-COCO correct matrix: {} values for shape [29, {columns}]",
                values.len()
            )));
        }
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            return Err(HoiclipError::Config(format!(
                "V-COCO correct matrix: value at (verb {}, object {}) is not finite",
                k / columns,
                k % columns
            )));
        }
        Ok(Self { columns, values })
    }

    /// Reads `corre_vcoco.npy`: a 2-D array of shape `(29, N)`, `N >= 80`, dtype `f8`, `f4`,
    /// `i8`, `i4`, `i2`, `u8`, `u4`, `u2`, `u1`, `i1` or `b1` (little-endian), C or Fortran
    /// order.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when unreadable; [`HoiclipError::Config`] naming the file for a
    /// bad header, an unsupported dtype, a wrong shape, a short file or a non-finite value.
    pub fn from_npy(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| HoiclipError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_npy_bytes(&bytes)
            .map_err(|why| HoiclipError::Config(format!("{}: {why}", path.display())))
    }

    fn from_npy_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
        let (rows, columns, values) = read_2d(bytes)?;
        if rows != NUM_VERBS {
            return Err(format!(
                "shape ({rows}, {columns}), expected 29 rows (verbs)"
            ));
        }
        Self::from_values(columns, values).map_err(|e| e.to_string())
    }

    /// Number of object columns `N` of the matrix (without the appended column of ones).
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The factor the reference multiplies the score of (`verb`, object `label`) by: the
    /// matrix entry for `label < N`, 1 for `label == N` (the appended ones), `None` for a verb
    /// outside 0..29 or a label beyond `N`.
    pub fn mask(&self, verb: usize, label: usize) -> Option<f64> {
        if verb >= NUM_VERBS {
            return None;
        }
        match label.cmp(&self.columns) {
            std::cmp::Ordering::Less => Some(self.values[verb * self.columns + label]),
            std::cmp::Ordering::Equal => Some(1.0),
            std::cmp::Ordering::Greater => None,
        }
    }

    /// The matrix with the appended column of ones, as the detector's post-processing takes
    /// it ([`crate::Hoiclip::set_verb_object_mask`]).
    pub fn verb_object_mask(&self) -> VerbObjectMask {
        VerbObjectMask::from_correct_mat(&self.values, NUM_VERBS, self.columns)
            .unwrap_or_else(|_| VerbObjectMask::from_classes(&[], &[], NUM_VERBS, 0, None))
    }

    /// Whether (`verb`, `label`) keeps a non-zero score.
    pub fn is_valid(&self, verb: usize, label: usize) -> bool {
        self.mask(verb, label).is_some_and(|m| m != 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, fortran: bool, data: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn hois_matrix_and_ones_column() {
        let m = VcocoCorrectMat::from_hois();
        assert_eq!(m.columns(), 81);
        let valid: usize = (0..29)
            .map(|v| (0..81).filter(|&o| m.is_valid(v, o)).count())
            .sum();
        assert_eq!(valid, 263);
        for v in 0..29 {
            assert_eq!(m.mask(v, 80), Some(1.0));
            assert_eq!(m.mask(v, 81), Some(1.0), "appended column");
            assert_eq!(m.mask(v, 82), None);
        }
        assert_eq!(m.mask(29, 0), None);
    }

    #[test]
    fn npy_dtypes_and_orders() {
        // [29, 80] u1, C order: entry (v, o) = (v + o) % 2.
        let c: Vec<u8> = (0..29 * 80)
            .map(|k| ((k / 80 + k % 80) % 2) as u8)
            .collect();
        let m = VcocoCorrectMat::from_npy_bytes(&npy("|u1", "(29, 80)", false, &c)).unwrap();
        // Fortran order of the same matrix.
        let f: Vec<u8> = (0..29 * 80)
            .map(|k| ((k % 29 + k / 29) % 2) as u8)
            .collect();
        let mf = VcocoCorrectMat::from_npy_bytes(&npy("|u1", "(29, 80)", true, &f)).unwrap();
        assert_eq!(m, mf);
        assert_eq!(m.mask(3, 4), Some(1.0));
        assert_eq!(m.mask(3, 5), Some(0.0));
        assert_eq!(m.mask(3, 80), Some(1.0));
        let f8: Vec<u8> = (0..29 * 80)
            .flat_map(|k| (((k / 80 + k % 80) % 2) as f64 * 0.5).to_le_bytes())
            .collect();
        let m8 = VcocoCorrectMat::from_npy_bytes(&npy("<f8", "(29, 80)", false, &f8)).unwrap();
        assert_eq!(m8.mask(3, 4), Some(0.5));
        let i2: Vec<u8> = (0..29 * 80).flat_map(|_| (-2i16).to_le_bytes()).collect();
        let mi = VcocoCorrectMat::from_npy_bytes(&npy("<i2", "(29, 80)", false, &i2)).unwrap();
        assert_eq!(mi.mask(0, 0), Some(-2.0));
    }

    #[test]
    fn npy_errors() {
        let c = vec![0u8; 29 * 79];
        let e = VcocoCorrectMat::from_npy_bytes(&npy("|u1", "(29, 79)", false, &c)).unwrap_err();
        assert!(e.contains("at least 80"), "{e}");
        let e = VcocoCorrectMat::from_npy_bytes(&npy("|u1", "(28, 80)", false, &c)).unwrap_err();
        assert!(e.contains("29 rows"), "{e}");
        let e = VcocoCorrectMat::from_npy_bytes(&npy("|u1", "(29, 80)", false, &c)).unwrap_err();
        assert!(e.contains("need"), "{e}");
        let e = VcocoCorrectMat::from_npy_bytes(&npy(">f8", "(29, 80)", false, &c)).unwrap_err();
        assert!(e.contains("dtype"), "{e}");
        let e = VcocoCorrectMat::from_npy_bytes(b"nope").unwrap_err();
        assert!(e.contains("magic"), "{e}");
        let flat = vec![0u8; 29 * 80];
        let e = VcocoCorrectMat::from_npy_bytes(&npy("|u1", "(2320,)", false, &flat)).unwrap_err();
        assert!(e.contains("expected 2 dimensions"), "{e}");
    }
}
