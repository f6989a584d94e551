//! Evaluation results: per-class AP, recall and counts, and the group means, as a
//! serialisable [`EvalReport`] and a text table.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The result of one HOI class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassResult {
    /// HOI class 0..600 (`hoi_category_id - 1`).
    pub hoi_id: usize,
    /// `"verb object"`, e.g. `"ride bicycle"`.
    pub name: String,
    /// Verb index 0..117.
    pub verb_id: usize,
    /// Object index 0..80.
    pub object_id: usize,
    /// 11-point interpolated AP, in `[0, 1]`.
    pub ap: f64,
    /// Recall at the end of the ranked list (the maximum recall).
    pub recall: f64,
    /// Ground-truth pairs of the class in the evaluated images (`npos` / `sum_gts`).
    pub num_gt: usize,
    /// Detections of the class that were ranked (after Known Object filtering, top-k, NMS).
    pub num_detections: usize,
    /// True positives among them.
    pub num_tp: usize,
    /// Rare class (by the split the evaluator used).
    pub rare: bool,
    /// Unseen class of the zero-shot split, when one was chosen.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unseen: Option<bool>,
    /// Whether the class counts in the Full mean (official: always; proxy: only classes
    /// present in the test ground truth).
    pub in_mean: bool,
}

/// A mean over a group of classes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupMean {
    /// Mean AP (`None` for an empty group; the reference prints NaN).
    pub map: Option<f64>,
    /// Mean recall over the same classes.
    pub mean_recall: Option<f64>,
    /// Number of classes averaged.
    pub num_classes: usize,
}

impl GroupMean {
    pub(crate) fn over<'a>(classes: impl Iterator<Item = &'a ClassResult>) -> Self {
        let (mut ap, mut rec, mut n) = (0.0, 0.0, 0usize);
        for c in classes {
            ap += c.ap;
            rec += c.recall;
            n += 1;
        }
        if n == 0 {
            Self {
                map: None,
                mean_recall: None,
                num_classes: 0,
            }
        } else {
            Self {
                map: Some(ap / n as f64),
                mean_recall: Some(rec / n as f64),
                num_classes: n,
            }
        }
    }
}

/// The group means of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// All classes of the mean (official: the 600; proxy: those in the test ground truth).
    pub full: GroupMean,
    /// Rare classes.
    pub rare: GroupMean,
    /// Non-rare classes.
    pub non_rare: GroupMean,
    /// Unseen classes of the zero-shot split.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unseen: Option<GroupMean>,
    /// Seen classes of the zero-shot split.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seen: Option<GroupMean>,
}

/// Everything one evaluation produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// `"official-default"`, `"official-known-object"` or `"proxy"`.
    pub protocol: String,
    /// The rare split used: `"known"` (published 138 classes) or `"training-counts"`.
    pub rare_split: String,
    /// The zero-shot split, when one was chosen.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zero_shot: Option<String>,
    /// Images in the annotation file.
    pub num_images: usize,
    /// Annotation images that had an entry in the predictions.
    pub num_images_with_predictions: usize,
    /// Prediction entries whose file name is not in the annotations (ignored).
    pub unknown_prediction_images: Vec<String>,
    /// Ground-truth interactions in the annotation file.
    pub num_gt: usize,
    /// Interactions in the predictions of the annotated images, before any filtering.
    pub num_predictions: usize,
    /// The group means.
    pub summary: Summary,
    /// Every one of the 600 classes, by HOI id.
    pub classes: Vec<ClassResult>,
}

impl EvalReport {
    pub(crate) fn summarise(classes: &[ClassResult]) -> Summary {
        let in_mean = || classes.iter().filter(|c| c.in_mean);
        let zero_shot = classes.iter().any(|c| c.unseen.is_some());
        Summary {
            full: GroupMean::over(in_mean()),
            rare: GroupMean::over(in_mean().filter(|c| c.rare)),
            non_rare: GroupMean::over(in_mean().filter(|c| !c.rare)),
            unseen: zero_shot
                .then(|| GroupMean::over(in_mean().filter(|c| c.unseen == Some(true)))),
            seen: zero_shot.then(|| GroupMean::over(in_mean().filter(|c| c.unseen == Some(false)))),
        }
    }

    /// A human-readable summary table (mAP and mean recall in percent per group).
    pub fn summary_table(&self) -> String {
        let mut s = String::new();
        let title = match &self.zero_shot {
            Some(z) => format!("{} ({z}, rare split: {})", self.protocol, self.rare_split),
            None => format!("{} (rare split: {})", self.protocol, self.rare_split),
        };
        let _ = writeln!(s, "{title}");
        let _ = writeln!(
            s,
            "  images {} (with predictions {}), ground-truth pairs {}, predictions {}",
            self.num_images, self.num_images_with_predictions, self.num_gt, self.num_predictions
        );
        let _ = writeln!(
            s,
            "  {:<10} {:>8} {:>10} {:>8}",
            "group", "mAP", "mean rec", "classes"
        );
        let mut row = |name: &str, g: &GroupMean| {
            let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{:.2}", 100.0 * v));
            let _ = writeln!(
                s,
                "  {:<10} {:>8} {:>10} {:>8}",
                name,
                pct(g.map),
                pct(g.mean_recall),
                g.num_classes
            );
        };
        row("Full", &self.summary.full);
        row("Rare", &self.summary.rare);
        row("Non-rare", &self.summary.non_rare);
        if let Some(u) = &self.summary.unseen {
            row("Unseen", u);
        }
        if let Some(u) = &self.summary.seen {
            row("Seen", u);
        }
        if !self.unknown_prediction_images.is_empty() {
            let _ = writeln!(
                s,
                "  warning: {} prediction image(s) not in the annotations were ignored",
                self.unknown_prediction_images.len()
            );
        }
        s
    }
}
