//! Training data: what the trainer and the evaluation hook read, independent of autodiff.
//!
//! - [`annotated`]: [`AnnotatedSample`], one image with its boxes in pixels and its
//!   interactions: the one annotation model readers produce and the augmentation, the
//!   verb-representation builder and the trainer take.
//! - [`augment`]: [`AugmentConfig`], the authors' augmentation (flip, colour jitter,
//!   multi-scale resize, random crop), split into random draws and their application.
//! - [`loader`]: [`BatchLoader`], parallel, deterministic decode + augmentation, prefetched.
//! - [`target`]: [`HoiTarget`], one image's annotated pairs as the criterion takes them.
//! - [`sample`]: [`TrainingSample`], [`TrainingSet`] (indexed, decoded on demand),
//!   [`InMemorySet`].
//! - [`subset`]: [`Subset`], a seeded fraction of a set (data-efficient training).
//! - [`hico`]: [`HicoTrainingSet`], the authors' HICO-DET training annotations
//!   (`trainval_hico.json`) read as their `HICODetection('train')` reads them.
//! - [`vcoco`]: [`VcocoTrainingSet`], the V-COCO training annotations (`trainval_vcoco.json`)
//!   read as their `VCOCO('train')` reads them (object-less "person only" pairs included).

pub mod annotated;
pub mod augment;
pub mod custom;
pub mod hico;
pub mod loader;
mod reader;
pub mod sample;
pub mod subset;
pub mod target;
pub mod vcoco;

pub use annotated::{AnnotatedBox, AnnotatedSample, Interaction};
pub use augment::{AugmentConfig, AugmentDraws, CropRegion, GeometryDraw};
pub use custom::{
    CustomTrainingOptions, CustomTrainingSet, CustomTrainingSummary, CustomVocabularyFile,
};
pub use hico::{HicoTrainingOptions, HicoTrainingSet};
pub use loader::BatchLoader;
pub use sample::{InMemorySet, TrainingSample, TrainingSet};
pub use subset::{Subset, parse_percent};
pub use target::HoiTarget;
pub use vcoco::{VcocoTrainingOptions, VcocoTrainingSet, VcocoTrainingSummary};
