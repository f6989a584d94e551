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
use crate::eval::npy::read_2d;
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
        let (rows, columns, values) = read_2d(&bytes).map_err(bad)?;
        if [rows, columns] != [NUM_VERBS, NUM_OBJECTS] {
            return Err(bad(format!(
                "shape [{rows}, {columns}], expected [117, 80]"
            )));
        }
        let valid = values.iter().map(|&v| v != 0.0).collect();
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
