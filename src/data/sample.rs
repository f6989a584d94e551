//! [`TrainingSample`] (an image and its annotated pairs) and [`TrainingSet`] (indexed
//! samples, decoded on demand): what the trainer and the evaluation hook consume.
//!
//! Samples are fed to the model with the inference preprocessing (DETR resize, CLIP crop of
//! the resized image), which keeps normalised boxes unchanged; the authors' training
//! augmentation is not applied yet.

use image::DynamicImage;

use super::target::HoiTarget;
use crate::error::{HoiclipError, Result};

/// One training image and its annotated pairs.
#[derive(Clone, Debug)]
pub struct TrainingSample {
    /// A name for logs and errors (the file name for real data).
    pub name: String,
    /// The image.
    pub image: DynamicImage,
    /// Its pairs, boxes normalised to the image.
    pub target: HoiTarget,
}

/// Indexed training samples (decoded on demand).
pub trait TrainingSet: Send + Sync {
    /// The number of samples.
    fn len(&self) -> usize;

    /// Whether the set is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `index` (`< len()`).
    ///
    /// # Errors
    ///
    /// When the sample cannot be read or decoded, naming it.
    fn get(&self, index: usize) -> Result<TrainingSample>;
}

/// Samples held in memory.
#[derive(Clone, Debug, Default)]
pub struct InMemorySet {
    /// The samples.
    pub samples: Vec<TrainingSample>,
}

impl TrainingSet for InMemorySet {
    fn len(&self) -> usize {
        self.samples.len()
    }

    fn get(&self, index: usize) -> Result<TrainingSample> {
        self.samples
            .get(index)
            .cloned()
            .ok_or_else(|| HoiclipError::Training(format!("no sample {index} (of {})", self.len())))
    }
}
