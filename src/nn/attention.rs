//! Multi-head attention, weight- and semantics-compatible with `torch.nn.MultiheadAttention`.
//!
//! PyTorch stores the three input projections packed as `in_proj_weight` `[3 d, d]` and
//! `in_proj_bias` `[3 d]` (query rows first, then key, then value), and the output projection
//! as `out_proj.{weight,bias}`. This module holds the three projections separately (so that
//! query, key and value may come from different inputs, as in DETR where `q = k = x + pos`
//! and `v = x`) and runs Burn's fused `attention` kernel. Tensors are batch-first,
//! `[batch, tokens, dim]`; transpose sequence-first PyTorch code at the call site.
//!
//! Masks follow PyTorch: `key_padding` is `true` where a key must be ignored (padding);
//! `additive` is added to the attention logits (`-inf` hides a key); `causal` hides every key
//! after the query's position. A query whose every key is hidden gets a zero output (PyTorch
//! would produce NaN); no HOICLIP input produces such a row.

use crate::nn::Linear;
use burn::config::Config;
use burn::module::Module;

use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// Configuration of a [`TorchMultiheadAttention`].
#[derive(Config, Debug)]
pub struct TorchMultiheadAttentionConfig {
    /// Model width `d` (PyTorch's `embed_dim`).
    pub d_model: usize,
    /// Number of heads; must divide `d_model`.
    pub n_heads: usize,
}

impl TorchMultiheadAttentionConfig {
    /// A randomly initialised module (weights are initialised lazily, so building a model
    /// skeleton to load weights into is cheap).
    pub fn init(&self, device: &Device) -> TorchMultiheadAttention {
        let linear = || Linear::init(self.d_model, self.d_model, true, device);
        TorchMultiheadAttention {
            query: linear(),
            key: linear(),
            value: linear(),
            out_proj: linear(),
            n_heads: self.n_heads,
            dropout: 0.0,
        }
    }
}

/// Masks for [`TorchMultiheadAttention::forward`]; all optional.
#[derive(Clone, Debug, Default)]
pub struct AttentionMasks {
    /// `[batch, keys]`, `true` where a key is padding and must be ignored
    /// (`key_padding_mask` in PyTorch).
    pub key_padding: Option<Tensor<2, Bool>>,
    /// `[queries, keys]`, added to the attention logits (`attn_mask` as a float tensor).
    pub additive: Option<Tensor<2>>,
    /// Hide every key after the query's own position (CLIP's text encoder).
    pub causal: bool,
}

/// `torch.nn.MultiheadAttention` (no dropout, inference only), batch-first.
#[derive(Module, Debug)]
pub struct TorchMultiheadAttention {
    /// Query projection (rows `0..d` of `in_proj_weight`), stored `[d_in, d_out]`.
    pub query: Linear,
    /// Key projection (rows `d..2d`).
    pub key: Linear,
    /// Value projection (rows `2d..3d`).
    pub value: Linear,
    /// Output projection (`out_proj`).
    pub out_proj: Linear,
    /// Number of heads.
    pub n_heads: usize,
    /// Dropout on the attention weights while training (`nn.MultiheadAttention`'s
    /// `dropout`); 0 after loading, set by training. See [`crate::nn::dropout()`].
    pub dropout: f64,
}

impl TorchMultiheadAttention {
    /// Attention of `query` over `key`/`value`.
    ///
    /// - `query`: `[batch, queries, d]`
    /// - `key`, `value`: `[batch, keys, d]`
    /// - returns `[batch, queries, d]`
    pub fn forward(
        &self,
        query: Tensor<3>,
        key: Tensor<3>,
        value: Tensor<3>,
        masks: &AttentionMasks,
    ) -> Tensor<3> {
        let q = self.query.forward(query);
        let k = self.key.forward(key);
        let v = self.value.forward(value);
        self.attend(q, k, v, masks)
    }

    /// Self-attention of `x` (`[batch, tokens, d]`) with itself as query, key and value.
    pub fn forward_self(&self, x: Tensor<3>, masks: &AttentionMasks) -> Tensor<3> {
        self.forward(x.clone(), x.clone(), x, masks)
    }

    fn attend(
        &self,
        q: Tensor<3>,
        k: Tensor<3>,
        v: Tensor<3>,
        masks: &AttentionMasks,
    ) -> Tensor<3> {
        let (q, k, v) = if crate::nn::cpu::use_kernels(&q.device()) {
            match self.attend_on_host(q, k, v, masks) {
                Ok(context) => return self.out_proj.forward(context),
                Err(operands) => *operands,
            }
        } else {
            (q, k, v)
        };
        let [batch, n_q, d] = q.dims();
        let n_k = k.dims()[1];
        let heads = self.n_heads;
        let head_dim = d / heads;
        let split = |x: Tensor<3>, n: usize| x.reshape([batch, n, heads, head_dim]).swap_dims(1, 2);
        let (q, k, v) = (split(q, n_q), split(k, n_k), split(v, n_k));

        let mask = masks.key_padding.as_ref().map(|padding| {
            padding
                .clone()
                .reshape([batch, 1, 1, n_k])
                .expand([batch, heads, n_q, n_k])
        });
        let bias = masks.additive.as_ref().map(|additive| {
            additive
                .clone()
                .reshape([1, 1, n_q, n_k])
                .expand([batch, heads, n_q, n_k])
        });
        let context = if self.dropout > 0.0 && q.device().is_autodiff() {
            attention_with_dropout(q, k, v, mask, bias, masks.causal, self.dropout)
        } else {
            let options = AttentionModuleOptions {
                scale: None,
                softcap: None,
                is_causal: masks.causal,
            };
            attention(q, k, v, mask, bias, options)
        };
        let context = context.swap_dims(1, 2).reshape([batch, n_q, d]);
        self.out_proj.forward(context)
    }

    /// The attention core (before `out_proj`) with the CPU kernel
    /// ([`crate::nn::cpu::multi_head_attention`]), reading the projected `q`, `k`, `v`
    /// (`[batch, tokens, d]`) in place and the masks to the host. The operands come back
    /// (then the Burn path runs) when the shapes do not fit together or a tensor is not
    /// float32.
    fn attend_on_host(
        &self,
        q: Tensor<3>,
        k: Tensor<3>,
        v: Tensor<3>,
        masks: &AttentionMasks,
    ) -> std::result::Result<Tensor<3>, Box<(Tensor<3>, Tensor<3>, Tensor<3>)>> {
        use crate::nn::cpu::{AttentionMask, AttentionShape, host_values, multi_head_attention};
        let [batch, queries, width] = q.dims();
        let keys = k.dims()[1];
        if k.dims() != [batch, keys, width] || v.dims() != [batch, keys, width] {
            return Err(Box::new((q, k, v)));
        }
        let key_padding: Option<Vec<bool>> = match &masks.key_padding {
            Some(padding) if padding.dims() == [batch, keys] => {
                Some(padding.clone().into_data().iter::<bool>().collect())
            }
            Some(_) => return Err(Box::new((q, k, v))),
            None => None,
        };
        let additive = match &masks.additive {
            Some(additive) if additive.dims() == [queries, keys] => {
                match host_values(additive.clone()) {
                    Ok(values) => Some(values),
                    Err(_) => return Err(Box::new((q, k, v))),
                }
            }
            Some(_) => return Err(Box::new((q, k, v))),
            None => None,
        };
        let shape = AttentionShape {
            batch,
            queries,
            keys,
            width,
            heads: self.n_heads,
        };
        let mask = AttentionMask {
            key_padding: key_padding.as_deref(),
            additive: additive.as_deref(),
            causal: masks.causal,
        };
        let device = q.device();
        let (q, k, v) = (q.into_data(), k.into_data(), v.into_data());
        let context = match (q.as_slice(), k.as_slice(), v.as_slice()) {
            (Ok(q), Ok(k), Ok(v)) => multi_head_attention(q, k, v, shape, mask).ok(),
            _ => None,
        };
        match context {
            Some(context) => Ok(Tensor::from_data(
                TensorData::new(context, [batch, queries, width]),
                &device,
            )),
            None => Err(Box::new((
                Tensor::from_data(q, &device),
                Tensor::from_data(k, &device),
                Tensor::from_data(v, &device),
            ))),
        }
    }
}

/// Scaled dot-product attention written out, so that dropout can act on the attention
/// weights as torch's `nn.MultiheadAttention` does in training (the fused kernel has no
/// dropout): `softmax(q kᵀ / √d + bias, masked) → dropout → · v`.
///
/// - `q`: `[batch, heads, queries, head_dim]`, `k`, `v`: `[batch, heads, keys, head_dim]`
/// - `mask`: `[batch, heads, queries, keys]`, true where a key is hidden
/// - `bias`: `[batch, heads, queries, keys]`, added to the scores
/// - returns `[batch, heads, queries, head_dim]`
pub(crate) fn attention_with_dropout(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Option<Tensor<4, Bool>>,
    bias: Option<Tensor<4>>,
    causal: bool,
    prob: f64,
) -> Tensor<4> {
    let [batch, heads, n_q, head_dim] = q.dims();
    let n_k = k.dims()[2];
    let mut scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / (head_dim as f64).sqrt());
    if let Some(bias) = bias {
        scores = scores + bias;
    }
    if let Some(mask) = mask {
        scores = scores.mask_fill(mask, f32::NEG_INFINITY);
    }
    if causal {
        let device = scores.device();
        let future = Tensor::<2, Bool>::tril_mask([n_q, n_k], 0, &device)
            .reshape([1, 1, n_q, n_k])
            .expand([batch, heads, n_q, n_k]);
        scores = scores.mask_fill(future, f32::NEG_INFINITY);
    }
    let weights = burn::tensor::activation::softmax(scores, 3);
    crate::nn::dropout(weights, prob).matmul(v)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn the_explicit_attention_equals_the_fused_one_without_dropout() {
        let device = Device::flex();
        let rand =
            |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        // Causal masking is used with as many keys as queries (CLIP's text encoder).
        for (causal, n_k) in [(false, 7), (true, 5)] {
            let (b, h, n_q, e) = (2, 3, 5, 4);
            let (q, k, v) = (
                rand([b, h, n_q, e]),
                rand([b, h, n_k, e]),
                rand([b, h, n_k, e]),
            );
            let bias = rand([b, h, n_q, n_k]);
            // The last key of image 1 is padding.
            let mut hidden = vec![false; b * n_k];
            hidden[2 * n_k - 1] = true;
            let mask = Tensor::<2, Bool>::from_data(TensorData::new(hidden, [b, n_k]), &device)
                .reshape([b, 1, 1, n_k])
                .expand([b, h, n_q, n_k]);
            let fused = attention(
                q.clone(),
                k.clone(),
                v.clone(),
                Some(mask.clone()),
                Some(bias.clone()),
                AttentionModuleOptions {
                    scale: None,
                    softcap: None,
                    is_causal: causal,
                },
            );
            let explicit = attention_with_dropout(
                q.clone(),
                k.clone(),
                v.clone(),
                Some(mask.clone()),
                Some(bias.clone()),
                causal,
                0.0,
            );
            let diff = (fused - explicit).abs().max().into_scalar::<f32>();
            assert!(diff < 1e-5, "causal {causal}: {diff}");
        }
    }
}
