//! Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions with padding 1 (the bottleneck
//! `conv2` of ResNet layers), on the micro-kernel of [`super::micro_kernel`] (the products on
//! [`WinogradOperands::isa`], the transforms on AVX2).
//!
//! Each 2×2 block of output pixels comes from a 4×4 input patch `d`: `V = Bᵀ d B` (adds
//! only), per position ξ of the 16 a product `M_ξ[tiles, c_out] = V_ξ[tiles, c_in] ·
//! U_ξ[c_in, c_out]` with the weights transformed once (`U = G g Gᵀ`), and `Y = Aᵀ M A`:
//! 16 products of `c_in` per 4 outputs instead of 36, 2.25× fewer multiplications. The
//! transforms only add, subtract and halve, so the result differs from the direct
//! convolution by a few units of float rounding (tested against an f64 direct convolution).
//! The epilogue (scale, shift, residual, ReLU) runs after the output transform.
//!
//! Work is split in blocks of tiles across rayon's pool; a block's transformed input and
//! products live in a per-thread scratch buffer.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::cell::RefCell;

use rayon::prelude::*;

use super::epilogue::Epilogue;
use super::feature_map::MapView;
use super::micro_kernel::{Isa, MR, NR, pack_panels};

/// Positions of the transformed 4×4 tile.
const XI: usize = 16;
/// Longest reduction chunk of a product (its weight panel stays in L1).
const K_CHUNK: usize = 256;

/// Whether the Winograd path applies: a 3×3, stride-1, padding-1 convolution whose channel
/// counts are multiples of 8 (the transforms work on 8 channels at a time).
pub fn applies(
    c_in: usize,
    c_out: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
) -> bool {
    kernel == [3, 3]
        && stride == [1, 1]
        && pad == [1, 1, 1, 1]
        && c_in.is_multiple_of(8)
        && c_out.is_multiple_of(8)
}

/// The weights `[k = 9 · c_in, c_out]` (row `(ky · 3 + kx) · c_in + ci`) transformed, `U_ξ =
/// (G g Gᵀ)_ξ`, each `[c_in, c_out]` packed in panels of 16: `[ξ][panel][c_in][16]`.
pub fn transform_weights(weight_rows: &[f32], c_in: usize, c_out: usize) -> Vec<f32> {
    const G: [[f32; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    let mut u = vec![0.0f32; XI * c_in * c_out];
    for ci in 0..c_in {
        for co in 0..c_out {
            let g = |ky: usize, kx: usize| weight_rows[((ky * 3 + kx) * c_in + ci) * c_out + co];
            // (G g) is 4×3, then (G g) Gᵀ is 4×4.
            let mut gg = [[0.0f32; 3]; 4];
            for (a, row) in gg.iter_mut().enumerate() {
                for (kx, value) in row.iter_mut().enumerate() {
                    *value = (0..3).map(|ky| G[a][ky] * g(ky, kx)).sum();
                }
            }
            for (a, gg_row) in gg.iter().enumerate() {
                for (b, g_row) in G.iter().enumerate() {
                    let value: f32 = (0..3).map(|kx| gg_row[kx] * g_row[kx]).sum();
                    u[((a * 4 + b) * c_in + ci) * c_out + co] = value;
                }
            }
        }
    }
    let panels_len = c_out.div_ceil(NR) * NR * c_in;
    let mut packed = Vec::with_capacity(XI * panels_len);
    for xi in 0..XI {
        packed.extend(pack_panels(
            &u[xi * c_in * c_out..(xi + 1) * c_in * c_out],
            c_in,
            c_out,
        ));
    }
    packed
}

/// Per-thread scratch: the block's `V` (`[ξ][tiles][c_in]`) and `M` (`[ξ][tiles][c_out]`).
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The operands of one Winograd convolution.
pub struct WinogradOperands<'a> {
    /// The products' instruction set (supported by this CPU: the caller checks).
    pub isa: Isa,
    /// [`transform_weights`]' output.
    pub u: &'a [f32],
    /// `[c_out]` or more (padded); `None` is a scale of 1.
    pub scale: Option<&'a [f32]>,
    /// `[c_out]` or more (padded).
    pub shift: &'a [f32],
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
}

/// Tiles per block: the block's `V` and `M` about a megabyte, at least 48 tiles.
fn block_tiles(c_in: usize, c_out: usize, tiles: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let by_cache = (1 << 18) / (XI * (c_in + c_out));
    let by_balance = tiles.div_ceil(2 * threads);
    by_cache
        .max(48)
        .min(by_balance.max(MR))
        .next_multiple_of(MR)
}

/// The convolution of `input` (`[batch, h, w, c_in]`) into `output` (`[batch, h, w, c_out]`,
/// every value written), the epilogue applied.
///
/// The caller checks that `ops.isa` is supported (AVX2 + FMA at least), [`applies`] holds and the
/// shapes agree.
pub fn convolve(
    ops: &WinogradOperands<'_>,
    input: MapView<'_>,
    output: &mut [f32],
    epilogue: Epilogue<'_>,
) {
    let (h, w) = (input.height, input.width);
    let (tiles_h, tiles_w) = (h.div_ceil(2), w.div_ceil(2));
    let tiles = input.batch * tiles_h * tiles_w;
    if tiles == 0 {
        return;
    }
    let block = block_tiles(ops.c_in, ops.c_out, tiles);
    let out = OutputPtr(output.as_mut_ptr());
    let out = &out;
    (0..tiles.div_ceil(block))
        .into_par_iter()
        .for_each(|index| {
            SCRATCH.with(|cell| {
                let mut owned = Scratch::default();
                let mut borrowed = cell.try_borrow_mut();
                let scratch = match borrowed.as_mut() {
                    Ok(scratch) => &mut **scratch,
                    Err(_) => &mut owned,
                };
                let first = index * block;
                let count = block.min(tiles - first);
                if scratch.v.len() < XI * count * ops.c_in {
                    scratch.v.resize(XI * count * ops.c_in, 0.0);
                }
                if scratch.m.len() < XI * count * ops.c_out {
                    scratch.m.resize(XI * count * ops.c_out, 0.0);
                }
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the caller checked `ops.isa` (AVX2 and FMA at least); the scratch holds the block's `V` and
                // `M`; blocks write the output pixels of their own tiles only.
                unsafe {
                    block_avx2(
                        ops,
                        input,
                        (tiles_h, tiles_w),
                        first,
                        count,
                        scratch,
                        out.0,
                        epilogue,
                    );
                }
            });
        });
}

/// The output's base pointer, shared by the blocks (which write disjoint pixels).
struct OutputPtr(*mut f32);
// SAFETY: blocks write the pixels of disjoint tiles (see `convolve`).
unsafe impl Sync for OutputPtr {}

/// One block of tiles: input transform, 16 products, output transform + epilogue.
///
/// # Safety
///
/// AVX2 and FMA must be available; `scratch.v` / `scratch.m` hold `16 · count · c_in` /
/// `16 · count · c_out` values; `output` points at the `[batch, h, w, c_out]` output.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn block_avx2(
    ops: &WinogradOperands<'_>,
    input: MapView<'_>,
    (tiles_h, tiles_w): (usize, usize),
    first: usize,
    count: usize,
    scratch: &mut Scratch,
    output: *mut f32,
    epilogue: Epilogue<'_>,
) {
    let (h, w, c_in, c_out) = (input.height, input.width, ops.c_in, ops.c_out);
    let zeros = [0.0f32; 8];
    // SAFETY (whole body): indices stay inside the buffers described in the contract.
    unsafe {
        // Input transform, 8 channels at a time: V[ξ][t][c] = (Bᵀ d B)_ξ.
        let v = scratch.v.as_mut_ptr();
        for t in 0..count {
            let tile = first + t;
            let (b, ty, tx) = (
                tile / (tiles_h * tiles_w),
                (tile / tiles_w) % tiles_h,
                tile % tiles_w,
            );
            let image = input.data.as_ptr().add(b * h * w * c_in);
            let mut rows = [[zeros.as_ptr(); 4]; 4];
            for (a, row) in rows.iter_mut().enumerate() {
                let iy = (2 * ty + a) as isize - 1;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                for (col, ptr) in row.iter_mut().enumerate() {
                    let ix = (2 * tx + col) as isize - 1;
                    if ix >= 0 && ix < w as isize {
                        *ptr = image.add((iy as usize * w + ix as usize) * c_in);
                    }
                }
            }
            let mut c = 0;
            while c < c_in {
                // Channel offset `c` applies to real pixels only; zeros stay at 0.
                let load = |a: usize, col: usize| {
                    let p = rows[a][col];
                    if p == zeros.as_ptr() {
                        _mm256_setzero_ps()
                    } else {
                        _mm256_loadu_ps(p.add(c))
                    }
                };
                let d: [[__m256; 4]; 4] =
                    std::array::from_fn(|a| std::array::from_fn(|col| load(a, col)));
                // Rows: t0 = d0 − d2, t1 = d1 + d2, t2 = d2 − d1, t3 = d1 − d3.
                let rows_t: [[__m256; 4]; 4] = std::array::from_fn(|a| {
                    std::array::from_fn(|col| match a {
                        0 => _mm256_sub_ps(d[0][col], d[2][col]),
                        1 => _mm256_add_ps(d[1][col], d[2][col]),
                        2 => _mm256_sub_ps(d[2][col], d[1][col]),
                        _ => _mm256_sub_ps(d[1][col], d[3][col]),
                    })
                });
                // Columns, the same combinations.
                for (a, r) in rows_t.iter().enumerate() {
                    let vals = [
                        _mm256_sub_ps(r[0], r[2]),
                        _mm256_add_ps(r[1], r[2]),
                        _mm256_sub_ps(r[2], r[1]),
                        _mm256_sub_ps(r[1], r[3]),
                    ];
                    for (col, value) in vals.into_iter().enumerate() {
                        let xi = a * 4 + col;
                        _mm256_storeu_ps(v.add((xi * count + t) * c_in + c), value);
                    }
                }
                c += 8;
            }
        }

        // Products: M_ξ[t][co] = Σ_ci V_ξ[t][ci] U_ξ[ci][co].
        let m = scratch.m.as_mut_ptr();
        let panels = c_out.div_ceil(NR);
        let panel_stride = c_in * NR;
        for xi in 0..XI {
            let u_xi = ops.u.as_ptr().add(xi * panels * panel_stride);
            let v_xi = v.add(xi * count * c_in);
            let m_xi = m.add(xi * count * c_out);
            let mut k0 = 0;
            while k0 < c_in {
                let kc = K_CHUNK.min(c_in - k0);
                // One or two panels per micro-kernel call (`Isa::panels_per_call`).
                let step = ops.isa.panels_per_call();
                for panel in (0..panels).step_by(step) {
                    let n0 = panel * NR;
                    let cols = (NR * step).min(c_out - n0);
                    let b = u_xi.add(panel * panel_stride + k0 * NR);
                    let mut r0 = 0;
                    while r0 < count {
                        let rows = MR.min(count - r0);
                        let a: [*const f32; MR] = std::array::from_fn(|i| {
                            v_xi.add((r0 + i.min(rows - 1)) * c_in + k0) as *const f32
                        });
                        super::micro_kernel::micro_kernel(
                            ops.isa,
                            &a,
                            b,
                            panel_stride,
                            kc,
                            m_xi.add(r0 * c_out + n0),
                            c_out,
                            rows,
                            cols,
                            k0 > 0,
                            None,
                        );
                        r0 += rows;
                    }
                }
                k0 += kc;
            }
        }

        // Output transform + epilogue, 8 channels at a time: Y = Aᵀ M A.
        let zero = _mm256_setzero_ps();
        for t in 0..count {
            let tile = first + t;
            let (b, ty, tx) = (
                tile / (tiles_h * tiles_w),
                (tile / tiles_w) % tiles_h,
                tile % tiles_w,
            );
            let mut co = 0;
            while co < c_out {
                let mv: [__m256; XI] =
                    std::array::from_fn(|xi| _mm256_loadu_ps(m.add((xi * count + t) * c_out + co)));
                let at = |a: usize, col: usize| mv[a * 4 + col];
                // Rows: r0 = m0 + m1 + m2, r1 = m1 − m2 − m3.
                let r: [[__m256; 4]; 2] = [
                    std::array::from_fn(|col| {
                        _mm256_add_ps(_mm256_add_ps(at(0, col), at(1, col)), at(2, col))
                    }),
                    std::array::from_fn(|col| {
                        _mm256_sub_ps(_mm256_sub_ps(at(1, col), at(2, col)), at(3, col))
                    }),
                ];
                let scale = ops.scale.map(|s| _mm256_loadu_ps(s.as_ptr().add(co)));
                let shift = _mm256_loadu_ps(ops.shift.as_ptr().add(co));
                for (i, row) in r.iter().enumerate() {
                    let oy = 2 * ty + i;
                    if oy >= h {
                        continue;
                    }
                    let y = [
                        _mm256_add_ps(_mm256_add_ps(row[0], row[1]), row[2]),
                        _mm256_sub_ps(_mm256_sub_ps(row[1], row[2]), row[3]),
                    ];
                    for (j, mut value) in y.into_iter().enumerate() {
                        let ox = 2 * tx + j;
                        if ox >= w {
                            continue;
                        }
                        let pixel = (b * h + oy) * w + ox;
                        if let Some(scale) = scale {
                            value = _mm256_mul_ps(value, scale);
                        }
                        value = _mm256_add_ps(value, shift);
                        if let Some(residual) = epilogue.residual {
                            let res =
                                _mm256_loadu_ps(residual.data.as_ptr().add(pixel * c_out + co));
                            value = _mm256_add_ps(value, res);
                        }
                        if epilogue.relu {
                            let negative = _mm256_cmp_ps::<_CMP_LT_OQ>(value, zero);
                            value = _mm256_blendv_ps(value, zero, negative);
                        }
                        _mm256_storeu_ps(output.add(pixel * c_out + co), value);
                    }
                }
                co += 8;
            }
        }
    }
}
