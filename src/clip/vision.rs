//! CLIP's vision transformer, returning both the projected image embedding and the token map.

use crate::nn::Linear;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use super::block::{CLIP_LAYER_NORM_EPS, ClipTransformer, ClipTransformerConfig};
use super::config::VisionConfig;
use crate::error::{HoiclipError, Result};
use crate::nn::AttentionMasks;
use crate::weights::WeightLoader;

/// What the vision transformer returns.
#[derive(Clone, Debug)]
pub struct VisionOutput {
    /// `ln_post(class token) @ proj`: `[batch, output_dim]` (not L2-normalised).
    pub embedding: Tensor<2>,
    /// `ln_post` applied to every token, class token first, unprojected:
    /// `[batch, 1 + grid², width]`. HOICLIP's interaction decoder attends to this.
    pub token_map: Tensor<3>,
}

/// OpenAI's `VisionTransformer` (as HOICLIP's `ModifiedCLIP` runs it).
#[derive(Module, Debug)]
pub struct VisionTransformer {
    /// Patch embedding: `Conv2d(3, width, patch, stride = patch, bias = false)`.
    pub conv1: Conv2d,
    /// Learned class token, `[width]`.
    pub class_embedding: Param<Tensor<1>>,
    /// Learned positions, `[1 + grid², width]`.
    pub positional_embedding: Param<Tensor<2>>,
    /// Norm before the blocks.
    pub ln_pre: LayerNorm,
    /// The blocks.
    pub transformer: ClipTransformer,
    /// Norm after the blocks (applied to every token).
    pub ln_post: LayerNorm,
    /// `proj` `[width, output_dim]`, applied as `x @ proj`.
    pub proj: Linear,
    /// Input image side.
    pub image_resolution: usize,
}

impl VisionConfig {
    /// A randomly initialised (lazily) vision transformer.
    pub fn init(&self, device: &Device) -> VisionTransformer {
        let w = self.width;
        VisionTransformer {
            conv1: Conv2dConfig::new([3, w], [self.patch_size, self.patch_size])
                .with_stride([self.patch_size, self.patch_size])
                .with_padding(PaddingConfig2d::Valid)
                .with_bias(false)
                .init(device),
            class_embedding: Param::from_tensor(Tensor::zeros([w], device)),
            positional_embedding: Param::from_tensor(Tensor::zeros([self.tokens(), w], device)),
            ln_pre: LayerNormConfig::new(w)
                .with_epsilon(CLIP_LAYER_NORM_EPS)
                .init(device),
            transformer: ClipTransformerConfig::new(w, self.layers, self.heads).init(device),
            ln_post: LayerNormConfig::new(w)
                .with_epsilon(CLIP_LAYER_NORM_EPS)
                .init(device),
            proj: Linear::init(w, self.output_dim, false, device),
            image_resolution: self.image_resolution,
        }
    }
}

impl VisionTransformer {
    /// Load from OpenAI names under `prefix` (normally `visual`).
    pub fn load(
        loader: &mut WeightLoader<'_>,
        prefix: &str,
        config: &VisionConfig,
    ) -> Result<Self> {
        let w = config.width;
        let p = config.patch_size;
        Ok(Self {
            conv1: loader.conv2d(&format!("{prefix}.conv1"), 3, w, p, p, 0, false)?,
            class_embedding: loader.param(&format!("{prefix}.class_embedding"), [w])?,
            positional_embedding: loader.param(
                &format!("{prefix}.positional_embedding"),
                [config.tokens(), w],
            )?,
            ln_pre: loader.layer_norm(&format!("{prefix}.ln_pre"), w, CLIP_LAYER_NORM_EPS)?,
            transformer: ClipTransformer::load(
                loader,
                &format!("{prefix}.transformer"),
                &ClipTransformerConfig::new(w, config.layers, config.heads),
            )?,
            ln_post: loader.layer_norm(&format!("{prefix}.ln_post"), w, CLIP_LAYER_NORM_EPS)?,
            proj: loader.matrix_as_linear(&format!("{prefix}.proj"), w, config.output_dim)?,
            image_resolution: config.image_resolution,
        })
    }

    /// Encode normalised images.
    ///
    /// - `images`: `[batch, 3, resolution, resolution]` (see
    ///   [`crate::clip::preprocess::preprocess_clip_batch`])
    /// - returns the embedding `[batch, output_dim]` and the token map
    ///   `[batch, 1 + grid², width]`.
    ///
    /// Errors with [`HoiclipError::InputShape`] when the images are not 3-channel squares of
    /// the model's resolution.
    pub fn forward(&self, images: Tensor<4>) -> Result<VisionOutput> {
        let [batch, channels, height, width] = images.dims();
        let r = self.image_resolution;
        if channels != 3 || height != r || width != r || batch == 0 {
            return Err(HoiclipError::InputShape {
                name: "images".into(),
                expected: format!("[batch >= 1, 3, {r}, {r}]"),
                found: vec![batch, channels, height, width],
            });
        }
        // [batch, width, grid, grid]
        let patches = self.conv1.forward(images);
        let [_, d, grid_h, grid_w] = patches.dims();
        // [batch, grid², width]
        let patches = patches.reshape([batch, d, grid_h * grid_w]).swap_dims(1, 2);
        // [batch, 1, width]
        let class = self
            .class_embedding
            .val()
            .reshape([1, 1, d])
            .expand([batch, 1, d]);
        let tokens = Tensor::cat(vec![class, patches], 1);
        let tokens = tokens + self.positional_embedding.val().unsqueeze::<3>();
        let tokens = self.ln_pre.forward(tokens);
        let tokens = self.transformer.forward(tokens, &AttentionMasks::default());
        // [batch, 1 + grid², width]
        let token_map = self.ln_post.forward(tokens);
        // [batch, width]
        let class_token = token_map.clone().narrow(1, 0, 1).reshape([batch, d]);
        let embedding = self.proj.forward(class_token);
        Ok(VisionOutput {
            embedding,
            token_map,
        })
    }
}
