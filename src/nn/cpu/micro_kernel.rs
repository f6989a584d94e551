//! The micro-kernel shared by the convolution paths ([`super::conv_avx2`],
//! [`super::winograd`]): a 6 × 16 register-blocked product `C (+)= A · B` over one panel of
//! 16 output channels, with an optional fused epilogue (scale, shift, residual, ReLU), and
//! the panel layout of its weights. Two implementations of the same contract, picked by
//! [`Isa`]: AVX2 + FMA (12 256-bit accumulators, two per pixel) and AVX-512F, which covers two
//! panels per call (6 × 32: one 512-bit accumulator per pixel and panel; a lone last panel
//! goes to a 6 × 16 variant that splits even and odd reduction steps over two accumulators
//! per pixel, so that there too 12 independent FMA chains hide the FMA latency).
//!
//! A leaf: it knows nothing of convolutions, maps or epilogue types; callers hand it raw
//! rows, a packed panel and a `Finish`.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::switch::ProcessSwitch;

/// Pixels per micro-kernel call (rows of the output block).
pub const MR: usize = 6;
/// Output channels per micro-kernel call (two AVX vectors).
pub const NR: usize = 16;
/// The instruction set a micro-kernel call runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// 256-bit AVX2 + FMA.
    Avx2Fma,
    /// 512-bit AVX-512F (with AVX2 + FMA, which the Winograd transforms use).
    Avx512,
}

impl Isa {
    /// The widest instruction set this CPU runs and this process allows
    /// ([`avx512_enabled`]); `None` without AVX2 + FMA.
    pub fn best() -> Option<Isa> {
        if avx512_available() && avx512_enabled() {
            Some(Isa::Avx512)
        } else if is_available() {
            Some(Isa::Avx2Fma)
        } else {
            None
        }
    }

    /// Panels of 16 output channels one micro-kernel call covers: 1 on AVX2 (12 of its
    /// 16 registers accumulate), 2 on AVX-512 (6 pixels × 2 panels = 12 of its 32).
    pub fn panels_per_call(self) -> usize {
        match self {
            Isa::Avx2Fma => 1,
            Isa::Avx512 => 2,
        }
    }

    /// Whether this CPU can run `self`.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Avx2Fma => is_available(),
            Isa::Avx512 => avx512_available(),
        }
    }
}

/// Whether this CPU can run the AVX2 + FMA kernel.
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

/// Whether this CPU can run the AVX-512 kernel (AVX-512F besides AVX2 + FMA).
pub fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_available() && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The AVX-512 switch (default from `HOICLIP_CPU_AVX512`).
static AVX512: ProcessSwitch = ProcessSwitch::new("HOICLIP_CPU_AVX512");

/// Whether kernels packed from now on may use AVX-512 where the CPU has it: yes unless
/// [`set_avx512_enabled`]`(false)` was called or the environment variable
/// `HOICLIP_CPU_AVX512` is `0` (or `false`, `off`) when first asked.
pub fn avx512_enabled() -> bool {
    AVX512.enabled()
}

/// Allow or forbid AVX-512 for kernels packed from now on (already packed ones keep theirs).
/// Both compute the same function up to float rounding; this is for comparisons and for
/// CPUs whose clock drops under 512-bit work.
pub fn set_avx512_enabled(enabled: bool) {
    AVX512.set(enabled);
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

/// `C[block, cols] (+)= A[block, kc] · B[kc, cols]` for one block of 6 pixels and up to
/// [`Isa::panels_per_call`] panels of 16 output channels, then, with `finish`,
/// `v · scale + shift (+ residual)`, ReLU; on `isa`'s implementation.
///
/// `a` holds [`MR`] row pointers (rows past `block` are read, not stored: callers repeat the
/// last real row); `b` points at the first panel's `[kc][16]` chunk, the next panel's chunk
/// `panel_stride` floats further (read only when `cols > 16`); `accumulate` adds to `C`
/// instead of overwriting it (the epilogue applies to the sum).
///
/// # Safety
///
/// `isa` must be supported by this CPU ([`Isa::is_supported`]); `cols ≤ 16 ·
/// isa.panels_per_call()`; every `a[i]` has `kc` readable floats; each panel read has
/// `kc · 16`; `c` is writable (and readable when `accumulate`) for `block` rows of stride
/// `ldc` and `cols` columns; `finish`'s pointers cover 16 per panel read (scale, shift) and
/// `block × cols` (residual, stride `ldc`) values.
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn micro_kernel(
    isa: Isa,
    a: &[*const f32; MR],
    b: *const f32,
    panel_stride: usize,
    kc: usize,
    c: *mut f32,
    ldc: usize,
    block: usize,
    cols: usize,
    accumulate: bool,
    finish: Option<&Finish>,
) {
    // SAFETY: the caller checked `isa` and `cols`; the pointer contract is the same for all.
    unsafe {
        match isa {
            Isa::Avx2Fma => micro_kernel_avx2(a, b, kc, c, ldc, block, cols, accumulate, finish),
            Isa::Avx512 if cols <= NR => {
                micro_kernel_avx512(a, b, kc, c, ldc, block, cols, accumulate, finish)
            }
            Isa::Avx512 => micro_kernel_avx512_two_panels(
                a,
                [b, b.add(panel_stride)],
                kc,
                c,
                ldc,
                block,
                cols,
                accumulate,
                finish,
            ),
        }
    }
}

/// [`micro_kernel`] on AVX2 + FMA.
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
unsafe fn micro_kernel_avx2(
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

/// [`micro_kernel`] on AVX-512F: per pixel one 512-bit register per reduction parity (even
/// and odd `k`), summed before the epilogue; partial panels through masked loads and stores.
///
/// # Safety
///
/// AVX-512F must be available; the pointer contract of [`micro_kernel`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn micro_kernel_avx512(
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
    // SAFETY: the function's contract covers every pointer read and write below; masked
    // loads and stores touch only the `cols` valid columns.
    unsafe {
        let mut even = [_mm512_setzero_ps(); MR];
        let mut odd = [_mm512_setzero_ps(); MR];
        let [a0, a1, a2, a3, a4, a5] = *a;
        let mut bp = b;
        let mut k = 0;
        while k + 2 <= kc {
            let b0 = _mm512_loadu_ps(bp);
            let b1 = _mm512_loadu_ps(bp.add(NR));
            bp = bp.add(2 * NR);
            even[0] = _mm512_fmadd_ps(_mm512_set1_ps(*a0.add(k)), b0, even[0]);
            odd[0] = _mm512_fmadd_ps(_mm512_set1_ps(*a0.add(k + 1)), b1, odd[0]);
            even[1] = _mm512_fmadd_ps(_mm512_set1_ps(*a1.add(k)), b0, even[1]);
            odd[1] = _mm512_fmadd_ps(_mm512_set1_ps(*a1.add(k + 1)), b1, odd[1]);
            even[2] = _mm512_fmadd_ps(_mm512_set1_ps(*a2.add(k)), b0, even[2]);
            odd[2] = _mm512_fmadd_ps(_mm512_set1_ps(*a2.add(k + 1)), b1, odd[2]);
            even[3] = _mm512_fmadd_ps(_mm512_set1_ps(*a3.add(k)), b0, even[3]);
            odd[3] = _mm512_fmadd_ps(_mm512_set1_ps(*a3.add(k + 1)), b1, odd[3]);
            even[4] = _mm512_fmadd_ps(_mm512_set1_ps(*a4.add(k)), b0, even[4]);
            odd[4] = _mm512_fmadd_ps(_mm512_set1_ps(*a4.add(k + 1)), b1, odd[4]);
            even[5] = _mm512_fmadd_ps(_mm512_set1_ps(*a5.add(k)), b0, even[5]);
            odd[5] = _mm512_fmadd_ps(_mm512_set1_ps(*a5.add(k + 1)), b1, odd[5]);
            k += 2;
        }
        if k < kc {
            let b0 = _mm512_loadu_ps(bp);
            for (row, acc) in a.iter().zip(even.iter_mut()) {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(*row.add(k)), b0, *acc);
            }
        }
        let sums: [__m512; MR] = std::array::from_fn(|i| _mm512_add_ps(even[i], odd[i]));
        store_panel_avx512(&sums, c, ldc, block, cols, accumulate, finish, 0);
    }
}

/// [`micro_kernel`] on AVX-512F over two consecutive panels (`cols` in 17..=32): per pixel
/// one 512-bit accumulator per panel, so that each step loads two weight vectors and six
/// input values for twelve FMAs (the single-panel kernel needs fourteen loads for as many).
///
/// # Safety
///
/// AVX-512F must be available; `b[0]` and `b[1]` each have `kc · 16` readable floats; the
/// rest of the pointer contract of [`micro_kernel`] with `cols > 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn micro_kernel_avx512_two_panels(
    a: &[*const f32; MR],
    b: [*const f32; 2],
    kc: usize,
    c: *mut f32,
    ldc: usize,
    block: usize,
    cols: usize,
    accumulate: bool,
    finish: Option<&Finish>,
) {
    // SAFETY: the function's contract covers every pointer read and write below; masked
    // loads and stores touch only the `cols` valid columns.
    unsafe {
        let mut left = [_mm512_setzero_ps(); MR];
        let mut right = [_mm512_setzero_ps(); MR];
        let [a0, a1, a2, a3, a4, a5] = *a;
        let [mut b0p, mut b1p] = b;
        for k in 0..kc {
            let b0 = _mm512_loadu_ps(b0p);
            let b1 = _mm512_loadu_ps(b1p);
            b0p = b0p.add(NR);
            b1p = b1p.add(NR);
            let x0 = _mm512_set1_ps(*a0.add(k));
            left[0] = _mm512_fmadd_ps(x0, b0, left[0]);
            right[0] = _mm512_fmadd_ps(x0, b1, right[0]);
            let x1 = _mm512_set1_ps(*a1.add(k));
            left[1] = _mm512_fmadd_ps(x1, b0, left[1]);
            right[1] = _mm512_fmadd_ps(x1, b1, right[1]);
            let x2 = _mm512_set1_ps(*a2.add(k));
            left[2] = _mm512_fmadd_ps(x2, b0, left[2]);
            right[2] = _mm512_fmadd_ps(x2, b1, right[2]);
            let x3 = _mm512_set1_ps(*a3.add(k));
            left[3] = _mm512_fmadd_ps(x3, b0, left[3]);
            right[3] = _mm512_fmadd_ps(x3, b1, right[3]);
            let x4 = _mm512_set1_ps(*a4.add(k));
            left[4] = _mm512_fmadd_ps(x4, b0, left[4]);
            right[4] = _mm512_fmadd_ps(x4, b1, right[4]);
            let x5 = _mm512_set1_ps(*a5.add(k));
            left[5] = _mm512_fmadd_ps(x5, b0, left[5]);
            right[5] = _mm512_fmadd_ps(x5, b1, right[5]);
        }
        store_panel_avx512(&left, c, ldc, block, NR, accumulate, finish, 0);
        store_panel_avx512(&right, c, ldc, block, cols - NR, accumulate, finish, NR);
    }
}

/// The AVX-512 kernels' epilogue for one panel: row `i`'s `sums[i]` (plus C's value when
/// `accumulate`) through `finish` into `C`'s columns `offset..offset + cols` (`cols ≤ 16`;
/// the other columns of the panel are neither read nor written: masked loads and stores).
///
/// # Safety
///
/// AVX-512F must be available; `c` is writable (readable when `accumulate`) for `block` rows
/// of stride `ldc` at columns `offset..offset + cols`; `finish`'s scale and shift have 16
/// values at `offset`, its residual the block's values (stride `ldc`) at `offset`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn store_panel_avx512(
    sums: &[__m512; MR],
    c: *mut f32,
    ldc: usize,
    block: usize,
    cols: usize,
    accumulate: bool,
    finish: Option<&Finish>,
    offset: usize,
) {
    // SAFETY: the function's contract covers every pointer read and write below.
    unsafe {
        let mask: __mmask16 = if cols >= NR {
            0xffff
        } else {
            ((1u32 << cols) - 1) as __mmask16
        };
        let (scale, shift, residual, relu) = match finish {
            Some(f) => (
                f.scale.map(|s| _mm512_loadu_ps(s.add(offset))),
                Some(_mm512_loadu_ps(f.shift.add(offset))),
                f.residual.map(|r| r.add(offset)),
                f.relu,
            ),
            None => (None, None, None, false),
        };
        let zero = _mm512_setzero_ps();
        for (i, &sum) in sums.iter().enumerate().take(block) {
            let row = c.add(i * ldc + offset);
            let mut v = sum;
            if accumulate {
                v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, row), v);
            }
            if let Some(s) = scale {
                v = _mm512_mul_ps(v, s);
            }
            if let Some(t) = shift {
                v = _mm512_add_ps(v, t);
            }
            if let Some(res) = residual {
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, res.add(i * ldc)));
            }
            if relu {
                // Lanes below zero become zero; NaN compares false and stays.
                let negative = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, zero);
                v = _mm512_mask_blend_ps(negative, v, zero);
            }
            _mm512_mask_storeu_ps(row, mask, v);
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

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    use crate::nn::cpu::test_values::values;

    /// Every instruction set this CPU runs against an f64 reference: odd and even reductions,
    /// partial blocks and panels, accumulation, each epilogue operand. Columns outside the
    /// block must stay untouched.
    #[test]
    fn every_isa_matches_the_reference() {
        let isas: Vec<Isa> = [Isa::Avx2Fma, Isa::Avx512]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect();
        println!("instruction sets run here: {isas:?}");
        let ldc = 37;
        let mut case = 0u64;
        for kc in [1, 2, 3, 8, 65, 256] {
            for block in [1, 4, 6] {
                for cols in [1, 7, 16, 17, 25, 32] {
                    for (accumulate, with_finish) in
                        [(false, false), (true, false), (false, true), (true, true)]
                    {
                        case += 1;
                        // Two panels with a gap between them (the stride is honoured).
                        let panel_stride = kc * NR + 16;
                        let rows: Vec<Vec<f32>> =
                            (0..MR).map(|i| values(kc, case * 10 + i as u64)).collect();
                        let b = values(2 * panel_stride, case * 10 + 7);
                        let weight = |k: usize, j: usize| {
                            b[(j / NR) * panel_stride + k * NR + j % NR] as f64
                        };
                        let c0 = values(MR * ldc, case * 10 + 8);
                        let residual = values(MR * ldc, case * 10 + 9);
                        let scale = values(2 * NR, case * 10 + 11);
                        let shift = values(2 * NR, case * 10 + 12);
                        let finish = Finish {
                            scale: Some(scale.as_ptr()),
                            shift: shift.as_ptr(),
                            residual: Some(residual.as_ptr()),
                            relu: true,
                        };
                        let mut expected = c0.clone();
                        for i in 0..block {
                            for j in 0..cols {
                                let dot: f64 =
                                    (0..kc).map(|k| rows[i][k] as f64 * weight(k, j)).sum();
                                let mut v = dot as f32;
                                if accumulate {
                                    v += c0[i * ldc + j];
                                }
                                if with_finish {
                                    v = (v * scale[j] + shift[j] + residual[i * ldc + j]).max(0.0);
                                }
                                expected[i * ldc + j] = v;
                            }
                        }
                        let a: [*const f32; MR] =
                            std::array::from_fn(|i| rows[i.min(block - 1)].as_ptr());
                        for &isa in isas.iter().filter(|isa| cols <= NR * isa.panels_per_call()) {
                            let mut c = c0.clone();
                            // SAFETY: `isa` is supported and covers `cols`; `a` rows have `kc`
                            // values, `b` two panels of `kc · 16` `panel_stride` apart, `c` and
                            // `residual` `MR` rows of `ldc ≥ cols`, scale and shift 32 values.
                            unsafe {
                                micro_kernel(
                                    isa,
                                    &a,
                                    b.as_ptr(),
                                    panel_stride,
                                    kc,
                                    c.as_mut_ptr(),
                                    ldc,
                                    block,
                                    cols,
                                    accumulate,
                                    with_finish.then_some(&finish),
                                );
                            }
                            let tol = 1e-6 * (kc as f32).sqrt().max(1.0);
                            for (index, (found, want)) in c.iter().zip(&expected).enumerate() {
                                let (i, j) = (index / ldc, index % ldc);
                                assert!(
                                    (found - want).abs() <= tol,
                                    "{isa:?} kc {kc} block {block} cols {cols} accumulate \
                                     {accumulate} finish {with_finish}: [{i}][{j}] {found} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
