//! The assembled HOICLIP model and what it needs around it:
//!
//! - [`config`]: [`HoiclipConfig`] (presets, reading the authors' `args` and shapes);
//! - [`checkpoint`]: opening released checkpoints, refusing other models, known-unused tensors;
//! - [`input`]: images → [`HoiclipInput`] (the reference's test transforms, padding);
//! - [`vocabulary`]: verb/object names and HOI classes with their prompts;
//! - [`open_vocabulary`]: replacing the classes at run time with user prompts;
//! - [`hoiclip`]: [`HoiclipModel`] and its raw outputs [`HoiclipOutput`];
//! - [`export`]: the model's parameters under the authors' state-dict key names.

pub mod checkpoint;
pub mod config;
pub mod export;
pub mod hoiclip;
pub mod input;
pub mod open_vocabulary;
pub mod vocabulary;

pub use checkpoint::Checkpoint;
pub use config::{HoiDataset, HoiclipConfig, ZeroShotType};
pub use hoiclip::{HoiclipModel, HoiclipOutput, LevelPrediction};
pub use input::{HoiclipInput, ResizeConfig};
pub use open_vocabulary::{CustomHoiClass, NewVerb};
pub use vocabulary::{HoiClassEntry, HoiVocabulary, NO_OBJECT};
