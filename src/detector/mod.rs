//! The public detection API: [`HoiDetector`], its result type [`HoiDetection`], and
//! [`Hoiclip`], the HOICLIP model behind it with its [`DetectOptions`].

mod detection;
mod hoiclip;
mod options;
pub mod pipeline;

pub use detection::HoiDetection;
pub use hoiclip::Hoiclip;
pub use options::{DetectOptions, Enhancement};
pub use pipeline::{Batching, Pipeline, detect_files, detect_pipelined};

use image::DynamicImage;

use crate::error::{HoiclipError, Result};
use crate::model::HoiclipInput;

/// A batch made ready for [`HoiDetector::detect_prepared_batch`] by
/// [`HoiDetector::prepare_batch`] (decoded images, or the model input they became).
#[derive(Debug)]
pub struct PreparedBatch(Prepared);

#[derive(Debug)]
enum Prepared {
    /// Images as decoded (the default: the detector prepares them when it runs them).
    Images(Vec<DynamicImage>),
    /// A HOICLIP model input (resized, normalised, padded).
    Hoiclip(Box<HoiclipInput>),
}

impl PreparedBatch {
    /// Decoded images, to be prepared by the detector when it runs them.
    pub fn images(images: Vec<DynamicImage>) -> Self {
        Self(Prepared::Images(images))
    }

    /// A prepared [`HoiclipInput`].
    pub fn hoiclip(input: HoiclipInput) -> Self {
        Self(Prepared::Hoiclip(Box::new(input)))
    }
}

/// Anything that finds human-object interactions in images.
///
/// Implementations take `&self` and are `Send + Sync`, so one detector can serve several
/// threads at once.
pub trait HoiDetector: Send + Sync {
    /// Detect the interactions in one image, best score first.
    ///
    /// # Errors
    ///
    /// A typed [`crate::HoiclipError`] for an image the detector cannot use (for example
    /// one with a zero side); never a panic.
    fn detect(&self, image: &DynamicImage) -> Result<Vec<HoiDetection>>;

    /// Detect in several images; one result list per image, in order. The default runs
    /// [`HoiDetector::detect`] on each image; implementations may batch.
    ///
    /// # Errors
    ///
    /// As [`HoiDetector::detect`], for the first image that fails.
    fn detect_batch(&self, images: &[DynamicImage]) -> Result<Vec<Vec<HoiDetection>>> {
        images.iter().map(|image| self.detect(image)).collect()
    }

    /// The size the detector resizes `image` to, `(width, height)`: images of equal input
    /// size batch without padding ([`Batching::SameSize`]). The default is the image's size.
    fn input_size(&self, image: &DynamicImage) -> (u32, u32) {
        (image.width(), image.height())
    }

    /// Does the preprocessing of a batch, so that a pipeline
    /// ([`pipeline::detect_pipelined`]) can run it on another thread while the previous batch
    /// runs. The default keeps the decoded images.
    ///
    /// # Errors
    ///
    /// As [`HoiDetector::detect_batch`] for images it cannot use.
    fn prepare_batch(&self, images: Vec<DynamicImage>) -> Result<PreparedBatch> {
        Ok(PreparedBatch::images(images))
    }

    /// Runs a batch made by [`HoiDetector::prepare_batch`]: one result list per image, as
    /// [`HoiDetector::detect_batch`] on the same images.
    ///
    /// # Errors
    ///
    /// As [`HoiDetector::detect_batch`]; [`HoiclipError::Config`] for a batch this detector
    /// cannot run (prepared by another kind of detector).
    fn detect_prepared_batch(&self, batch: PreparedBatch) -> Result<Vec<Vec<HoiDetection>>> {
        match batch.0 {
            Prepared::Images(images) => self.detect_batch(&images),
            Prepared::Hoiclip(_) => Err(HoiclipError::Config(
                "a batch prepared for a HOICLIP model was given to another detector".into(),
            )),
        }
    }
}
