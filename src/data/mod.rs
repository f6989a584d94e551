//! Training data: what the trainer and the evaluation hook read, independent of autodiff.
//!
//! - [`target`]: [`HoiTarget`], one image's annotated pairs as the criterion takes them.
//! - [`sample`]: [`TrainingSample`], [`TrainingSet`] (indexed, decoded on demand),
//!   [`InMemorySet`].
//! - [`hico`]: [`HicoTrainingSet`], the authors' HICO-DET training annotations
//!   (`trainval_hico.json`) read as their `HICODetection('train')` reads them.

pub mod hico;
pub mod sample;
pub mod target;

pub use hico::{HicoTrainingOptions, HicoTrainingSet};
pub use sample::{InMemorySet, TrainingSample, TrainingSet};
pub use target::HoiTarget;
