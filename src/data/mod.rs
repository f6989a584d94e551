//! Training data: what the trainer and the evaluation hook read, independent of autodiff.
//!
//! - [`target`]: [`HoiTarget`], one image's annotated pairs as the criterion takes them.
//! - [`sample`]: [`TrainingSample`], [`TrainingSet`] (indexed, decoded on demand),
//!   [`InMemorySet`].
//! - [`subset`]: [`Subset`], a seeded fraction of a set (data-efficient training).
//! - [`hico`]: [`HicoTrainingSet`], the authors' HICO-DET training annotations
//!   (`trainval_hico.json`) read as their `HICODetection('train')` reads them.
//! - [`vcoco`]: [`VcocoTrainingSet`], the V-COCO training annotations (`trainval_vcoco.json`)
//!   read as their `VCOCO('train')` reads them (object-less "person only" pairs included).

pub mod hico;
mod reader;
pub mod sample;
pub mod subset;
pub mod target;
pub mod vcoco;

pub use hico::{HicoTrainingOptions, HicoTrainingSet};
pub use sample::{InMemorySet, TrainingSample, TrainingSet};
pub use subset::{Subset, parse_percent};
pub use target::HoiTarget;
pub use vcoco::{VcocoTrainingOptions, VcocoTrainingSet, VcocoTrainingSummary};
