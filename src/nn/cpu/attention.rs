//! [`multi_head_attention`]: scaled dot-product attention over host matrices, heads read
//! and written in place (`[batch, tokens, heads · head_dim]`, no split or merge copies),
//! with `torch.nn.MultiheadAttention`'s masks.
//!
//! Per (image, block of query rows), on rayon's pool: for each head, the scores `[rows,
//! n_k] = q_h · k_hᵀ · head_dim^(-1/2)` (+ the additive mask) as one matrix product, the
//! hidden keys left out, a row softmax, and `scores · v_h` written straight into the head's
//! columns of the output.

use std::cell::RefCell;

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::math::{max_value, softmax_from_max};
use crate::error::{HoiclipError, Result};

/// Query rows per task (bounds the score buffer: rows × keys floats per thread).
const QUERY_BLOCK: usize = 64;

// Per-thread score buffer, kept between calls.
thread_local! {
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Sizes of one attention call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    /// Images in the batch.
    pub batch: usize,
    /// Query tokens per image.
    pub queries: usize,
    /// Key (and value) tokens per image.
    pub keys: usize,
    /// Model width (`heads · head_dim`) of queries, keys, values and output.
    pub width: usize,
    /// Attention heads.
    pub heads: usize,
}

/// Which keys each query may see (PyTorch's `key_padding_mask`, `attn_mask` as floats, and
/// `is_causal`).
#[derive(Clone, Copy, Debug, Default)]
pub struct AttentionMask<'a> {
    /// `[batch, keys]`, `true` where a key is padding (hidden from every query).
    pub key_padding: Option<&'a [bool]>,
    /// `[queries, keys]`, added to the scaled scores (`-inf` hides a key).
    pub additive: Option<&'a [f32]>,
    /// Hide every key after the query's own position.
    pub causal: bool,
}

/// `softmax(q kᵀ / √head_dim + mask) v` per head: `q` `[batch, queries, width]`, `k` and `v`
/// `[batch, keys, width]` → `[batch, queries, width]`, heads side by side in the width as
/// PyTorch lays them out (before `out_proj`). A query that sees no key gets zeros.
///
/// Errors with [`HoiclipError::InputShape`] when a length disagrees with `shape` or the
/// heads do not divide the width.
pub fn multi_head_attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttentionShape,
    mask: AttentionMask<'_>,
) -> Result<Vec<f32>> {
    let AttentionShape {
        batch,
        queries,
        keys,
        width,
        heads,
    } = shape;
    let check = |name: &str, found: usize, expected: usize| {
        if found == expected {
            Ok(())
        } else {
            Err(HoiclipError::InputShape {
                name: format!("attention {name}"),
                expected: format!("{expected} values for {shape:?}"),
                found: vec![found],
            })
        }
    };
    if heads == 0 || !width.is_multiple_of(heads) {
        return Err(HoiclipError::InputShape {
            name: "attention heads".into(),
            expected: format!("a divisor of the width {width}"),
            found: vec![heads],
        });
    }
    check("queries", q.len(), batch * queries * width)?;
    check("keys", k.len(), batch * keys * width)?;
    check("values", v.len(), batch * keys * width)?;
    if let Some(padding) = mask.key_padding {
        check("key padding mask", padding.len(), batch * keys)?;
    }
    if let Some(additive) = mask.additive {
        check("additive mask", additive.len(), queries * keys)?;
    }
    let mut out = vec![0.0f32; batch * queries * width];
    if out.is_empty() || keys == 0 {
        return Ok(out);
    }
    let blocks_per_image = queries.div_ceil(QUERY_BLOCK);
    // Blocks are cut per image so that a block's rows share one image's keys.
    let tasks: Vec<(usize, usize)> = (0..batch)
        .flat_map(|b| (0..blocks_per_image).map(move |block| (b, block)))
        .collect();
    let chunks = split_rows(&mut out, batch, queries, width);
    tasks
        .into_par_iter()
        .zip(chunks)
        .for_each(|((b, block), out_rows)| {
            let first = block * QUERY_BLOCK;
            let rows = out_rows.len() / width;
            SCORES.with(|cell| {
                let mut owned = Vec::new();
                let mut borrowed = cell.try_borrow_mut();
                let scores: &mut Vec<f32> = match borrowed.as_mut() {
                    Ok(buffer) => buffer,
                    Err(_) => &mut owned,
                };
                if scores.len() < rows * keys {
                    scores.resize(rows * keys, 0.0);
                }
                let image = Image {
                    q: &q[(b * queries + first) * width..(b * queries + first + rows) * width],
                    k: &k[b * keys * width..(b + 1) * keys * width],
                    v: &v[b * keys * width..(b + 1) * keys * width],
                    // An image without padded keys needs no padding pass.
                    key_padding: mask
                        .key_padding
                        .map(|p| &p[b * keys..(b + 1) * keys])
                        .filter(|p| p.contains(&true)),
                    additive: mask.additive,
                    causal: mask.causal,
                };
                image.attend(
                    first,
                    rows,
                    keys,
                    width,
                    heads,
                    &mut scores[..rows * keys],
                    out_rows,
                );
            });
        });
    Ok(out)
}

/// `out` (`[batch, queries, width]`) cut into the per-image query blocks, in task order.
fn split_rows(out: &mut [f32], batch: usize, queries: usize, width: usize) -> Vec<&mut [f32]> {
    let mut chunks = Vec::new();
    let mut rest = out;
    for _ in 0..batch {
        let (image, tail) = rest.split_at_mut(queries * width);
        chunks.extend(image.chunks_mut(QUERY_BLOCK * width));
        rest = tail;
    }
    chunks
}

/// One image's operands for a block of query rows.
struct Image<'a> {
    /// The block's query rows, `[rows, width]`.
    q: &'a [f32],
    /// `[keys, width]`.
    k: &'a [f32],
    /// `[keys, width]`.
    v: &'a [f32],
    key_padding: Option<&'a [bool]>,
    additive: Option<&'a [f32]>,
    causal: bool,
}

impl Image<'_> {
    /// Attend query rows `first..first + rows` (positions in the image) for every head into
    /// `out` (`[rows, width]`), `scores` (`[rows, keys]`) as scratch.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        first: usize,
        rows: usize,
        keys: usize,
        width: usize,
        heads: usize,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let head_dim = width / heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        for h in 0..heads {
            let column = h * head_dim;
            // SAFETY: `scores` is `[rows, keys]` (row stride `keys`); the query block is
            // `[rows, width]` and the head's columns `column..column + head_dim` lie inside
            // it; `k` is `[keys, width]`, read transposed (row stride 1, column stride
            // `width`). Nothing overlaps `scores`; with `read_dst = false` only it is written.
            unsafe {
                gemm(
                    rows,
                    keys,
                    head_dim,
                    scores.as_mut_ptr(),
                    1,
                    keys as isize,
                    false,
                    self.q.as_ptr().add(column),
                    1,
                    width as isize,
                    self.k.as_ptr().add(column),
                    width as isize,
                    1,
                    0.0,
                    scale,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
            for (r, row) in scores.chunks_exact_mut(keys).enumerate() {
                self.softmax_row(first + r, row);
            }
            // SAFETY: `out` is `[rows, width]` and the head writes its `head_dim` columns
            // from `column` (row stride `width`); `scores` is `[rows, keys]`; `v` is `[keys,
            // width]` read at the head's columns. `out` overlaps neither input.
            unsafe {
                gemm(
                    rows,
                    head_dim,
                    keys,
                    out.as_mut_ptr().add(column),
                    1,
                    width as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    keys as isize,
                    self.v.as_ptr().add(column),
                    1,
                    width as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
    }

    /// Mask and softmax one row of scaled scores (query position `query`) in place; hidden
    /// keys get 0, a row with no visible key becomes all zeros.
    fn softmax_row(&self, query: usize, row: &mut [f32]) {
        if let Some(additive) = self.additive {
            let mask = &additive[query * row.len()..(query + 1) * row.len()];
            for (s, m) in row.iter_mut().zip(mask) {
                *s += m;
            }
        }
        if let Some(padding) = self.key_padding {
            for (s, &hidden) in row.iter_mut().zip(padding) {
                // A select, not a branch: vectorises.
                *s = if hidden { f32::NEG_INFINITY } else { *s };
            }
        }
        if self.causal {
            for s in row.iter_mut().skip(query + 1) {
                *s = f32::NEG_INFINITY;
            }
        }
        let max = max_value(row);
        if max == f32::NEG_INFINITY || max.is_nan() {
            // No visible key (or NaN scores): zeros, as the Burn path gives.
            let fill = if max.is_nan() { f32::NAN } else { 0.0 };
            row.fill(fill);
            return;
        }
        softmax_from_max(row, max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [-2, 2): the shared test values doubled (exact).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        crate::nn::cpu::test_values::values(n, seed)
            .into_iter()
            .map(|v| 2.0 * v)
            .collect()
    }

    /// Straightforward f64 attention, the reference.
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        s: AttentionShape,
        mask: AttentionMask<'_>,
    ) -> Vec<f32> {
        let dh = s.width / s.heads;
        let mut out = vec![0.0f32; s.batch * s.queries * s.width];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..s.queries {
                    let mut logits = vec![f64::NEG_INFINITY; s.keys];
                    for j in 0..s.keys {
                        let hidden = mask.key_padding.is_some_and(|p| p[b * s.keys + j])
                            || (mask.causal && j > i);
                        if hidden {
                            continue;
                        }
                        let dot: f64 = (0..dh)
                            .map(|c| {
                                q[(b * s.queries + i) * s.width + h * dh + c] as f64
                                    * k[(b * s.keys + j) * s.width + h * dh + c] as f64
                            })
                            .sum();
                        let add = mask.additive.map_or(0.0, |a| a[i * s.keys + j] as f64);
                        logits[j] = dot / (dh as f64).sqrt() + add;
                    }
                    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    if max == f64::NEG_INFINITY {
                        continue;
                    }
                    let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    for c in 0..dh {
                        let o: f64 = (0..s.keys)
                            .map(|j| e[j] / sum * v[(b * s.keys + j) * s.width + h * dh + c] as f64)
                            .sum();
                        out[(b * s.queries + i) * s.width + h * dh + c] = o as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_reference_with_every_mask() {
        let shape = AttentionShape {
            batch: 2,
            queries: 70,
            keys: 37,
            width: 24,
            heads: 3,
        };
        let q = values(2 * 70 * 24, 1);
        let k = values(2 * 37 * 24, 2);
        let v = values(2 * 37 * 24, 3);
        let mut padding = vec![false; 2 * 37];
        for j in 30..37 {
            padding[37 + j] = true;
        }
        padding[3] = true;
        let additive: Vec<f32> = values(70 * 37, 4).iter().map(|x| x * 0.5).collect();
        let masks = [
            AttentionMask::default(),
            AttentionMask {
                key_padding: Some(&padding),
                ..Default::default()
            },
            AttentionMask {
                additive: Some(&additive),
                ..Default::default()
            },
            AttentionMask {
                key_padding: Some(&padding),
                additive: Some(&additive),
                causal: true,
            },
        ];
        for (i, mask) in masks.into_iter().enumerate() {
            let out = multi_head_attention(&q, &k, &v, shape, mask).unwrap();
            let expected = reference(&q, &k, &v, shape, mask);
            let err = out
                .iter()
                .zip(&expected)
                .map(|(a, e)| (a - e).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 2e-6, "mask {i}: {err}");
        }
    }

    #[test]
    fn a_query_seeing_no_key_gets_zeros() {
        let shape = AttentionShape {
            batch: 1,
            queries: 2,
            keys: 3,
            width: 4,
            heads: 2,
        };
        let padding = [true, true, true];
        let mask = AttentionMask {
            key_padding: Some(&padding),
            ..Default::default()
        };
        let out = multi_head_attention(&[1.0; 8], &[1.0; 12], &[1.0; 12], shape, mask).unwrap();
        assert_eq!(out, vec![0.0; 8]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let shape = AttentionShape {
            batch: 1,
            queries: 2,
            keys: 3,
            width: 4,
            heads: 3,
        };
        let ok = AttentionMask::default();
        assert!(multi_head_attention(&[0.0; 8], &[0.0; 12], &[0.0; 12], shape, ok).is_err());
        let shape = AttentionShape { heads: 2, ..shape };
        assert!(multi_head_attention(&[0.0; 7], &[0.0; 12], &[0.0; 12], shape, ok).is_err());
        let padding = [false; 2];
        let mask = AttentionMask {
            key_padding: Some(&padding),
            ..Default::default()
        };
        assert!(multi_head_attention(&[0.0; 8], &[0.0; 12], &[0.0; 12], shape, mask).is_err());
    }
}
