//! Class groups the metrics are averaged over: Rare / Non-rare and the zero-shot
//! Unseen / Seen splits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::annotations::HicoAnnotations;
use super::ids::NUM_HOIS;
use crate::error::{HoiclipError, Result};
use crate::labels::hico::{
    HICO_RARE_HOIS, HICO_UNSEEN_NON_RARE_FIRST, HICO_UNSEEN_RARE_FIRST, HICO_UNSEEN_UC,
    HICO_UNSEEN_UNSEEN_OBJECT, HICO_UNSEEN_UNSEEN_VERB,
};
use crate::model::ZeroShotType;

/// A class is rare when it has fewer than this many training instances (`eval_one.m`:
/// `s_ind = num_inst < 10`; `set_rare_hois`: `count < 10`).
pub const RARE_THRESHOLD: usize = 10;

/// Which HOI classes are rare.
///
/// Built either from the known split ([`RareSplit::known`], the 138 classes of
/// [`HICO_RARE_HOIS`]) or by counting a training file ([`RareSplit::from_training`]), as
/// `eval_one.m` and the reference's `set_rare_hois` do.
#[derive(Debug, Clone, PartialEq)]
pub struct RareSplit {
    counts: Option<Vec<usize>>,
    rare: Vec<bool>,
}

impl RareSplit {
    /// The published split: the 138 classes of [`HICO_RARE_HOIS`] are rare.
    pub fn known() -> Self {
        let mut rare = vec![false; NUM_HOIS];
        for &h in &HICO_RARE_HOIS {
            rare[h as usize] = true;
        }
        Self { counts: None, rare }
    }

    /// Counts the training annotations (every `hoi_annotation` entry is one instance) and
    /// marks classes with fewer than [`RARE_THRESHOLD`] instances rare, zero included (as
    /// `eval_one.m`). On the real `trainval_hico.json` this gives the 138 known classes;
    /// [`RareSplit::check_known`] verifies it.
    pub fn from_training(train: &HicoAnnotations) -> Self {
        Self::from_counts(train.hoi_counts())
    }

    /// From per-class training counts (`[600]`; shorter input counts missing classes as 0).
    pub fn from_counts(mut counts: Vec<usize>) -> Self {
        counts.resize(NUM_HOIS, 0);
        let rare = counts.iter().map(|&c| c < RARE_THRESHOLD).collect();
        Self {
            counts: Some(counts),
            rare,
        }
    }

    /// Whether HOI class `hoi` (0..600) is rare.
    pub fn is_rare(&self, hoi: usize) -> bool {
        self.rare.get(hoi).copied().unwrap_or(false)
    }

    /// Training instances of a class, when the split was counted from a training file.
    pub fn training_count(&self, hoi: usize) -> Option<usize> {
        self.counts.as_ref().and_then(|c| c.get(hoi).copied())
    }

    /// Whether the split was counted from training data (rather than [`RareSplit::known`]).
    pub fn is_counted(&self) -> bool {
        self.counts.is_some()
    }

    /// Number of rare classes.
    pub fn num_rare(&self) -> usize {
        self.rare.iter().filter(|&&r| r).count()
    }

    /// Classes whose rare flag differs from the published split, ascending.
    pub fn differences_from_known(&self) -> Vec<usize> {
        let known = Self::known();
        (0..NUM_HOIS)
            .filter(|&h| self.rare[h] != known.rare[h])
            .collect()
    }

    /// Checks the split against the published one (138 rare classes).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] listing the classes that differ.
    pub fn check_known(&self) -> Result<()> {
        let diff = self.differences_from_known();
        if diff.is_empty() {
            return Ok(());
        }
        let shown: Vec<String> = diff
            .iter()
            .take(12)
            .map(|&h| match self.training_count(h) {
                Some(c) => format!("{h} ({c} training instances)"),
                None => h.to_string(),
            })
            .collect();
        Err(HoiclipError::Config(format!(
            "rare split has {} rare classes, the published split 138; {} classes differ: {}{}",
            self.num_rare(),
            diff.len(),
            shown.join(", "),
            if diff.len() > 12 { ", ..." } else { "" }
        )))
    }

    /// The proxy evaluator's grouping (`hico_eval_triplet.py`, `compute_map`): a class is in
    /// `rare_triplets` / `non_rare_triplets` only when it occurs in the training file, so a
    /// class counted zero times is in neither group (`None`). With the known split every
    /// class is in one group.
    pub(crate) fn proxy_group(&self, hoi: usize) -> Option<bool> {
        match self.training_count(hoi) {
            Some(0) => None,
            _ => Some(self.is_rare(hoi)),
        }
    }
}

impl Default for RareSplit {
    fn default() -> Self {
        Self::known()
    }
}

/// A zero-shot setting of HOICLIP (`hico_unseen_index` in `datasets/hico_text_label.py`):
/// its unseen classes are averaged as "Unseen", the others as "Seen".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZeroShotSplit {
    /// Rare-first unseen composition (RF-UC), 120 unseen classes.
    RareFirst,
    /// Non-rare-first unseen composition (NF-UC), 120 unseen classes.
    NonRareFirst,
    /// Unseen object (UO), 100 unseen classes.
    UnseenObject,
    /// Unseen verb (UV), 84 unseen classes.
    UnseenVerb,
    /// One of the five random unseen-composition splits `uc0`..`uc4` (value 0..=4).
    Uc(u8),
}

impl ZeroShotSplit {
    /// Every split.
    pub const ALL: [ZeroShotSplit; 9] = [
        Self::RareFirst,
        Self::NonRareFirst,
        Self::UnseenObject,
        Self::UnseenVerb,
        Self::Uc(0),
        Self::Uc(1),
        Self::Uc(2),
        Self::Uc(3),
        Self::Uc(4),
    ];

    /// The reference's `zero_shot_type` name: `rare_first`, `non_rare_first`,
    /// `unseen_object`, `unseen_verb`, `uc0`..`uc4`.
    pub fn name(&self) -> String {
        match self {
            Self::RareFirst => "rare_first".into(),
            Self::NonRareFirst => "non_rare_first".into(),
            Self::UnseenObject => "unseen_object".into(),
            Self::UnseenVerb => "unseen_verb".into(),
            Self::Uc(i) => format!("uc{i}"),
        }
    }

    /// The unseen HOI classes (0..600).
    pub fn unseen_hois(&self) -> &'static [u16] {
        match self {
            Self::RareFirst => &HICO_UNSEEN_RARE_FIRST,
            Self::NonRareFirst => &HICO_UNSEEN_NON_RARE_FIRST,
            Self::UnseenObject => &HICO_UNSEEN_UNSEEN_OBJECT,
            Self::UnseenVerb => &HICO_UNSEEN_UNSEEN_VERB,
            Self::Uc(i) => HICO_UNSEEN_UC.get(*i as usize).map_or(&[], |a| &a[..]),
        }
    }

    /// `[600]` flags: `true` for unseen classes.
    pub fn unseen_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; NUM_HOIS];
        for &h in self.unseen_hois() {
            mask[h as usize] = true;
        }
        mask
    }
}

impl ZeroShotSplit {
    /// The split a checkpoint was trained on (its `args.zero_shot_type`): `None` for a fully
    /// supervised checkpoint and for [`ZeroShotType::Unknown`] (a zero-shot checkpoint
    /// without `args` naming the split).
    pub fn of_training(zero_shot_type: ZeroShotType) -> Option<Self> {
        match zero_shot_type {
            ZeroShotType::Default | ZeroShotType::Unknown => None,
            ZeroShotType::RareFirst => Some(Self::RareFirst),
            ZeroShotType::NonRareFirst => Some(Self::NonRareFirst),
            ZeroShotType::UnseenObject => Some(Self::UnseenObject),
            ZeroShotType::UnseenVerb => Some(Self::UnseenVerb),
            ZeroShotType::Uc(i) => Some(Self::Uc(i)),
        }
    }
}

impl fmt::Display for ZeroShotSplit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for ZeroShotSplit {
    type Err = HoiclipError;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|z| z.name() == s)
            .ok_or_else(|| {
                HoiclipError::Config(format!(
                    "unknown zero-shot split `{s}` (expected one of rare_first, non_rare_first, \
                     unseen_object, unseen_verb, uc0..uc4)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoints_split_maps_to_the_evaluation_split() {
        assert_eq!(ZeroShotSplit::of_training(ZeroShotType::Default), None);
        assert_eq!(ZeroShotSplit::of_training(ZeroShotType::Unknown), None);
        // Both tables agree on every split's unseen classes.
        for (t, z) in [
            (ZeroShotType::RareFirst, ZeroShotSplit::RareFirst),
            (ZeroShotType::NonRareFirst, ZeroShotSplit::NonRareFirst),
            (ZeroShotType::UnseenObject, ZeroShotSplit::UnseenObject),
            (ZeroShotType::UnseenVerb, ZeroShotSplit::UnseenVerb),
            (ZeroShotType::Uc(3), ZeroShotSplit::Uc(3)),
        ] {
            assert_eq!(ZeroShotSplit::of_training(t), Some(z));
            assert_eq!(t.unseen_hois(), z.unseen_hois());
        }
    }
}
