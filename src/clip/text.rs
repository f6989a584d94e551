//! CLIP's text transformer.

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::block::{CLIP_LAYER_NORM_EPS, ClipTransformer, ClipTransformerConfig};
use super::config::TextConfig;
use crate::error::{HoiclipError, Result};
use crate::nn::AttentionMasks;
use crate::weights::WeightLoader;

/// OpenAI's text encoder: token + positional embedding, causal blocks, `ln_final`, pooling
/// at the end-of-text token (the largest id of each row, as OpenAI's `argmax`), projection.
#[derive(Module, Debug)]
pub struct TextTransformer {
    /// `token_embedding`, `[vocab, width]`.
    pub token_embedding: Embedding,
    /// `positional_embedding`, `[context_length, width]`.
    pub positional_embedding: Param<Tensor<2>>,
    /// The causal blocks.
    pub transformer: ClipTransformer,
    /// Final norm.
    pub ln_final: LayerNorm,
    /// `text_projection` `[width, output_dim]`, applied as `x @ text_projection`.
    pub text_projection: Linear,
    /// Maximum tokens per prompt.
    pub context_length: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
}

impl TextConfig {
    /// A randomly initialised (lazily) text transformer.
    pub fn init(&self, device: &Device) -> TextTransformer {
        let w = self.width;
        TextTransformer {
            token_embedding: EmbeddingConfig::new(self.vocab_size, w).init(device),
            positional_embedding: Param::from_tensor(Tensor::zeros(
                [self.context_length, w],
                device,
            )),
            transformer: ClipTransformerConfig::new(w, self.layers, self.heads).init(device),
            ln_final: LayerNormConfig::new(w)
                .with_epsilon(CLIP_LAYER_NORM_EPS)
                .init(device),
            text_projection: LinearConfig::new(w, self.output_dim)
                .with_bias(false)
                .init(device),
            context_length: self.context_length,
            vocab_size: self.vocab_size,
        }
    }
}

impl TextTransformer {
    /// Load from OpenAI names at the top level of the loader's map.
    pub fn load(loader: &mut WeightLoader<'_>, config: &TextConfig) -> Result<Self> {
        let w = config.width;
        Ok(Self {
            token_embedding: Embedding {
                weight: loader.param("token_embedding.weight", [config.vocab_size, w])?,
            },
            positional_embedding: loader
                .param("positional_embedding", [config.context_length, w])?,
            transformer: ClipTransformer::load(
                loader,
                "transformer",
                &ClipTransformerConfig::new(w, config.layers, config.heads),
            )?,
            ln_final: loader.layer_norm("ln_final", w, CLIP_LAYER_NORM_EPS)?,
            text_projection: loader.matrix_as_linear("text_projection", w, config.output_dim)?,
            context_length: config.context_length,
            vocab_size: config.vocab_size,
        })
    }

    /// Encode token rows (each as [`crate::clip::tokenizer::ClipTokenizer::tokenize`] makes
    /// them: start token, ids, end token, zero padding).
    ///
    /// - `tokens`: `batch` rows of at most `context_length` ids
    /// - returns `[batch, output_dim]` (not L2-normalised)
    ///
    /// Rows are cut after the longest prompt's end token before running the blocks: the
    /// attention is causal, so the padding after it cannot change the pooled token.
    pub fn forward_ids(&self, tokens: &[Vec<u32>]) -> Result<Tensor<2>> {
        let device = self.positional_embedding.val().device();
        let batch = tokens.len();
        if batch == 0 {
            return Err(HoiclipError::InputShape {
                name: "tokens".into(),
                expected: "at least one row".into(),
                found: vec![0],
            });
        }
        let mut pool_at = Vec::with_capacity(batch);
        let mut length = 0;
        for (row_index, row) in tokens.iter().enumerate() {
            if row.is_empty() || row.len() > self.context_length {
                return Err(HoiclipError::InputShape {
                    name: format!("tokens[{row_index}]"),
                    expected: format!("1..={} ids", self.context_length),
                    found: vec![row.len()],
                });
            }
            if let Some(bad) = row.iter().find(|&&id| id as usize >= self.vocab_size) {
                return Err(HoiclipError::InputShape {
                    name: format!("tokens[{row_index}]"),
                    expected: format!("ids below the vocabulary size {}", self.vocab_size),
                    found: vec![*bad as usize],
                });
            }
            // First position of the maximum id, as torch.argmax.
            let mut best = 0;
            for (i, &id) in row.iter().enumerate() {
                if id > row[best] {
                    best = i;
                }
            }
            pool_at.push(best);
            length = length.max(best + 1);
        }
        let mut ids = Vec::with_capacity(batch * length);
        for row in tokens {
            for i in 0..length {
                ids.push(row.get(i).copied().unwrap_or(0) as i64);
            }
        }
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, length]), &device);
        let pool_at = Tensor::<1, Int>::from_data(
            TensorData::new(
                pool_at.iter().map(|&p| p as i64).collect::<Vec<_>>(),
                [batch],
            ),
            &device,
        );
        Ok(self.forward_tensor(ids, pool_at))
    }

    /// Encode an id tensor `[batch, length]` (`length <= context_length`), pooling each row at
    /// `pool_at` `[batch]` (the end-token position).
    pub fn forward_tensor(&self, ids: Tensor<2, Int>, pool_at: Tensor<1, Int>) -> Tensor<2> {
        let [batch, length] = ids.dims();
        let width = self.positional_embedding.dims()[1];
        // [batch, length, width]
        let x = self.token_embedding.forward(ids)
            + self
                .positional_embedding
                .val()
                .narrow(0, 0, length)
                .unsqueeze::<3>();
        let masks = AttentionMasks {
            causal: true,
            ..AttentionMasks::default()
        };
        let x = self.transformer.forward(x, &masks);
        // [batch, 1, width]: the end-token position of each row
        let index = pool_at.reshape([batch, 1, 1]).expand([batch, 1, width]);
        let pooled = x.gather(1, index).reshape([batch, width]);
        self.text_projection.forward(self.ln_final.forward(pooled))
    }
}
