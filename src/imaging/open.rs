//! Opening image files with errors that name the file.

use std::path::Path;

use image::DynamicImage;

use crate::error::{HoiclipError, Result};

/// Decode an image file (format from its content; PNG, JPEG, WebP, BMP, TIFF, GIF).
///
/// # Errors
///
/// [`HoiclipError::Io`] if the file cannot be read; [`HoiclipError::Image`] naming the path
/// if it is not a decodable image.
pub fn open_image(path: impl AsRef<Path>) -> Result<DynamicImage> {
    let path = path.as_ref();
    let reader = image::ImageReader::open(path).map_err(|source| HoiclipError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = reader
        .with_guessed_format()
        .map_err(|source| HoiclipError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    reader.decode().map_err(|e| HoiclipError::Image {
        what: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The `(width, height)` of the image at `path`, from its header alone (nothing is decoded):
/// a cheap check that a file exists and is an image of a known format, e.g. before loading a
/// model that takes seconds.
///
/// # Errors
///
/// As [`open_image`]: [`HoiclipError::Io`] naming the path when it cannot be read,
/// [`HoiclipError::Image`] when its header is not one of a supported format.
pub fn image_size(path: impl AsRef<Path>) -> Result<(u32, u32)> {
    let path = path.as_ref();
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|source| HoiclipError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    reader.into_dimensions().map_err(|e| HoiclipError::Image {
        what: path.display().to_string(),
        reason: e.to_string(),
    })
}
