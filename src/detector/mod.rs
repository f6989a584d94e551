//! The public detection API: [`HoiDetector`], its result type [`HoiDetection`], and
//! [`Hoiclip`], the HOICLIP model behind it with its [`DetectOptions`].

mod detection;
mod hoiclip;
mod options;

pub use detection::HoiDetection;
pub use hoiclip::Hoiclip;
pub use options::{DetectOptions, Enhancement};

use image::DynamicImage;

use crate::error::Result;

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
}
