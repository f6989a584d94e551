//! Element-wise math for the CPU kernels, written so that the compiler vectorises it, with
//! AVX2 + FMA versions chosen at run time on x86-64.

/// `log2(e)`.
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln(2)` split in a part exact in f32 and the rest (Cody–Waite range reduction).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// `1.5 · 2^23`: adding it rounds an f32 below 2^22 in magnitude to an integer.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// Below this `exp` is under f32's smallest normal number: the result is flushed to 0.
const EXP_MIN: f32 = -87.336_55;
/// Above this `exp` overflows.
const EXP_MAX: f32 = 88.376_26;

/// `a · b + c`, fused where the CPU has FMA (`FMA` is then true: the function is inlined into
/// code compiled with the `fma` target feature; elsewhere `mul_add` would be a slow
/// library call).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `exp(x)` (relative error about 1e-7, the rounding error of f32 itself; exactly 0 below
/// `-87.34`, `inf` above `88.38`, `NaN` for `NaN`).
#[inline(always)]
fn exp_with<const FMA: bool>(x: f32) -> f32 {
    let clamped = x.clamp(EXP_MIN, EXP_MAX);
    // x = n·ln2 + r, |r| ≤ ln2 / 2; n · LN2_HI is exact (LN2_HI has 9 significant bits).
    let shifted = madd::<FMA>(clamped, LOG2_E, ROUND_MAGIC);
    let n = shifted - ROUND_MAGIC;
    let r = madd::<FMA>(n, -LN2_LO, madd::<FMA>(n, -LN2_HI, clamped));
    // Cephes' minimax polynomial for exp(r) on [-ln2/2, ln2/2].
    let mut p = 1.987_569_1e-4_f32;
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ] {
        p = madd::<FMA>(p, r, c);
    }
    let poly = madd::<FMA>(p * r, r, r) + 1.0;
    // 2^n from the integer in the rounded sum's low mantissa bits.
    let n_int = shifted.to_bits() as i32 - ROUND_MAGIC.to_bits() as i32;
    let scale = f32::from_bits(((n_int + 127) << 23) as u32);
    let y = poly * scale;
    if x < EXP_MIN {
        0.0
    } else if x > EXP_MAX {
        f32::INFINITY
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// `exp(x)` for one value, without FMA (see [`exp_slice`] for many).
pub fn exp(x: f32) -> f32 {
    exp_with::<false>(x)
}

/// Lanes of the partial sums and maxima (so that reductions vectorise).
const LANES: usize = 8;

/// `Σ values` in [`LANES`] interleaved partial sums.
#[inline(always)]
fn sum_lanes(values: &[f32]) -> f32 {
    let mut partial = [0.0f32; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (p, v) in partial.iter_mut().zip(chunk) {
            *p += v;
        }
    }
    partial.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// The largest value (`-inf` for none; NaN values are skipped).
pub fn max_value(values: &[f32]) -> f32 {
    let larger = |m: f32, v: f32| if v > m { v } else { m };
    let mut partial = [f32::NEG_INFINITY; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (p, &v) in partial.iter_mut().zip(chunk) {
            *p = larger(*p, v);
        }
    }
    let lanes = partial.into_iter().fold(f32::NEG_INFINITY, larger);
    chunks.remainder().iter().copied().fold(lanes, larger)
}

/// Row softmax body: `row ← exp(row − max) / Σ`, `max` given.
#[inline(always)]
fn softmax_with<const FMA: bool>(row: &mut [f32], max: f32) {
    for v in row.iter_mut() {
        *v = exp_with::<FMA>(*v - max);
    }
    let sum = sum_lanes(row);
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Whether this CPU runs the AVX2 + FMA versions.
#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_slice_avx2(values: &mut [f32]) {
    for v in values.iter_mut() {
        *v = exp_with::<true>(*v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn softmax_avx2(row: &mut [f32], max: f32) {
    softmax_with::<true>(row, max);
}

/// `exp` of every value in place (see [`exp`]; AVX2 + FMA where the CPU has them).
pub fn exp_slice(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports the target features the function is compiled for.
        unsafe { exp_slice_avx2(values) };
        return;
    }
    for v in values.iter_mut() {
        *v = exp_with::<false>(*v);
    }
}

/// Softmax of `row` in place given its maximum `max` (finite): `exp(x − max) / Σ exp`.
pub fn softmax_from_max(row: &mut [f32], max: f32) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports the target features the function is compiled for.
        unsafe { softmax_avx2(row, max) };
        return;
    }
    softmax_with::<false>(row, max);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_to_float_rounding() {
        let xs: Vec<f32> = (0..127_000).map(|i| -87.0 + i as f32 * 0.001_37).collect();
        let mut fast = xs.clone();
        exp_slice(&mut fast);
        for (name, values) in [
            ("plain", xs.iter().map(|&x| exp(x)).collect::<Vec<_>>()),
            ("slice", fast),
        ] {
            let worst = xs
                .iter()
                .zip(&values)
                .map(|(&x, &y)| {
                    let exact = (x as f64).exp();
                    ((y as f64 - exact) / exact).abs()
                })
                .fold(0.0f64, f64::max);
            assert!(worst < 2.5e-7, "{name}: worst relative error {worst}");
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        let mut row = [0.0f32, -1.0, 2.0, f32::NEG_INFINITY];
        exp_slice(&mut row);
        assert_eq!(row[3], 0.0);
        assert!((row[2] - 2.0f32.exp()).abs() < 1e-6);
        let mut row = [1.0f32, 2.0, 3.0];
        softmax_from_max(&mut row, 3.0);
        let e = [(-2.0f64).exp(), (-1.0f64).exp(), 1.0];
        let sum: f64 = e.iter().sum();
        for (v, e) in row.iter().zip(e) {
            assert!((*v as f64 - e / sum).abs() < 1e-7);
        }
    }
}
