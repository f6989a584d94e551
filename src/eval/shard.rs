//! Sharded evaluation: one test set split over several peers (devices of one machine, or
//! processes on several machines), each running its own resumable [`DetectionRun`] into its
//! own file, the files merged into one set of predictions — equal to one device's.
//!
//! A peer takes whole **batches**, not single images: the test set is cut into batches of
//! the run's batch size in order, and peer `k` of `n` takes batches `k, k + n, k + 2n, …`. Each
//! image is then detected in the same batch (with the same padding) as on one device, so the
//! merged predictions are the single-device predictions exactly, not only within float noise
//! (DETR's padded batches change border features).
//!
//! ```no_run
//! # use hoiclip::eval::{DetectionRun, HicoAnnotations, Shard, merge_shards};
//! # fn main() -> hoiclip::Result<()> {
//! # let detector: hoiclip::Hoiclip = unimplemented!();
//! let test = HicoAnnotations::from_file("annotations/test_hico.json")?;
//! let names = test.file_names();
//! // On peer 2 of 4 (each peer: its own device or machine, its own output file):
//! let shard = Shard::parse("2/4")?;
//! DetectionRun::new("images/test2015", "preds.2-of-4.jsonl")
//!     .batch_size(2)
//!     .run(&detector, &shard.images(&names, 2), |_| {})?;
//! // Anywhere, once every peer is done:
//! let outputs: Vec<String> = (1..=4).map(|k| format!("preds.{k}-of-4.jsonl")).collect();
//! let predictions = merge_shards(&outputs, &names)?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::path::Path;

use super::predictions::{ImagePredictions, Predictions};
use super::runner::{DetectionRun, RunRecord};
use crate::error::{HoiclipError, Result};

/// One peer's share of a run: peer `index` (0-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This peer, `0..count`.
    pub index: usize,
    /// The number of peers.
    pub count: usize,
}

impl Shard {
    /// Peer `index` (0-based) of `count`.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when `count` is 0 or `index >= count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(HoiclipError::Config(format!(
                "shard {index} of {count}: need 0 <= index < count"
            )));
        }
        Ok(Self { index, count })
    }

    /// `"K/N"`: peer `K` (1-based, as people count) of `N`.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] naming the text when it is not `K/N` with `1 <= K <= N`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            HoiclipError::Config(format!(
                "shard {text:?}: expected K/N with 1 <= K <= N (peer K of N, e.g. 1/2)"
            ))
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        if k == 0 || k > n {
            return Err(bad());
        }
        Self::new(k - 1, n)
    }

    /// This peer's images of `file_names` for runs of `batch_size`: the batches `index,
    /// index + count, …` of the list cut into batches, in order.
    pub fn images(&self, file_names: &[String], batch_size: usize) -> Vec<String> {
        file_names
            .chunks(batch_size.max(1))
            .enumerate()
            .filter(|(b, _)| b % self.count == self.index)
            .flat_map(|(_, batch)| batch.iter().cloned())
            .collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

/// Merge the peers' output files (JSON lines, as [`DetectionRun`] writes them) into the
/// predictions of `file_names`, in that order.
///
/// # Errors
///
/// As [`DetectionRun::read_existing`] for each file; [`HoiclipError::Config`] when an image
/// of `file_names` is in no file (naming it), in two files (naming both), or a file holds an
/// image that is not in `file_names`.
pub fn merge_shards(outputs: &[impl AsRef<Path>], file_names: &[String]) -> Result<Predictions> {
    Predictions::from_images(merge_shard_records::<ImagePredictions>(
        outputs, file_names,
    )?)
}

/// As [`merge_shards`], for any record type (e.g. V-COCO's per-pair records).
///
/// # Errors
///
/// As [`merge_shards`].
pub fn merge_shard_records<R: RunRecord>(
    outputs: &[impl AsRef<Path>],
    file_names: &[String],
) -> Result<Vec<R>> {
    let position: HashMap<&str, usize> = file_names
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();
    let mut slots: Vec<Option<(R, usize)>> = (0..file_names.len()).map(|_| None).collect();
    for (k, output) in outputs.iter().enumerate() {
        let output = output.as_ref();
        let (records, _) = DetectionRun::new("", output).read_existing_records::<R>()?;
        for record in records {
            let Some(&i) = position.get(record.filename()) else {
                return Err(HoiclipError::Config(format!(
                    "{}: image {} is not in the run's image list",
                    output.display(),
                    record.filename()
                )));
            };
            if let Some((_, first)) = &slots[i] {
                return Err(HoiclipError::Config(format!(
                    "image {} is in both {} and {}",
                    record.filename(),
                    outputs[*first].as_ref().display(),
                    output.display()
                )));
            }
            slots[i] = Some((record, k));
        }
    }
    slots
        .into_iter()
        .zip(file_names)
        .map(|(slot, name)| {
            slot.map(|(r, _)| r).ok_or_else(|| {
                HoiclipError::Config(format!(
                    "image {name} is in none of the {} shard files (a peer has not finished?)",
                    outputs.len()
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_take_whole_batches_round_robin() {
        let names: Vec<String> = (0..7).map(|i| format!("{i}")).collect();
        let a = Shard::parse("1/2").unwrap().images(&names, 2);
        let b = Shard::parse("2/2").unwrap().images(&names, 2);
        assert_eq!(a, ["0", "1", "4", "5"]);
        assert_eq!(b, ["2", "3", "6"]);
        assert_eq!(Shard::parse(" 3 / 3 ").unwrap(), Shard::new(2, 3).unwrap());
        for bad in ["0/2", "3/2", "1", "a/2", "1/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Shard::new(1, 4).unwrap().to_string(), "2/4");
    }
}
