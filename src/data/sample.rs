//! [`TrainingSample`] (an image and its annotated pairs) and [`TrainingSet`] (indexed
//! samples, decoded on demand): what the trainer and the evaluation hook consume.
//!
//! A set hands out [`AnnotatedSample`]s (boxes in pixels, interactions); the loader
//! ([`super::loader`]) augments them as the authors do and turns them into
//! [`TrainingSample`]s. A sample that was not augmented is fed to the model with the
//! inference preprocessing (DETR resize, CLIP crop of the resized image), which keeps
//! normalised boxes unchanged; an augmented one is fed at its size.

use image::DynamicImage;

use super::annotated::AnnotatedSample;
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
    /// Whether `image` is already the detection branch's input (the authors' augmentation
    /// resized it): the trainer then feeds it at its size instead of resizing it to the
    /// inference size.
    pub augmented: bool,
}

/// Indexed training samples (decoded on demand).
pub trait TrainingSet: Send + Sync {
    /// The number of samples.
    fn len(&self) -> usize;

    /// Whether the set is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `index` (`< len()`) with its boxes in pixels: what the augmentation and the
    /// verb-representation builder take.
    ///
    /// # Errors
    ///
    /// When the sample cannot be read or decoded, naming it.
    fn annotated(&self, index: usize) -> Result<AnnotatedSample>;

    /// Sample `index` (`< len()`) without augmentation.
    ///
    /// # Errors
    ///
    /// When the sample cannot be read or decoded, naming it.
    fn get(&self, index: usize) -> Result<TrainingSample> {
        Ok(self.annotated(index)?.into_sample(false))
    }
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

    fn annotated(&self, index: usize) -> Result<AnnotatedSample> {
        AnnotatedSample::from_sample(&self.get(index)?)
    }

    fn get(&self, index: usize) -> Result<TrainingSample> {
        self.samples
            .get(index)
            .cloned()
            .ok_or_else(|| HoiclipError::Training(format!("no sample {index} (of {})", self.len())))
    }
}
