#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod backend;
pub mod clip;
pub mod detection;
pub mod error;
pub mod imaging;
pub mod interaction;
pub mod labels;
pub mod nn;
pub mod postprocess;
pub mod weights;

pub use backend::BackendChoice;
pub use error::{HoiclipError, Result};
