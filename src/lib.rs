#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod backend;
pub mod clip;
pub mod data;
pub mod detection;
pub mod detector;
pub mod error;
pub mod eval;
pub mod imaging;
pub mod interaction;
pub mod labels;
pub mod model;
pub mod nn;
pub mod postprocess;
#[cfg(feature = "train")]
pub mod train;
pub mod weights;

pub use backend::BackendChoice;
pub use detector::{DetectOptions, Enhancement, HoiDetection, HoiDetector, Hoiclip};
pub use error::{HoiclipError, Result};
