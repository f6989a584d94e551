//! CLIP's text transformer.

use crate::nn::Linear;
use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::block::{CLIP_LAYER_NORM_EPS, ClipTransformer, ClipTransformerConfig};
use super::config::TextConfig;
use crate::error::{HoiclipError, Result};
use crate::nn::AttentionMasks;
use crate::weights::WeightLoader;

/// Rows per bucket when encoding many prompts (see [`TextTransformer::forward_ids`]).
const TEXT_BUCKET_ROWS: usize = 64;

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
            text_projection: Linear::init(w, self.output_dim, false, device),
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
    /// Rows are sorted by length and encoded in buckets of up to 64, each cut after its
    /// longest row's end token: the attention is causal, so the padding after a row's end
    /// token cannot change its pooled token. The result is in the order of `tokens`.
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
        }
        // Rows sorted by length and encoded in buckets of similar length, each cut after its
        // longest row's end token: with hundreds of prompts of mixed length this runs far
        // fewer padding tokens than one batch cut at the overall longest prompt.
        let mut order: Vec<usize> = (0..batch).collect();
        order.sort_by_key(|&i| pool_at[i]);
        let mut outputs = Vec::new();
        for bucket in order.chunks(TEXT_BUCKET_ROWS) {
            let length = bucket.iter().map(|&i| pool_at[i] + 1).max().unwrap_or(1);
            let mut ids = Vec::with_capacity(bucket.len() * length);
            for &i in bucket {
                ids.extend((0..length).map(|j| tokens[i].get(j).copied().unwrap_or(0) as i64));
            }
            let ids =
                Tensor::<2, Int>::from_data(TensorData::new(ids, [bucket.len(), length]), &device);
            let at: Vec<i64> = bucket.iter().map(|&i| pool_at[i] as i64).collect();
            let at = Tensor::<1, Int>::from_data(TensorData::new(at, [bucket.len()]), &device);
            outputs.push(self.forward_tensor(ids, at));
        }
        let sorted = Tensor::cat(outputs, 0);
        if order.iter().enumerate().all(|(i, &o)| i == o) {
            return Ok(sorted);
        }
        // Back to the caller's order: row `i` of the result is sorted row `rank[i]`.
        let mut rank = vec![0i64; batch];
        for (position, &i) in order.iter().enumerate() {
            rank[i] = position as i64;
        }
        let rank = Tensor::<1, Int>::from_data(TensorData::new(rank, [batch]), &device);
        Ok(sorted.select(0, rank))
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
