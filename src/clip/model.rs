//! [`Clip`]: both towers, weight loading (OpenAI and Hugging Face layouts, PyTorch and
//! safetensors files, any key prefix) and the native format.

use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};

use super::config::ClipConfig;
use super::hf_layout::{HF_ANCHOR, hf_names_used, hf_to_openai, is_hf_buffer};
use super::text::TextTransformer;
use super::tokenizer::ClipTokenizer;
use super::vision::{VisionOutput, VisionTransformer};
use crate::error::{HoiclipError, Result};
use crate::weights::{WeightLoader, WeightMap, native};

/// The tensor whose presence marks OpenAI's layout.
pub const OPENAI_ANCHOR: &str = "visual.conv1.weight";

/// Names in OpenAI state dicts that hold no weights (buffers of JIT archives).
fn is_openai_buffer(name: &str) -> bool {
    matches!(name, "input_resolution" | "context_length" | "vocab_size")
}

/// Which layout a CLIP weight file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClipLayout {
    /// OpenAI's `clip.model.CLIP` state dict (also inside HOICLIP checkpoints).
    OpenAi,
    /// Hugging Face `transformers.CLIPModel`.
    HuggingFace,
}

/// CLIP: the vision transformer and the text transformer.
#[derive(Module, Debug)]
pub struct Clip {
    /// Image tower.
    pub visual: VisionTransformer,
    /// Text tower.
    pub text: TextTransformer,
    /// `logit_scale` (log of the softmax temperature), `[1]`.
    pub logit_scale: Param<Tensor<1>>,
}

impl ClipConfig {
    /// A randomly initialised (lazily) model of this shape.
    pub fn init(&self, device: &Device) -> Clip {
        Clip {
            visual: self.vision.init(device),
            text: self.text.init(device),
            logit_scale: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![(1.0f32 / 0.07).ln()], [1]),
                device,
            )),
        }
    }
}

impl Clip {
    /// Load a weight file: a PyTorch `torch.save` file or safetensors, OpenAI or Hugging
    /// Face layout, at top level or under any prefix (`model.clip_model.` in HOICLIP
    /// checkpoints). The configuration is inferred from the shapes, as OpenAI's
    /// `build_model` does. fp16/bf16 tensors are converted to f32.
    pub fn from_file(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let map = WeightMap::from_file(path)?;
        Self::from_weight_map(&map, None, device)
    }

    /// As [`Clip::from_file`], with an explicit configuration (needed when a width is not a
    /// multiple of 64, so the heads cannot be inferred).
    pub fn from_file_with_config(
        path: impl AsRef<Path>,
        config: &ClipConfig,
        device: &Device,
    ) -> Result<Self> {
        let map = WeightMap::from_file(path)?;
        Self::from_weight_map(&map, Some(config), device)
    }

    /// Find the CLIP tensors in `map`, whatever their prefix and layout.
    /// Returns the OpenAI-layout map at top level and the layout found.
    pub fn locate(map: &WeightMap) -> Result<(WeightMap, ClipLayout)> {
        if let Some(prefix) = map.find_prefix(OPENAI_ANCHOR) {
            return Ok((map.with_prefix(&prefix), ClipLayout::OpenAi));
        }
        if let Some(prefix) = map.find_prefix(HF_ANCHOR) {
            let hf = map.with_prefix(&prefix);
            let used = hf_names_used(&hf);
            let unexpected: Vec<&str> = hf
                .names()
                .filter(|name| !used.contains(*name) && !is_hf_buffer(name))
                .collect();
            if !unexpected.is_empty() {
                return Err(HoiclipError::UnexpectedTensors {
                    count: unexpected.len(),
                    names: unexpected
                        .iter()
                        .take(8)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", "),
                    source_name: hf.source_name().to_string(),
                });
            }
            return Ok((hf_to_openai(&hf)?, ClipLayout::HuggingFace));
        }
        Err(HoiclipError::Config(format!(
            "{} holds no CLIP weights: found neither `{OPENAI_ANCHOR}` (OpenAI layout) nor \
             `{HF_ANCHOR}` (Hugging Face layout) under any prefix",
            map.source_name()
        )))
    }

    /// Build from a weight map (see [`Clip::from_file`]); `config` overrides inference.
    pub fn from_weight_map(
        map: &WeightMap,
        config: Option<&ClipConfig>,
        device: &Device,
    ) -> Result<Self> {
        let (openai, _layout) = Self::locate(map)?;
        let config = match config {
            Some(config) => config.clone(),
            None => ClipConfig::from_weights(&openai)?,
        };
        let mut loader = WeightLoader::new(&openai, device);
        let model = Self::load(&mut loader, &config)?;
        loader.finish(is_openai_buffer)?;
        Ok(model)
    }

    /// Load from OpenAI names at the top level of the loader's map.
    pub fn load(loader: &mut WeightLoader<'_>, config: &ClipConfig) -> Result<Self> {
        if config.vision.output_dim != config.text.output_dim {
            return Err(HoiclipError::Config(format!(
                "vision output_dim {} differs from text output_dim {}",
                config.vision.output_dim, config.text.output_dim
            )));
        }
        let visual = VisionTransformer::load(loader, "visual", &config.vision)?;
        let text = TextTransformer::load(loader, &config.text)?;
        let logit_scale = loader.scalar("logit_scale")?;
        Ok(Self {
            visual,
            text,
            logit_scale,
        })
    }

    /// The model's configuration, read back from its tensors' shapes.
    pub fn config(&self) -> ClipConfig {
        let v = &self.visual;
        let [width, _, patch, _] = v.conv1.weight.dims();
        let [_, output_dim] = v.proj.weight.dims();
        let t = &self.text;
        let [vocab_size, text_width] = t.token_embedding.weight.dims();
        ClipConfig {
            vision: super::config::VisionConfig {
                image_resolution: v.image_resolution,
                patch_size: patch,
                width,
                layers: v.transformer.blocks.len(),
                heads: v.transformer.blocks.first().map_or(0, |b| b.attn.n_heads),
                output_dim,
            },
            text: super::config::TextConfig {
                context_length: t.context_length,
                vocab_size,
                width: text_width,
                layers: t.transformer.blocks.len(),
                heads: t.transformer.blocks.first().map_or(0, |b| b.attn.n_heads),
                output_dim: t.text_projection.weight.dims()[1],
            },
        }
    }

    /// Encode normalised images `[batch, 3, resolution, resolution]`: projected embedding
    /// `[batch, output_dim]` and token map `[batch, 1 + grid², width]`.
    pub fn encode_image(&self, images: Tensor<4>) -> Result<VisionOutput> {
        self.visual.forward(images)
    }

    /// Encode tokenized prompts (rows from [`ClipTokenizer::tokenize`]): `[batch, output_dim]`.
    pub fn encode_tokens(&self, tokens: &[Vec<u32>]) -> Result<Tensor<2>> {
        self.text.forward_ids(tokens)
    }

    /// Tokenize (OpenAI's tokenizer, over-long prompts truncated) and encode prompts:
    /// `[prompts, output_dim]`, not L2-normalised.
    pub fn encode_text(&self, prompts: &[&str]) -> Result<Tensor<2>> {
        let tokenizer = ClipTokenizer::new()?;
        let tokens = tokenizer.tokenize_batch(prompts)?;
        self.encode_tokens(&tokens)
    }

    /// CLIP's `logits_per_image`: `exp(logit_scale)` × cosine similarity, `[images, prompts]`.
    pub fn logits_per_image(&self, images: Tensor<4>, tokens: &[Vec<u32>]) -> Result<Tensor<2>> {
        let image = l2_normalize(self.encode_image(images)?.embedding);
        let text = l2_normalize(self.encode_tokens(tokens)?);
        let scale = self.logit_scale.val().exp().unsqueeze::<2>();
        Ok(image.matmul(text.transpose()) * scale)
    }

    /// Zero-shot class probabilities: softmax over prompts of [`Clip::logits_per_image`].
    pub fn probabilities(&self, images: Tensor<4>, tokens: &[Vec<u32>]) -> Result<Tensor<2>> {
        Ok(softmax(self.logits_per_image(images, tokens)?, 1))
    }

    /// Save to the native format (burnpack with the configuration inside).
    pub fn save_native(&self, path: impl AsRef<Path>) -> Result<()> {
        let config = serde_json::to_string(&self.config())
            .map_err(|err| HoiclipError::Config(err.to_string()))?;
        native::save(self, path.as_ref(), "clip", &config)
    }

    /// Load a file written by [`Clip::save_native`].
    pub fn load_native(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let json = native::read_config(path, "clip")?;
        let config: ClipConfig =
            serde_json::from_str(&json).map_err(|err| HoiclipError::WeightFile {
                path: path.to_path_buf(),
                reason: format!("invalid configuration metadata: {err}"),
            })?;
        let mut model = config.init(device);
        native::load_into(&mut model, path)?;
        Ok(model)
    }
}

/// `x / ‖x‖₂` along the last axis: `[..., dim]`.
pub fn l2_normalize<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let norm = x.clone().square().sum_dim(D - 1).sqrt();
    x / norm
}
