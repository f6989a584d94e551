//! The AVX2 + FMA micro-kernel shared by the convolution paths ([`super::conv_avx2`],
//! [`super::winograd`]): a 6 × 16 register-blocked product `C (+)= A · B` over one panel of
//! 16 output channels, with an optional fused epilogue (scale, shift, residual, ReLU), and
//! the panel layout of its weights.
//!
//! A leaf: it knows nothing of convolutions, maps or epilogue types; callers hand it raw
//! rows, a packed panel and a `Finish`.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Pixels per micro-kernel call (rows of the output block).
pub const MR: usize = 6;
/// Output channels per micro-kernel call (two AVX vectors).
pub const NR: usize = 16;
/// Whether this CPU can run the kernel.
pub fn is_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Weights `[k, c_out]` (row-major, `k` ordered `(ky, kx, ci)`) as panels of 16 output
/// channels, `[c_out / 16][k][16]`, the last panel zero-padded.
pub fn pack_panels(weight_rows: &[f32], k: usize, c_out: usize) -> Vec<f32> {
    let panels = c_out.div_ceil(NR);
    let mut packed = vec![0.0f32; panels * k * NR];
    for (p, panel) in packed.chunks_exact_mut(k * NR).enumerate() {
        for (kk, row) in panel.chunks_exact_mut(NR).enumerate() {
            for (j, value) in row.iter_mut().enumerate() {
                let co = p * NR + j;
                if co < c_out {
                    *value = weight_rows[kk * c_out + co];
                }
            }
        }
    }
    packed
}

/// A per-output-channel vector padded with zeros to whole panels.
pub fn pad_to_panels(values: &[f32]) -> Vec<f32> {
    let mut padded = values.to_vec();
    padded.resize(values.len().div_ceil(NR) * NR, 0.0);
    padded
}

/// The epilogue's operands for one panel: `scale`, `shift` at the panel's first channel,
/// `residual` at the block's first pixel and the panel's first channel.
#[derive(Clone, Copy)]
pub(super) struct Finish {
    /// `[16]` per-channel scales; `None` is a scale of 1.
    pub(super) scale: Option<*const f32>,
    /// `[16]` per-channel shifts.
    pub(super) shift: *const f32,
    /// The residual block (row stride `ldc`), added after the affine map.
    pub(super) residual: Option<*const f32>,
    /// Apply ReLU last.
    pub(super) relu: bool,
}

impl Finish {
    /// The same, with the residual moved down `rows` pixels.
    pub(super) fn offset_rows(&self, rows: usize, c_out: usize) -> Finish {
        Finish {
            // SAFETY (of later reads): stays inside the residual map, which has the
            // output's shape.
            residual: self.residual.map(|r| r.wrapping_add(rows * c_out)),
            ..*self
        }
    }
}

/// `C[block, cols] (+)= A[block, kc] · B[kc, 16]` for one 6 × 16 block, then, with
/// `finish`, `v · scale + shift (+ residual)`, ReLU.
///
/// # Safety
///
/// AVX2 and FMA must be available; every `a[i]` has `kc` readable floats; `b` has `kc · 16`;
/// `c` is writable (and readable when `accumulate`) for `block` rows of stride `ldc` and
/// `cols` columns; `finish`'s pointers cover 16 (scale, shift) and `block × cols` (residual,
/// stride `ldc`) values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn micro_kernel(
    a: &[*const f32; MR],
    b: *const f32,
    kc: usize,
    c: *mut f32,
    ldc: usize,
    block: usize,
    cols: usize,
    accumulate: bool,
    finish: Option<&Finish>,
) {
    // SAFETY: the function's contract covers every pointer read and write below.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 2 * MR];
        let [a0, a1, a2, a3, a4, a5] = *a;
        let mut bp = b;
        for k in 0..kc {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            bp = bp.add(NR);
            let x0 = _mm256_broadcast_ss(&*a0.add(k));
            acc[0] = _mm256_fmadd_ps(x0, b0, acc[0]);
            acc[1] = _mm256_fmadd_ps(x0, b1, acc[1]);
            let x1 = _mm256_broadcast_ss(&*a1.add(k));
            acc[2] = _mm256_fmadd_ps(x1, b0, acc[2]);
            acc[3] = _mm256_fmadd_ps(x1, b1, acc[3]);
            let x2 = _mm256_broadcast_ss(&*a2.add(k));
            acc[4] = _mm256_fmadd_ps(x2, b0, acc[4]);
            acc[5] = _mm256_fmadd_ps(x2, b1, acc[5]);
            let x3 = _mm256_broadcast_ss(&*a3.add(k));
            acc[6] = _mm256_fmadd_ps(x3, b0, acc[6]);
            acc[7] = _mm256_fmadd_ps(x3, b1, acc[7]);
            let x4 = _mm256_broadcast_ss(&*a4.add(k));
            acc[8] = _mm256_fmadd_ps(x4, b0, acc[8]);
            acc[9] = _mm256_fmadd_ps(x4, b1, acc[9]);
            let x5 = _mm256_broadcast_ss(&*a5.add(k));
            acc[10] = _mm256_fmadd_ps(x5, b0, acc[10]);
            acc[11] = _mm256_fmadd_ps(x5, b1, acc[11]);
        }
        // A full-width block goes straight to C; a partial one through a staging block.
        let mut staging = [0.0f32; MR * NR];
        let full = cols == NR;
        let (dst, ld) = if full {
            (c, ldc)
        } else {
            (staging.as_mut_ptr(), NR)
        };
        if !full && accumulate {
            for i in 0..block {
                for j in 0..cols {
                    staging[i * NR + j] = *c.add(i * ldc + j);
                }
            }
        }
        let (scale, shift, relu) = match finish {
            Some(f) => (
                f.scale
                    .map(|s| (_mm256_loadu_ps(s), _mm256_loadu_ps(s.add(8)))),
                Some((_mm256_loadu_ps(f.shift), _mm256_loadu_ps(f.shift.add(8)))),
                f.relu,
            ),
            None => (None, None, false),
        };
        let zero = _mm256_setzero_ps();
        for i in 0..block {
            let row = dst.add(i * ld);
            let mut v = [acc[2 * i], acc[2 * i + 1]];
            if accumulate {
                v[0] = _mm256_add_ps(_mm256_loadu_ps(row), v[0]);
                v[1] = _mm256_add_ps(_mm256_loadu_ps(row.add(8)), v[1]);
            }
            if let Some((s0, s1)) = scale {
                v[0] = _mm256_mul_ps(v[0], s0);
                v[1] = _mm256_mul_ps(v[1], s1);
            }
            if let Some((t0, t1)) = shift {
                v[0] = _mm256_add_ps(v[0], t0);
                v[1] = _mm256_add_ps(v[1], t1);
            }
            if let Some(residual) = finish.and_then(|f| f.residual) {
                let res = residual.add(i * ldc);
                if full {
                    v[0] = _mm256_add_ps(v[0], _mm256_loadu_ps(res));
                    v[1] = _mm256_add_ps(v[1], _mm256_loadu_ps(res.add(8)));
                } else {
                    let mut padded = [0.0f32; NR];
                    for (j, value) in padded.iter_mut().take(cols).enumerate() {
                        *value = *res.add(j);
                    }
                    v[0] = _mm256_add_ps(v[0], _mm256_loadu_ps(padded.as_ptr()));
                    v[1] = _mm256_add_ps(v[1], _mm256_loadu_ps(padded.as_ptr().add(8)));
                }
            }
            if relu {
                // max(v, 0) keeps NaN only in the second operand: put v there.
                v[0] = relu_keep_nan(v[0], zero);
                v[1] = relu_keep_nan(v[1], zero);
            }
            _mm256_storeu_ps(row, v[0]);
            _mm256_storeu_ps(row.add(8), v[1]);
        }
        if !full {
            for i in 0..block {
                for j in 0..cols {
                    *c.add(i * ldc + j) = staging[i * NR + j];
                }
            }
        }
    }
}

/// `v < 0 ? 0 : v` per lane (NaN stays NaN, as PyTorch's ReLU).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn relu_keep_nan(v: __m256, zero: __m256) -> __m256 {
    let negative = _mm256_cmp_ps::<_CMP_LT_OQ>(v, zero);
    _mm256_blendv_ps(v, zero, negative)
}
