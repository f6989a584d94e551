//! Turning images into the model's input, as the authors' test pipeline does
//! (`datasets/datasets_gen/hico.py`, `HICODetection.__getitem__` at test time):
//!
//! ```text
//! img   = Image.open(path).convert("RGB")
//! img_0 = T.RandomResize([800], max_size=1333)(img)      # Pillow bilinear
//! detr  = Normalize(ImageNet)(ToTensor(img_0))           # the detection branch's input
//! clip  = clip_preprocess(img_0)                         # Resize(224, bicubic), CenterCrop, ...
//! ```
//!
//! CLIP sees the *resized* image `img_0`, not the original. Several images are padded into
//! one batch as `nested_tensor_from_tensor_list` does.

use burn::tensor::{Device, Tensor, TensorData};
use image::DynamicImage;
use serde::{Deserialize, Serialize};

use crate::clip::preprocess::preprocess_clip;
use crate::detection::batch::{PaddedBatch, PreparedImage, pad_batch};
use crate::error::{HoiclipError, Result};
use crate::imaging::detr_transform::{
    DETR_MAX_SIZE, DETR_SHORTER, IMAGENET_MEAN, IMAGENET_STD, resize_detr,
};
use crate::imaging::pil_image::{PilImage, to_tensor_normalized};

/// The detection branch's resize (the reference's test transform: shorter side 800, longer
/// side at most 1333).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResizeConfig {
    /// Target length of the shorter side.
    pub shorter: u32,
    /// Cap on the longer side (`None`: no cap).
    pub max_size: Option<u32>,
}

impl Default for ResizeConfig {
    fn default() -> Self {
        Self {
            shorter: DETR_SHORTER,
            max_size: Some(DETR_MAX_SIZE),
        }
    }
}

/// A preprocessed batch: everything [`super::HoiclipModel::forward`] needs.
#[derive(Clone, Debug)]
pub struct HoiclipInput {
    /// The detection branch's padded images `[batch, 3, H, W]` and padding mask.
    pub batch: PaddedBatch,
    /// CLIP's crops `[batch, 3, n_px, n_px]`.
    pub clip_images: Tensor<4>,
    /// Each original image's `(width, height)`; boxes are scaled to it.
    pub original_sizes: Vec<(u32, u32)>,
}

impl HoiclipInput {
    /// Preprocess `images` (any colour type or bit depth `image` decodes; converted to RGB
    /// as Pillow's `convert("RGB")` does) for a model whose CLIP takes `clip_px`-pixel
    /// squares.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Image`] naming the image (`input <i>`) that is empty or resizes to
    /// nothing; also when `images` is empty.
    pub fn from_images(
        images: &[&DynamicImage],
        clip_px: usize,
        resize: ResizeConfig,
        device: &Device,
    ) -> Result<Self> {
        Self::from_images_sized(images, &vec![Some(resize); images.len()], clip_px, device)
    }

    /// As [`Self::from_images`], each image with its own resize: `None` feeds an image at its
    /// size, for images that already are the detection branch's input (the training
    /// augmentation resized them; CLIP then sees that image, as the reference's
    /// `clip_preprocess(img_0)`). Boxes are then scaled to the size given.
    ///
    /// # Errors
    ///
    /// As [`Self::from_images`]; [`HoiclipError::Config`] when `resize` does not hold one
    /// entry per image.
    pub fn from_images_sized(
        images: &[&DynamicImage],
        resize: &[Option<ResizeConfig>],
        clip_px: usize,
        device: &Device,
    ) -> Result<Self> {
        if images.is_empty() {
            return Err(HoiclipError::Image {
                what: "batch".into(),
                reason: "no images given".into(),
            });
        }
        if resize.len() != images.len() {
            return Err(HoiclipError::Config(format!(
                "{} resize entries for {} images",
                resize.len(),
                images.len()
            )));
        }
        let mut prepared = Vec::with_capacity(images.len());
        let mut clip = Vec::with_capacity(images.len() * 3 * clip_px * clip_px);
        let mut original_sizes = Vec::with_capacity(images.len());
        for (i, (image, resize)) in images.iter().zip(resize).enumerate() {
            let name = |e: HoiclipError| match e {
                HoiclipError::Image { reason, .. } => HoiclipError::Image {
                    what: format!("input {i}"),
                    reason,
                },
                other => other,
            };
            let resized = match resize {
                Some(r) => resize_detr(image, r.shorter, r.max_size).map_err(name)?,
                None => {
                    if image.width() == 0 || image.height() == 0 {
                        return Err(name(HoiclipError::Image {
                            what: String::new(),
                            reason: "is empty".into(),
                        }));
                    }
                    PilImage::from_dynamic(image).into_rgb()
                }
            };
            let (w, h) = resized.dimensions();
            prepared.push(PreparedImage {
                values: to_tensor_normalized(&resized, IMAGENET_MEAN, IMAGENET_STD),
                height: h as usize,
                width: w as usize,
            });
            clip.extend(preprocess_clip(&DynamicImage::ImageRgb8(resized), clip_px).map_err(name)?);
            original_sizes.push((image.width(), image.height()));
        }
        let batch = pad_batch(&prepared, device)?;
        let clip_images = Tensor::<4>::from_data(
            TensorData::new(clip, [images.len(), 3, clip_px, clip_px]),
            device,
        );
        Ok(Self {
            batch,
            clip_images,
            original_sizes,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.original_sizes.len()
    }

    /// Whether the batch is empty (never, for a batch from [`Self::from_images`]).
    pub fn is_empty(&self) -> bool {
        self.original_sizes.is_empty()
    }
}
