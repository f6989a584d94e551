//! HICO-DET evaluation: the official protocol (ho-rcnn's MATLAB `eval_one.m`, Default and
//! Known Object), the HOICLIP authors' Python proxy, dataset readers, the predictions format
//! a resumable detector runner, and sharding a run over several peers ([`shard`]).
//!
//! ```no_run
//! use hoiclip::eval::{Evaluator, HicoAnnotations, OfficialMode, Predictions, RareSplit};
//!
//! # fn main() -> hoiclip::Result<()> {
//! let test = HicoAnnotations::from_file("annotations/test_hico.json")?;
//! let train = HicoAnnotations::from_file("annotations/trainval_hico.json")?;
//! let rare = RareSplit::from_training(&train);
//! rare.check_known()?; // the 138 published rare classes
//! let preds = Predictions::from_file("preds.json")?;
//! let report = Evaluator::official(&test, OfficialMode::Default)
//!     .with_rare_split(rare)
//!     .evaluate(&preds);
//! println!("{}", report.summary_table());
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/evaluation.md` for the protocol, how the two evaluators differ, and the file
//! formats.

pub mod annotations;
pub mod ap;
pub mod correct_mat;
pub mod ids;
pub mod iou;
pub(crate) mod json;
mod npy;
pub mod official;
pub mod predictions;
pub mod proxy;
pub mod report;
pub mod runner;
pub mod shard;
pub mod split;
pub mod vcoco;

pub use annotations::{GtBox, GtHoi, HicoAnnotations, ImageAnnotation};
pub use ap::{ApResult, MATLAB_LOOP_RECALL_POINTS, NUMPY_RECALL_POINTS, eleven_point_ap};
pub use correct_mat::CorrectMat;
pub use official::{OfficialMode, OfficialOptions};
pub use predictions::{CategoryMeaning, ImagePredictions, PredBox, PredHoi, Predictions};
pub use proxy::ProxyOptions;
pub use report::{ClassResult, EvalReport, GroupMean, Summary};
pub use runner::{DetectionRun, RecordRunOutcome, RunOutcome, RunProgress, RunRecord};
pub use shard::{Shard, merge_shard_records, merge_shards};
pub use split::{RARE_THRESHOLD, RareSplit, ZeroShotSplit};

/// Which evaluator to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Protocol {
    /// The official MATLAB protocol ([`official`]).
    Official(OfficialOptions),
    /// The authors' Python evaluator ([`proxy`]).
    Proxy(ProxyOptions),
}

/// Scores predictions against a HICO-DET annotation file.
#[derive(Debug, Clone)]
pub struct Evaluator<'a> {
    annotations: &'a HicoAnnotations,
    protocol: Protocol,
    rare: RareSplit,
    zero_shot: Option<ZeroShotSplit>,
}

impl<'a> Evaluator<'a> {
    /// The official protocol in `mode`, with `eval_one.m`'s other settings.
    pub fn official(annotations: &'a HicoAnnotations, mode: OfficialMode) -> Self {
        Self::new(
            annotations,
            Protocol::Official(OfficialOptions::with_mode(mode)),
        )
    }

    /// The official protocol with explicit options.
    pub fn official_with(annotations: &'a HicoAnnotations, options: OfficialOptions) -> Self {
        Self::new(annotations, Protocol::Official(options))
    }

    /// The authors' Python evaluator.
    pub fn proxy(annotations: &'a HicoAnnotations, options: ProxyOptions) -> Self {
        Self::new(annotations, Protocol::Proxy(options))
    }

    /// Any protocol; the rare split defaults to [`RareSplit::known`], no zero-shot split.
    pub fn new(annotations: &'a HicoAnnotations, protocol: Protocol) -> Self {
        Self {
            annotations,
            protocol,
            rare: RareSplit::known(),
            zero_shot: None,
        }
    }

    /// Uses this rare split (e.g. [`RareSplit::from_training`]).
    pub fn with_rare_split(mut self, rare: RareSplit) -> Self {
        self.rare = rare;
        self
    }

    /// Also reports Unseen / Seen means for this zero-shot split (`None`: no split).
    pub fn with_zero_shot(mut self, split: Option<ZeroShotSplit>) -> Self {
        self.zero_shot = split;
        self
    }

    /// The protocol this evaluator runs.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// Scores `predictions`. Prediction images whose file name is not in the annotations are
    /// ignored and listed in [`EvalReport::unknown_prediction_images`]; annotated images
    /// without predictions simply have no detections.
    pub fn evaluate(&self, predictions: &Predictions) -> EvalReport {
        match &self.protocol {
            Protocol::Official(o) => {
                official::evaluate(self.annotations, predictions, o, &self.rare, self.zero_shot)
            }
            Protocol::Proxy(o) => {
                proxy::evaluate(self.annotations, predictions, o, &self.rare, self.zero_shot)
            }
        }
    }
}
