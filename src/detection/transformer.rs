//! The DETR transformer as HOICLIP runs it: post-norm encoder layers and the instance decoder.
//!
//! Reference semantics (HOICLIP `models/models_hoiclip/gen.py`, `normalize_before = False`):
//!
//! - encoder layer: `q = k = src + pos`, `v = src`, key padding mask;
//!   `src = norm1(src + attn)`, `src = norm2(src + linear2(relu(linear1(src))))`.
//! - decoder layer: `q = k = tgt + query_pos`, `v = tgt` (no mask), `tgt = norm1(tgt + ..)`;
//!   cross-attention with `query = tgt + query_pos`, `key = memory + pos`, `value = memory`
//!   and the memory's key padding mask, `tgt = norm2(tgt + ..)`; FFN, `norm3`.
//! - the instance decoder applies its one final `norm` to every layer's output
//!   (`return_intermediate_dec = True`).

use crate::nn::Linear;
use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::error::HoiclipError;
use crate::nn::{AttentionMasks, TorchMultiheadAttention, TorchMultiheadAttentionConfig, dropout};
use crate::weights::WeightLoader;

type Res<T> = std::result::Result<T, HoiclipError>;

/// LayerNorm epsilon of the DETR transformer (PyTorch's default).
pub const DETR_LAYER_NORM_EPS: f64 = 1e-5;

/// Shape of the DETR transformer layers.
#[derive(Config, Debug, PartialEq, Eq)]
pub struct DetrLayerConfig {
    /// Width `d` (`hidden_dim`, 256).
    pub d_model: usize,
    /// Attention heads (`nheads`, 8).
    pub n_heads: usize,
    /// FFN width (`dim_feedforward`, 2048).
    pub dim_feedforward: usize,
}

fn norm(d: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(d)
        .with_epsilon(DETR_LAYER_NORM_EPS)
        .init(device)
}

impl DetrLayerConfig {
    /// A randomly initialised (lazily) encoder layer.
    pub fn init_encoder_layer(&self, device: &Device) -> EncoderLayer {
        let d = self.d_model;
        EncoderLayer {
            self_attn: TorchMultiheadAttentionConfig::new(d, self.n_heads).init(device),
            linear1: Linear::init(d, self.dim_feedforward, true, device),
            linear2: Linear::init(self.dim_feedforward, d, true, device),
            norm1: norm(d, device),
            norm2: norm(d, device),
            dropout: 0.0,
        }
    }

    /// A randomly initialised (lazily) decoder layer.
    pub fn init_decoder_layer(&self, device: &Device) -> DecoderLayer {
        let d = self.d_model;
        DecoderLayer {
            self_attn: TorchMultiheadAttentionConfig::new(d, self.n_heads).init(device),
            multihead_attn: TorchMultiheadAttentionConfig::new(d, self.n_heads).init(device),
            linear1: Linear::init(d, self.dim_feedforward, true, device),
            linear2: Linear::init(self.dim_feedforward, d, true, device),
            norm1: norm(d, device),
            norm2: norm(d, device),
            norm3: norm(d, device),
            dropout: 0.0,
        }
    }
}

/// One post-norm DETR encoder layer.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    /// Self-attention.
    pub self_attn: TorchMultiheadAttention,
    /// FFN expansion.
    pub linear1: Linear,
    /// FFN projection.
    pub linear2: Linear,
    /// Norm after attention.
    pub norm1: LayerNorm,
    /// Norm after the FFN.
    pub norm2: LayerNorm,
    /// Dropout while training (`dropout`, `dropout1`, `dropout2` of the reference); 0 after
    /// loading. See [`crate::nn::dropout()`].
    pub dropout: f64,
}

impl EncoderLayer {
    /// Load `{prefix}.self_attn`, `.linear1`, `.linear2`, `.norm1`, `.norm2`.
    pub fn load(
        loader: &mut WeightLoader<'_>,
        prefix: &str,
        config: &DetrLayerConfig,
    ) -> Res<Self> {
        let (d, f) = (config.d_model, config.dim_feedforward);
        Ok(Self {
            self_attn: loader.multihead_attention(
                &format!("{prefix}.self_attn"),
                d,
                config.n_heads,
            )?,
            linear1: loader.linear(&format!("{prefix}.linear1"), d, f, true)?,
            linear2: loader.linear(&format!("{prefix}.linear2"), f, d, true)?,
            norm1: loader.layer_norm(&format!("{prefix}.norm1"), d, DETR_LAYER_NORM_EPS)?,
            norm2: loader.layer_norm(&format!("{prefix}.norm2"), d, DETR_LAYER_NORM_EPS)?,
            dropout: 0.0,
        })
    }

    /// - `src`, `pos`: `[batch, tokens, d]`
    /// - `masks.key_padding`: `[batch, tokens]`, true on padding
    /// - returns `[batch, tokens, d]`
    pub fn forward(&self, src: Tensor<3>, pos: Tensor<3>, masks: &AttentionMasks) -> Tensor<3> {
        let p = self.dropout;
        let q = src.clone() + pos;
        let attended = self.self_attn.forward(q.clone(), q, src.clone(), masks);
        let src = self.norm1.forward(src + dropout(attended, p));
        let hidden = dropout(relu(self.linear1.forward(src.clone())), p);
        let ffn = self.linear2.forward(hidden);
        self.norm2.forward(src + dropout(ffn, p))
    }
}

/// One post-norm DETR decoder layer.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Self-attention over the queries.
    pub self_attn: TorchMultiheadAttention,
    /// Cross-attention to the memory.
    pub multihead_attn: TorchMultiheadAttention,
    /// FFN expansion.
    pub linear1: Linear,
    /// FFN projection.
    pub linear2: Linear,
    /// Norm after self-attention.
    pub norm1: LayerNorm,
    /// Norm after cross-attention.
    pub norm2: LayerNorm,
    /// Norm after the FFN.
    pub norm3: LayerNorm,
    /// Dropout while training (`dropout`, `dropout1..3` of the reference, 0.1 in its
    /// scripts); 0 after loading. See [`crate::nn::dropout()`].
    pub dropout: f64,
}

impl DecoderLayer {
    /// Load `{prefix}.self_attn`, `.multihead_attn`, `.linear1/2`, `.norm1/2/3`.
    pub fn load(
        loader: &mut WeightLoader<'_>,
        prefix: &str,
        config: &DetrLayerConfig,
    ) -> Res<Self> {
        let (d, f, h) = (config.d_model, config.dim_feedforward, config.n_heads);
        Ok(Self {
            self_attn: loader.multihead_attention(&format!("{prefix}.self_attn"), d, h)?,
            multihead_attn: loader.multihead_attention(
                &format!("{prefix}.multihead_attn"),
                d,
                h,
            )?,
            linear1: loader.linear(&format!("{prefix}.linear1"), d, f, true)?,
            linear2: loader.linear(&format!("{prefix}.linear2"), f, d, true)?,
            norm1: loader.layer_norm(&format!("{prefix}.norm1"), d, DETR_LAYER_NORM_EPS)?,
            norm2: loader.layer_norm(&format!("{prefix}.norm2"), d, DETR_LAYER_NORM_EPS)?,
            norm3: loader.layer_norm(&format!("{prefix}.norm3"), d, DETR_LAYER_NORM_EPS)?,
            dropout: 0.0,
        })
    }

    /// - `tgt`, `query_pos`: `[batch, queries, d]`
    /// - `memory`: `[batch, tokens, d]`; `memory_with_pos` = `memory + pos`
    /// - `memory_masks.key_padding`: `[batch, tokens]`
    /// - returns `[batch, queries, d]`
    pub fn forward(
        &self,
        tgt: Tensor<3>,
        query_pos: Tensor<3>,
        memory: Tensor<3>,
        memory_with_pos: Tensor<3>,
        memory_masks: &AttentionMasks,
    ) -> Tensor<3> {
        let p = self.dropout;
        let q = tgt.clone() + query_pos.clone();
        let attended =
            self.self_attn
                .forward(q.clone(), q, tgt.clone(), &AttentionMasks::default());
        let tgt = self.norm1.forward(tgt + dropout(attended, p));
        let attended = self.multihead_attn.forward(
            tgt.clone() + query_pos,
            memory_with_pos,
            memory,
            memory_masks,
        );
        let tgt = self.norm2.forward(tgt + dropout(attended, p));
        let hidden = dropout(relu(self.linear1.forward(tgt.clone())), p);
        let ffn = self.linear2.forward(hidden);
        self.norm3.forward(tgt + dropout(ffn, p))
    }
}

/// The DETR encoder: a stack of [`EncoderLayer`]s without a final norm (post-norm DETR).
#[derive(Module, Debug)]
pub struct Encoder {
    /// The layers (`transformer.encoder.layers.N`).
    pub layers: Vec<EncoderLayer>,
}

impl Encoder {
    /// Load `{prefix}.layers.{0..n}`.
    pub fn load(
        loader: &mut WeightLoader<'_>,
        prefix: &str,
        n: usize,
        config: &DetrLayerConfig,
    ) -> Res<Self> {
        let layers = (0..n)
            .map(|i| EncoderLayer::load(loader, &format!("{prefix}.layers.{i}"), config))
            .collect::<Res<_>>()?;
        Ok(Self { layers })
    }

    /// `src`, `pos`: `[batch, tokens, d]` → memory `[batch, tokens, d]`.
    pub fn forward(&self, src: Tensor<3>, pos: Tensor<3>, masks: &AttentionMasks) -> Tensor<3> {
        self.layers
            .iter()
            .fold(src, |x, layer| layer.forward(x, pos.clone(), masks))
    }
}

/// The instance decoder: [`DecoderLayer`]s and the final norm shared by every layer's output.
#[derive(Module, Debug)]
pub struct InstanceDecoder {
    /// The layers (`transformer.instance_decoder.layers.N`).
    pub layers: Vec<DecoderLayer>,
    /// The final norm (`transformer.instance_decoder.norm`).
    pub norm: LayerNorm,
}

impl InstanceDecoder {
    /// Load `{prefix}.layers.{0..n}` and `{prefix}.norm`.
    pub fn load(
        loader: &mut WeightLoader<'_>,
        prefix: &str,
        n: usize,
        config: &DetrLayerConfig,
    ) -> Res<Self> {
        let layers = (0..n)
            .map(|i| DecoderLayer::load(loader, &format!("{prefix}.layers.{i}"), config))
            .collect::<Res<_>>()?;
        Ok(Self {
            layers,
            norm: loader.layer_norm(
                &format!("{prefix}.norm"),
                config.d_model,
                DETR_LAYER_NORM_EPS,
            )?,
        })
    }

    /// Run every layer from a zero target.
    ///
    /// - `query_pos`: `[batch, queries, d]`
    /// - `memory`, `pos`: `[batch, tokens, d]`
    /// - returns each layer's normed output, `layers × [batch, queries, d]`
    pub fn forward(
        &self,
        query_pos: Tensor<3>,
        memory: Tensor<3>,
        pos: Tensor<3>,
        memory_masks: &AttentionMasks,
    ) -> Vec<Tensor<3>> {
        let memory_with_pos = memory.clone() + pos;
        let mut tgt = Tensor::zeros(query_pos.dims(), &query_pos.device());
        let mut outputs = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            tgt = layer.forward(
                tgt,
                query_pos.clone(),
                memory.clone(),
                memory_with_pos.clone(),
                memory_masks,
            );
            outputs.push(self.norm.forward(tgt.clone()));
        }
        outputs
    }
}
