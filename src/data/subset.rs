//! Data-efficient training: a fraction of a training set (the paper trains on 1 %, 5 %, 15 %,
//! 25 % and 50 % of HICO-DET).
//!
//! The authors do not publish how they drew their subsets: their script reads pre-made files
//! (`trainval_hico_{frac}.json` for `--frac`), which [`super::HicoTrainingSet`] reads like any
//! annotation file. [`Subset`] draws a subset of any [`TrainingSet`] instead: the first
//! `round(len · percent / 100)` images (at least one) of a seeded shuffle of the indices, kept
//! in index order, so the same seed and fraction always give the same images, and a smaller
//! fraction is contained in a larger one with the same seed.

use super::annotated::AnnotatedSample;
use super::sample::{TrainingSample, TrainingSet};
use crate::error::{HoiclipError, Result};

/// A fraction of the training set in percent, from the authors' `--frac` spellings: `50`,
/// `50%` or `12.5`. A value in `(0, 1]` without `%` is rejected as ambiguous (the authors'
/// files are named by percent).
///
/// # Errors
///
/// [`HoiclipError::Config`] naming the value when it is not a number in `(0, 100]`, or is in
/// `(0, 1]` without a `%` sign.
pub fn parse_percent(text: &str) -> Result<f64> {
    let trimmed = text.trim();
    let (number, has_percent) = match trimmed.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (trimmed, false),
    };
    let value: f64 = number.parse().map_err(|_| {
        HoiclipError::Config(format!(
            "training fraction `{text}` is not a percentage such as 50 or 50%"
        ))
    })?;
    if !(value > 0.0 && value <= 100.0) {
        return Err(HoiclipError::Config(format!(
            "training fraction `{text}` is not in (0, 100] percent"
        )));
    }
    if value <= 1.0 && !has_percent {
        return Err(HoiclipError::Config(format!(
            "training fraction `{text}` is ambiguous: write `{value}%` for {value} percent \
             (fractions are given in percent, as the authors' --frac)"
        )));
    }
    Ok(value)
}

/// `percent` % of a training set, drawn by `seed` (see the module documentation).
pub struct Subset<'a> {
    inner: &'a dyn TrainingSet,
    indices: Vec<usize>,
}

impl<'a> Subset<'a> {
    /// The subset of `inner` holding `percent` % of its samples.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] for a percentage outside `(0, 100]`.
    pub fn new(inner: &'a dyn TrainingSet, percent: f64, seed: u64) -> Result<Self> {
        if !(percent > 0.0 && percent <= 100.0) {
            return Err(HoiclipError::Config(format!(
                "training fraction {percent} is not in (0, 100] percent"
            )));
        }
        let n = inner.len();
        let keep = ((n as f64 * percent / 100.0).round() as usize).clamp(1.min(n), n);
        // A seeded Fisher-Yates shuffle (SplitMix64): portable, no dependency on a
        // generator crate's stream.
        let mut order: Vec<usize> = (0..n).collect();
        let mut state = seed ^ 0x5EED_DA7A_5EED_DA7A;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        for i in (1..n).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let mut indices: Vec<usize> = order.into_iter().take(keep).collect();
        indices.sort_unstable();
        Ok(Self { inner, indices })
    }

    /// The indices of the kept samples in the full set, increasing.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    fn inner_index(&self, index: usize) -> Result<usize> {
        self.indices.get(index).copied().ok_or_else(|| {
            HoiclipError::Training(format!("no sample {index} (of {})", self.indices.len()))
        })
    }
}

impl TrainingSet for Subset<'_> {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn annotated(&self, index: usize) -> Result<AnnotatedSample> {
        self.inner.annotated(self.inner_index(index)?)
    }

    fn get(&self, index: usize) -> Result<TrainingSample> {
        self.inner.get(self.inner_index(index)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{HoiTarget, InMemorySet};

    fn set(n: usize) -> InMemorySet {
        InMemorySet {
            samples: (0..n)
                .map(|i| TrainingSample {
                    name: format!("{i}"),
                    image: image::DynamicImage::new_rgb8(1, 1),
                    target: HoiTarget::default(),
                    augmented: false,
                })
                .collect(),
        }
    }

    #[test]
    fn percent_spellings() {
        assert_eq!(parse_percent("50").unwrap(), 50.0);
        assert_eq!(parse_percent("50%").unwrap(), 50.0);
        assert_eq!(parse_percent(" 12.5 % ").unwrap(), 12.5);
        assert_eq!(parse_percent("1%").unwrap(), 1.0);
        for bad in ["0", "101", "abc", "0.5", "1", "-5%"] {
            let err = parse_percent(bad).unwrap_err().to_string();
            assert!(err.contains(bad.trim()), "{err}");
        }
    }

    #[test]
    fn subsets_are_seeded_nested_and_sized() {
        let full = set(1000);
        let a = Subset::new(&full, 5.0, 42).unwrap();
        assert_eq!(a.len(), 50);
        assert_eq!(a.indices(), Subset::new(&full, 5.0, 42).unwrap().indices());
        assert_ne!(a.indices(), Subset::new(&full, 5.0, 7).unwrap().indices());
        let b = Subset::new(&full, 25.0, 42).unwrap();
        assert!(a.indices().iter().all(|i| b.indices().contains(i)));
        assert_eq!(Subset::new(&full, 100.0, 1).unwrap().len(), 1000);
        assert_eq!(Subset::new(&set(10), 1.0, 1).unwrap().len(), 1);
        assert_eq!(a.get(0).unwrap().name, a.indices()[0].to_string());
        assert!(a.get(50).is_err());
    }
}
