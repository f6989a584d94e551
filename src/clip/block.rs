//! CLIP's pre-norm residual attention block and the block stack (`Transformer`).

use crate::nn::Linear;
use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor};

use crate::error::HoiclipError;
type Res<T> = std::result::Result<T, HoiclipError>;
use crate::nn::{
    AttentionMasks, TorchMultiheadAttention, TorchMultiheadAttentionConfig, quick_gelu,
};
use crate::weights::WeightLoader;

/// LayerNorm epsilon used throughout CLIP (PyTorch's default).
pub const CLIP_LAYER_NORM_EPS: f64 = 1e-5;

/// Shape of a [`ClipTransformer`].
#[derive(Config, Debug)]
pub struct ClipTransformerConfig {
    /// Width `d`.
    pub width: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
}

impl ClipTransformerConfig {
    /// A randomly initialised (lazily) stack.
    pub fn init(&self, device: &Device) -> ClipTransformer {
        let d = self.width;
        let blocks = (0..self.layers)
            .map(|_| ResidualAttentionBlock {
                ln_1: LayerNormConfig::new(d)
                    .with_epsilon(CLIP_LAYER_NORM_EPS)
                    .init(device),
                attn: TorchMultiheadAttentionConfig::new(d, self.heads).init(device),
                ln_2: LayerNormConfig::new(d)
                    .with_epsilon(CLIP_LAYER_NORM_EPS)
                    .init(device),
                c_fc: Linear::init(d, 4 * d, true, device),
                c_proj: Linear::init(4 * d, d, true, device),
            })
            .collect();
        ClipTransformer { blocks }
    }
}

/// `x = x + attn(ln_1(x)); x = x + c_proj(quick_gelu(c_fc(ln_2(x))))`.
#[derive(Module, Debug)]
pub struct ResidualAttentionBlock {
    /// Norm before attention.
    pub ln_1: LayerNorm,
    /// Self-attention.
    pub attn: TorchMultiheadAttention,
    /// Norm before the MLP.
    pub ln_2: LayerNorm,
    /// MLP expansion `d → 4d` (`mlp.c_fc`).
    pub c_fc: Linear,
    /// MLP projection `4d → d` (`mlp.c_proj`).
    pub c_proj: Linear,
}

impl ResidualAttentionBlock {
    /// Load `{prefix}.ln_1`, `.attn`, `.ln_2`, `.mlp.c_fc`, `.mlp.c_proj`.
    pub fn load(loader: &mut WeightLoader<'_>, prefix: &str, d: usize, heads: usize) -> Res<Self> {
        Ok(Self {
            ln_1: loader.layer_norm(&format!("{prefix}.ln_1"), d, CLIP_LAYER_NORM_EPS)?,
            attn: loader.multihead_attention(&format!("{prefix}.attn"), d, heads)?,
            ln_2: loader.layer_norm(&format!("{prefix}.ln_2"), d, CLIP_LAYER_NORM_EPS)?,
            c_fc: loader.linear(&format!("{prefix}.mlp.c_fc"), d, 4 * d, true)?,
            c_proj: loader.linear(&format!("{prefix}.mlp.c_proj"), 4 * d, d, true)?,
        })
    }

    /// `x`: `[batch, tokens, d]` → `[batch, tokens, d]`.
    pub fn forward(&self, x: Tensor<3>, masks: &AttentionMasks) -> Tensor<3> {
        let x = x.clone() + self.attn.forward_self(self.ln_1.forward(x), masks);
        let hidden = quick_gelu(self.c_fc.forward(self.ln_2.forward(x.clone())));
        x + self.c_proj.forward(hidden)
    }
}

/// A stack of [`ResidualAttentionBlock`]s (OpenAI's `Transformer`).
#[derive(Module, Debug)]
pub struct ClipTransformer {
    /// The blocks, in order (`resblocks.N`).
    pub blocks: Vec<ResidualAttentionBlock>,
}

impl ClipTransformer {
    /// Load `{prefix}.resblocks.{0..layers}`.
    pub fn load(
        loader: &mut WeightLoader<'_>,
        prefix: &str,
        config: &ClipTransformerConfig,
    ) -> Res<Self> {
        let blocks = (0..config.layers)
            .map(|i| {
                ResidualAttentionBlock::load(
                    loader,
                    &format!("{prefix}.resblocks.{i}"),
                    config.width,
                    config.heads,
                )
            })
            .collect::<Res<_>>()?;
        Ok(Self { blocks })
    }

    /// `x`: `[batch, tokens, d]` → `[batch, tokens, d]`.
    pub fn forward(&self, x: Tensor<3>, masks: &AttentionMasks) -> Tensor<3> {
        self.blocks
            .iter()
            .fold(x, |x, block| block.forward(x, masks))
    }
}
