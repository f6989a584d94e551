//! The interaction decoder with knowledge integration (HOICLIP `models/models_hoiclip/gen.py`:
//! `GEN.forward` after the instance decoder, `TransformerDecoderCLIP`,
//! `TransformerDecoderFusionLayer.forward_post`).
//!
//! - queries: `queries2spacial_proj_norm(queries2spacial_proj((h + o) / 2))` from the last
//!   instance-decoder layer only, `[batch, pairs, clip_dim]`;
//! - second memory: `obj_class_ln(obj_class_fc(memory))`, the detection encoder output
//!   projected to CLIP width (no padding mask is applied to it, as in the reference);
//! - each fusion layer, without positional embeddings or masks:
//!   `t = norm1(t + self_attn(t, t, t))`,
//!   `a = norm2(t + multihead_attn(t, clip_tokens, clip_tokens))`,
//!   `b = norm2(t + multihead_attn(t, memory_proj, memory_proj))` — the same attention module
//!   and the same `norm2` for both memories —, `t = a + b`,
//!   `t = norm3(t + linear2(relu(linear1(t))))`; `norm4` exists in checkpoints but is unused;
//! - the decoder's final norm is applied to every layer's output.
//!
//! The caller multiplies the result by CLIP's `visual.proj`.

use crate::nn::Linear;
use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::detection::transformer::{DecoderLayer, DetrLayerConfig};
use crate::error::HoiclipError;
use crate::nn::{AttentionMasks, dropout};
use crate::weights::WeightLoader;

type Res<T> = std::result::Result<T, HoiclipError>;

/// LayerNorm epsilon (PyTorch's default).
const EPS: f64 = 1e-5;

/// Shape of the interaction decoder.
#[derive(Config, Debug, PartialEq, Eq)]
pub struct InteractionDecoderConfig {
    /// Detection transformer width (`hidden_dim`, 256).
    #[config(default = 256)]
    pub d_model: usize,
    /// CLIP visual width (`clip_dim`, 768 for ViT-B).
    #[config(default = 768)]
    pub clip_dim: usize,
    /// Attention heads (`nheads`, 8).
    #[config(default = 8)]
    pub n_heads: usize,
    /// FFN width (`dim_feedforward`, 2048).
    #[config(default = 2048)]
    pub dim_feedforward: usize,
    /// Fusion layers (`dec_layers`, 3).
    #[config(default = 3)]
    pub layers: usize,
}

fn norm(d: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(d).with_epsilon(EPS).init(device)
}

impl InteractionDecoderConfig {
    /// The fusion layers' shape, as DETR decoder layers at CLIP width.
    fn layer_config(&self) -> DetrLayerConfig {
        DetrLayerConfig::new(self.clip_dim, self.n_heads, self.dim_feedforward)
    }

    /// A randomly initialised (lazily) decoder.
    pub fn init(&self, device: &Device) -> InteractionDecoder {
        let c = self.clip_dim;
        InteractionDecoder {
            queries2spacial_proj: Linear::init(self.d_model, c, true, device),
            queries2spacial_proj_norm: norm(c, device),
            obj_class_fc: Linear::init(self.d_model, c, true, device),
            obj_class_ln: norm(c, device),
            layers: (0..self.layers)
                .map(|_| FusionLayer {
                    layer: self.layer_config().init_decoder_layer(device),
                })
                .collect(),
            norm: norm(c, device),
        }
    }
}

/// One knowledge-integration (fusion) layer. Its parameters, and their checkpoint names
/// (`self_attn`, `multihead_attn`, `linear1/2`, `norm1/2/3`), are a DETR decoder layer's;
/// only the forward pass differs (`multihead_attn` and `norm2` serve both memories).
#[derive(Module, Debug)]
pub struct FusionLayer {
    /// The parameters.
    pub layer: DecoderLayer,
}

impl FusionLayer {
    /// Load `{prefix}.self_attn`, `.multihead_attn`, `.linear1/2`, `.norm1/2/3`; `.norm4`
    /// is marked as known-unused.
    pub fn load(
        loader: &mut WeightLoader<'_>,
        prefix: &str,
        config: &InteractionDecoderConfig,
    ) -> Res<Self> {
        let layer = DecoderLayer::load(loader, prefix, &config.layer_config())?;
        loader.mark_used(&format!("{prefix}.norm4.weight"));
        loader.mark_used(&format!("{prefix}.norm4.bias"));
        Ok(Self { layer })
    }

    /// - `tgt`: `[batch, pairs, clip_dim]`
    /// - `clip_tokens`: `[batch, 1 + grid², clip_dim]`
    /// - `memory_proj`: `[batch, tokens, clip_dim]`
    /// - returns `[batch, pairs, clip_dim]`
    pub fn forward(
        &self,
        tgt: Tensor<3>,
        clip_tokens: Tensor<3>,
        memory_proj: Tensor<3>,
    ) -> Tensor<3> {
        let l = &self.layer;
        // Training dropout where the reference has it: `dropout1` after self-attention, the
        // one `dropout2` on each branch (two independent draws), `dropout` inside the FFN,
        // `dropout3` after it.
        let p = l.dropout;
        let none = AttentionMasks::default();
        let attended = l.self_attn.forward_self(tgt.clone(), &none);
        let tgt = l.norm1.forward(tgt + dropout(attended, p));
        let from_clip =
            l.multihead_attn
                .forward(tgt.clone(), clip_tokens.clone(), clip_tokens, &none);
        let from_clip = l.norm2.forward(tgt.clone() + dropout(from_clip, p));
        let from_detection =
            l.multihead_attn
                .forward(tgt.clone(), memory_proj.clone(), memory_proj, &none);
        let from_detection = l.norm2.forward(tgt + dropout(from_detection, p));
        let tgt = from_clip + from_detection;
        let hidden = dropout(relu(l.linear1.forward(tgt.clone())), p);
        let ffn = l.linear2.forward(hidden);
        l.norm3.forward(tgt + dropout(ffn, p))
    }
}

/// What [`InteractionDecoder::forward`] returns.
#[derive(Clone, Debug)]
pub struct InteractionOutput {
    /// The pair queries at CLIP width, `[batch, pairs, clip_dim]`.
    pub queries: Tensor<3>,
    /// The detection memory projected to CLIP width, `[batch, tokens, clip_dim]`.
    pub memory_proj: Tensor<3>,
    /// Every fusion layer's output after the final norm, `layers × [batch, pairs, clip_dim]`
    /// (not yet multiplied by `visual.proj`).
    pub layer_outputs: Vec<Tensor<3>>,
}

/// The interaction decoder with knowledge integration.
#[derive(Module, Debug)]
pub struct InteractionDecoder {
    /// `transformer.queries2spacial_proj`: `d_model → clip_dim`.
    pub queries2spacial_proj: Linear,
    /// `transformer.queries2spacial_proj_norm`.
    pub queries2spacial_proj_norm: LayerNorm,
    /// `transformer.obj_class_fc`: the detection memory's projection to CLIP width.
    pub obj_class_fc: Linear,
    /// `transformer.obj_class_ln`.
    pub obj_class_ln: LayerNorm,
    /// `transformer.clip_interaction_decoder.layers.N`.
    pub layers: Vec<FusionLayer>,
    /// `transformer.clip_interaction_decoder.norm`.
    pub norm: LayerNorm,
}

impl InteractionDecoder {
    /// Load from the authors' names under `prefix` (normally `transformer`).
    pub fn load(
        loader: &mut WeightLoader<'_>,
        prefix: &str,
        config: &InteractionDecoderConfig,
    ) -> Res<Self> {
        let (d, c) = (config.d_model, config.clip_dim);
        Ok(Self {
            queries2spacial_proj: loader.linear(
                &format!("{prefix}.queries2spacial_proj"),
                d,
                c,
                true,
            )?,
            queries2spacial_proj_norm: loader.layer_norm(
                &format!("{prefix}.queries2spacial_proj_norm"),
                c,
                EPS,
            )?,
            obj_class_fc: loader.linear(&format!("{prefix}.obj_class_fc"), d, c, true)?,
            obj_class_ln: loader.layer_norm(&format!("{prefix}.obj_class_ln"), c, EPS)?,
            layers: (0..config.layers)
                .map(|i| {
                    FusionLayer::load(
                        loader,
                        &format!("{prefix}.clip_interaction_decoder.layers.{i}"),
                        config,
                    )
                })
                .collect::<Res<_>>()?,
            norm: loader.layer_norm(&format!("{prefix}.clip_interaction_decoder.norm"), c, EPS)?,
        })
    }

    /// - `human`, `object`: the last instance-decoder layer's states, `[batch, pairs, d_model]`
    /// - `memory`: the detection encoder output, `[batch, tokens, d_model]`
    /// - `clip_tokens`: CLIP's token map (`ln_post` on every token), `[batch, 1 + grid², clip_dim]`
    pub fn forward(
        &self,
        human: Tensor<3>,
        object: Tensor<3>,
        memory: Tensor<3>,
        clip_tokens: Tensor<3>,
    ) -> InteractionOutput {
        let memory_proj = self.obj_class_ln.forward(self.obj_class_fc.forward(memory));
        let pairs = (human + object) / 2.0;
        let queries = self
            .queries2spacial_proj_norm
            .forward(self.queries2spacial_proj.forward(pairs));
        let mut tgt = queries.clone();
        let mut layer_outputs = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            tgt = layer.forward(tgt, clip_tokens.clone(), memory_proj.clone());
            layer_outputs.push(self.norm.forward(tgt.clone()));
        }
        InteractionOutput {
            queries,
            memory_proj,
            layer_outputs,
        }
    }
}
