//! CLIP configurations: named presets and inference from a state dict's shapes.

use burn::config::Config;

use crate::error::HoiclipError;
type Res<T> = std::result::Result<T, HoiclipError>;
use crate::weights::WeightMap;

/// The vision transformer's shape.
#[derive(Config, Debug, PartialEq, Eq)]
pub struct VisionConfig {
    /// Input image side in pixels (224 for the released models).
    pub image_resolution: usize,
    /// Patch side in pixels (32 for ViT-B/32).
    pub patch_size: usize,
    /// Transformer width (768 for ViT-B).
    pub width: usize,
    /// Number of residual attention blocks.
    pub layers: usize,
    /// Number of attention heads (OpenAI: `width / 64`).
    pub heads: usize,
    /// Width of the projected image embedding (512 for ViT-B).
    pub output_dim: usize,
}

impl VisionConfig {
    /// Patches per side: `image_resolution / patch_size`.
    pub fn grid(&self) -> usize {
        self.image_resolution / self.patch_size
    }

    /// Tokens of the token map: class token plus `grid²` patches.
    pub fn tokens(&self) -> usize {
        1 + self.grid() * self.grid()
    }
}

/// The text transformer's shape.
#[derive(Config, Debug, PartialEq, Eq)]
pub struct TextConfig {
    /// Maximum number of tokens (77).
    pub context_length: usize,
    /// Vocabulary size (49408).
    pub vocab_size: usize,
    /// Transformer width (512 for ViT-B models).
    pub width: usize,
    /// Number of residual attention blocks.
    pub layers: usize,
    /// Number of attention heads (OpenAI: `width / 64`).
    pub heads: usize,
    /// Width of the projected text embedding (equal to the vision `output_dim`).
    pub output_dim: usize,
}

/// A whole CLIP model's shape.
#[derive(Config, Debug, PartialEq, Eq)]
pub struct ClipConfig {
    /// Image tower.
    pub vision: VisionConfig,
    /// Text tower.
    pub text: TextConfig,
}

impl ClipConfig {
    /// OpenAI's ViT-B/32 (HOICLIP's default).
    pub fn vit_b_32() -> Self {
        Self::vit(224, 32, 768, 12, 512, 512, 12)
    }

    /// OpenAI's ViT-B/16.
    pub fn vit_b_16() -> Self {
        Self::vit(224, 16, 768, 12, 512, 512, 12)
    }

    /// OpenAI's ViT-L/14.
    pub fn vit_l_14() -> Self {
        Self::vit(224, 14, 1024, 24, 768, 768, 12)
    }

    fn vit(
        resolution: usize,
        patch: usize,
        width: usize,
        layers: usize,
        embed_dim: usize,
        text_width: usize,
        text_layers: usize,
    ) -> Self {
        Self {
            vision: VisionConfig {
                image_resolution: resolution,
                patch_size: patch,
                width,
                layers,
                heads: width / 64,
                output_dim: embed_dim,
            },
            text: TextConfig {
                context_length: 77,
                vocab_size: 49408,
                width: text_width,
                layers: text_layers,
                heads: text_width / 64,
                output_dim: embed_dim,
            },
        }
    }

    /// A preset by OpenAI's name: `ViT-B/32`, `ViT-B/16` or `ViT-L/14`.
    pub fn from_name(name: &str) -> Res<Self> {
        match name {
            "ViT-B/32" => Ok(Self::vit_b_32()),
            "ViT-B/16" => Ok(Self::vit_b_16()),
            "ViT-L/14" => Ok(Self::vit_l_14()),
            other => Err(HoiclipError::Config(format!(
                "unknown CLIP model `{other}`; expected ViT-B/32, ViT-B/16 or ViT-L/14"
            ))),
        }
    }

    /// Infer the configuration from an OpenAI-layout state dict's shapes, as OpenAI's
    /// `build_model` does (heads = width / 64). `map` must hold the CLIP tensors at top level
    /// (`visual.conv1.weight`, ...); see [`WeightMap::with_prefix`].
    pub fn from_weights(map: &WeightMap) -> Res<Self> {
        let shape = |name: &str| map.required_shape(name);
        let dims = |name: &str, rank: usize| -> Res<Vec<usize>> {
            let s = shape(name)?;
            if s.len() != rank {
                return Err(HoiclipError::Config(format!(
                    "tensor `{name}` in {} has shape {s:?}, expected rank {rank}",
                    map.source_name()
                )));
            }
            Ok(s)
        };
        let conv = dims("visual.conv1.weight", 4)?;
        let vision_width = conv[0];
        let patch_size = conv[3];
        let vision_pos = dims("visual.positional_embedding", 2)?;
        let grid = ((vision_pos[0].saturating_sub(1)) as f64).sqrt().round() as usize;
        if grid * grid + 1 != vision_pos[0] {
            return Err(HoiclipError::Config(format!(
                "`visual.positional_embedding` has {} rows, not 1 + a square number",
                vision_pos[0]
            )));
        }
        let vision_layers = count_layers(map, "visual.transformer.resblocks.");
        let text_projection = dims("text_projection", 2)?;
        let embed_dim = text_projection[1];
        let text_pos = dims("positional_embedding", 2)?;
        let token_embedding = dims("token_embedding.weight", 2)?;
        let text_width = dims("ln_final.weight", 1)?[0];
        let text_layers = count_layers(map, "transformer.resblocks.");
        let heads = |width: usize, what: &str| -> Res<usize> {
            if width >= 64 && width.is_multiple_of(64) {
                Ok(width / 64)
            } else {
                Err(HoiclipError::Config(format!(
                    "{what} width {width} is not a multiple of 64, so the number of heads \
                     cannot be inferred as OpenAI does; give the configuration explicitly"
                )))
            }
        };
        Ok(Self {
            vision: VisionConfig {
                image_resolution: patch_size * grid,
                patch_size,
                width: vision_width,
                layers: vision_layers,
                heads: heads(vision_width, "vision")?,
                output_dim: dims("visual.proj", 2)?[1],
            },
            text: TextConfig {
                context_length: text_pos[0],
                vocab_size: token_embedding[0],
                width: text_width,
                layers: text_layers,
                heads: heads(text_width, "text")?,
                output_dim: embed_dim,
            },
        })
    }
}

/// Number of distinct `N` in names `{prefix}N.…` (the layers of a block stack).
pub fn count_layers(map: &WeightMap, prefix: &str) -> usize {
    let mut layers = std::collections::BTreeSet::new();
    for name in map.names() {
        if let Some(rest) = name.strip_prefix(prefix)
            && let Some((index, _)) = rest.split_once('.')
            && let Ok(index) = index.parse::<usize>()
        {
            layers.insert(index);
        }
    }
    layers.len()
}
