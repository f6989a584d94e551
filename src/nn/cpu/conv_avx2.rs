//! The SIMD path of [`super::PackedConv2d`]: an implicit-GEMM convolution on the 6 × 16
//! register-blocked micro-kernel of [`super::micro_kernel`] (AVX2 + FMA, or AVX-512F where
//! the CPU has it: [`ConvOperands::isa`]), for x86-64 CPUs (checked at run time; elsewhere
//! the `gemm`-crate path runs).
//!
//! The output `[pixels, c_out]` is computed in tiles of pixels, in parallel. Within a tile,
//! BLIS-style: for each chunk of the reduction (`k`, at most `K_CHUNK` long, inside one
//! kernel row), for each panel of 16 output channels (weights packed once as `[k][16]`
//! panels, so a chunk's panel stays in L1), for each 6 pixels: 12 AVX accumulators, one
//! broadcast of each pixel's input value and two weight vectors per step. The chunk's result
//! is added to the output tile; after the last chunk the epilogue (scale, shift, residual,
//! ReLU) runs on the registers before the store.
//!
//! No im2col matrix is built: channels-last makes each kernel row of a pixel's receptive
//! field one contiguous run of `kernel_w · c_in` input values, so the micro-kernel reads six
//! pointers straight into the input. Runs that reach into the padding are copied, with
//! zeros, into a per-tile scratch row (only border pixels); fully padded runs point at
//! zeros. Inputs with few channels (the 7×7 stem over RGB, runs of 21 values) get a full
//! im2col row per pixel instead, one chunk of the whole `k`.

use std::cell::RefCell;

use rayon::prelude::*;

use super::epilogue::Epilogue;
use super::feature_map::MapView;
#[cfg(target_arch = "x86_64")]
use super::micro_kernel::{Finish, micro_kernel};
use super::micro_kernel::{Isa, MR, NR};
use super::padding::Padding;

/// Longest reduction chunk: a chunk's weight panel (`K_CHUNK × 16` floats) stays in L1.
const K_CHUNK: usize = 256;
/// Largest tile, in pixels (the tile's input runs for one chunk stay in L2).
const MAX_TILE: usize = 96;
/// Below this many values per kernel row, a full im2col row per pixel is built instead.
const MIN_RUN: usize = 48;

/// The convolution's geometry and packed operands, as the kernel reads them.
pub struct ConvOperands<'a> {
    /// The micro-kernel's instruction set (supported by this CPU: the caller checks).
    pub isa: Isa,
    /// `[c_out / 16][k][16]` ([`super::micro_kernel::pack_panels`]).
    pub panels: &'a [f32],
    /// `[panels · 16]`; `None` is a scale of 1.
    pub scale: Option<&'a [f32]>,
    /// `[panels · 16]`.
    pub shift: &'a [f32],
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// `[kernel_h, kernel_w]`.
    pub kernel: [usize; 2],
    /// `[stride_h, stride_w]`.
    pub stride: [usize; 2],
    /// Input padding.
    pub padding: Padding,
}

/// Scratch of one tile, kept per thread.
#[derive(Default)]
struct Scratch {
    /// Border rows (or im2col rows) after a run of zeros.
    values: Vec<f32>,
    /// `[tile][segments]`: where each pixel's runs start.
    starts: Vec<RunStart>,
    /// The same as pointers, made once `values` is final.
    rows: Vec<*const f32>,
}

/// Where a run starts: an offset into the input map's values or into the scratch values.
#[derive(Clone, Copy)]
enum RunStart {
    Input(usize),
    Scratch(usize),
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// How each pixel's reduction is laid out: `segments` runs of `run` contiguous values.
#[derive(Clone, Copy)]
struct Layout {
    segments: usize,
    run: usize,
    /// Whether the runs are im2col rows built in the scratch.
    im2col: bool,
}

/// Run the convolution of `input` into `output` (`[pixels, c_out]`, every value written),
/// the epilogue applied. `out_size` is the output's `(height, width)`.
///
/// The caller checks that [`super::micro_kernel::is_available`] is true and that shapes agree (input channels,
/// output and residual sizes).
pub fn convolve(
    ops: &ConvOperands<'_>,
    input: MapView<'_>,
    out_size: (usize, usize),
    output: &mut [f32],
    epilogue: Epilogue<'_>,
) {
    let pixels = output.len() / ops.c_out;
    if pixels == 0 {
        return;
    }
    let [kernel_h, kernel_w] = ops.kernel;
    let run = kernel_w * ops.c_in;
    let layout = if run < MIN_RUN && kernel_h * run > run {
        Layout {
            segments: 1,
            run: kernel_h * run,
            im2col: true,
        }
    } else {
        Layout {
            segments: kernel_h,
            run,
            im2col: false,
        }
    };
    let tile = tile_pixels(pixels);
    let tiles = pixels.div_ceil(tile);
    // Few tiles (small outputs such as a transformer's 50 tokens): split the output channels
    // too, so that every thread works and each reads only its share of the weights.
    let panels = ops.c_out.div_ceil(NR);
    let threads = rayon::current_num_threads().max(1);
    let groups = (2 * threads).div_ceil(tiles).clamp(1, panels);
    let per_group = panels.div_ceil(groups);
    let items: Vec<(usize, usize)> = (0..tiles)
        .flat_map(|t| (0..panels.div_ceil(per_group)).map(move |g| (t, g)))
        .collect();
    let out = OutputPtr(output.as_mut_ptr());
    let out = &out;
    items.into_par_iter().for_each(|(tile_index, group)| {
        SCRATCH.with(|cell| {
            let mut owned = Scratch::default();
            let mut borrowed = cell.try_borrow_mut();
            let scratch = match borrowed.as_mut() {
                Ok(scratch) => &mut **scratch,
                Err(_) => &mut owned,
            };
            let first = tile_index * tile;
            let rows = tile.min(pixels - first);
            let panel_range = group * per_group..((group + 1) * per_group).min(panels);
            prepare_rows(ops, input, out_size, layout, first, rows, scratch);
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller checked `ops.isa` (which implies AVX2 and FMA); `scratch.rows` holds `rows ·
            // segments` pointers to runs of `layout.run` readable values; the output has
            // `pixels · c_out` values, and items write disjoint blocks (their own rows ×
            // their own panels' columns), so no two threads touch the same value.
            unsafe {
                tile_avx2(
                    ops,
                    layout,
                    &scratch.rows,
                    rows,
                    first,
                    panel_range,
                    out.0.add(first * ops.c_out),
                    epilogue,
                );
            }
        });
    });
}

/// The output's base pointer, shared by the work items (which write disjoint blocks).
struct OutputPtr(*mut f32);
// SAFETY: the items that share it write disjoint parts of the output (see `convolve`).
unsafe impl Sync for OutputPtr {}

/// Pixels per tile: at most [`MAX_TILE`], a multiple of [`MR`], and about equal tiles in a
/// multiple of the thread count.
fn tile_pixels(pixels: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per_thread_tiles = pixels.div_ceil(threads * MAX_TILE).max(1);
    pixels
        .div_ceil(threads * per_thread_tiles)
        .next_multiple_of(MR)
        .clamp(MR, MAX_TILE)
}

/// Fill `scratch.rows` with pointers to the runs of output pixels `first..first + rows`
/// (`[rows][segments]`), building border, zero and im2col runs in `scratch.values`.
fn prepare_rows(
    ops: &ConvOperands<'_>,
    input: MapView<'_>,
    (out_h, out_w): (usize, usize),
    layout: Layout,
    first: usize,
    rows: usize,
    scratch: &mut Scratch,
) {
    let (h, w, c) = (input.height, input.width, input.channels);
    let [kernel_h, kernel_w] = ops.kernel;
    let run = kernel_w * c;
    // Where each pixel's field starts, and whether its kernel columns leave the image.
    let field = |r: usize| {
        let p = first + r;
        let (b, y, x) = (p / (out_h * out_w), (p / out_w) % out_h, p % out_w);
        let y0 = (y * ops.stride[0]) as isize - ops.padding.top as isize;
        let x0 = (x * ops.stride[1]) as isize - ops.padding.left as isize;
        (b, y0, x0)
    };
    let clipped = |x0: isize| x0 < 0 || x0 + kernel_w as isize > w as isize;
    // Scratch size: the zero run, then a run per clipped (pixel, row) or the im2col rows.
    let clipped_pixels = if layout.im2col {
        rows
    } else {
        (0..rows).filter(|&r| clipped(field(r).2)).count()
    };
    let needed = run.max(layout.run) + clipped_pixels * kernel_h * run;
    if scratch.values.len() < needed {
        scratch.values.resize(needed, 0.0);
    }
    let zero_run = run.max(layout.run);
    scratch.values[..zero_run].fill(0.0);
    scratch.starts.clear();
    let mut next = zero_run;
    for r in 0..rows {
        let (b, y0, x0) = field(r);
        let image_start = b * h * w * c;
        let copy_row = clipped(x0) || layout.im2col;
        for ky in 0..kernel_h {
            let iy = y0 + ky as isize;
            let inside = iy >= 0 && iy < h as isize;
            if !copy_row {
                scratch.starts.push(if inside {
                    let pixel = (iy as usize * w) as isize + x0;
                    RunStart::Input(image_start + pixel as usize * c)
                } else {
                    RunStart::Scratch(0)
                });
                continue;
            }
            // Build the run with zeros where the kernel leaves the image.
            let segment = &mut scratch.values[next..next + run];
            segment.fill(0.0);
            if inside {
                let kx_lo = (-x0).clamp(0, kernel_w as isize) as usize;
                let kx_hi = (w as isize - x0).clamp(kx_lo as isize, kernel_w as isize) as usize;
                if kx_hi > kx_lo {
                    let pixel = (iy as usize * w) as isize + x0 + kx_lo as isize;
                    let start = image_start + pixel as usize * c;
                    segment[kx_lo * c..kx_hi * c]
                        .copy_from_slice(&input.data[start..start + (kx_hi - kx_lo) * c]);
                }
            }
            // im2col: one run of kernel_h · run values per pixel, from its first row.
            if !layout.im2col || ky == 0 {
                scratch.starts.push(RunStart::Scratch(next));
            }
            next += run;
        }
    }
    debug_assert_eq!(scratch.starts.len(), rows * layout.segments);
    let (input_base, scratch_base) = (input.data.as_ptr(), scratch.values.as_ptr());
    scratch.rows.clear();
    scratch
        .rows
        .extend(scratch.starts.iter().map(|start| match *start {
            // In-bounds offsets (checked above), so `wrapping_add` stays inside each buffer.
            RunStart::Input(offset) => input_base.wrapping_add(offset),
            RunStart::Scratch(offset) => scratch_base.wrapping_add(offset),
        }));
}

/// One tile: every chunk × panel (of `panels`) × 6-pixel block through the micro-kernel.
///
/// # Safety
///
/// AVX2 and FMA must be available; `row_ptrs` holds `rows · layout.segments` pointers to
/// `layout.run` readable floats each; `out_tile` points at `[rows, c_out]` writable values
/// (only the columns of `panels` are written); the residual, if any, has `(first + rows) ·
/// c_out` values or more.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_avx2(
    ops: &ConvOperands<'_>,
    layout: Layout,
    row_ptrs: &[*const f32],
    rows: usize,
    first: usize,
    panels: std::ops::Range<usize>,
    out_tile: *mut f32,
    epilogue: Epilogue<'_>,
) {
    let k_total = layout.segments * layout.run;
    let chunks_per_segment = layout.run.div_ceil(K_CHUNK);
    let chunk_count = layout.segments * chunks_per_segment;
    let residual = epilogue.residual.map(|m| &m.data[first * ops.c_out..]);
    let mut chunk_index = 0;
    for segment in 0..layout.segments {
        for chunk in 0..chunks_per_segment {
            let k0 = chunk * K_CHUNK;
            let kc = K_CHUNK.min(layout.run - k0);
            let first_chunk = chunk_index == 0;
            let last_chunk = chunk_index + 1 == chunk_count;
            chunk_index += 1;
            // One or two panels per micro-kernel call (`Isa::panels_per_call`).
            let step = ops.isa.panels_per_call();
            for panel in panels.clone().step_by(step) {
                let n0 = panel * NR;
                let cols = (NR * step.min(panels.end - panel)).min(ops.c_out - n0);
                // The chunk's weights: rows segment·run + k0 .. + kc of the panel (the next
                // panel's chunk `k_total · 16` floats further).
                let b = ops.panels[(panel * k_total + segment * layout.run + k0) * NR..].as_ptr();
                let finish = last_chunk.then(|| Finish {
                    scale: ops.scale.map(|s| s[n0..].as_ptr()),
                    shift: ops.shift[n0..].as_ptr(),
                    residual: residual.map(|r| r[n0..].as_ptr()),
                    relu: epilogue.relu,
                });
                let mut r0 = 0;
                while r0 < rows {
                    let block = MR.min(rows - r0);
                    let mut a = [std::ptr::null::<f32>(); MR];
                    for (i, a_i) in a.iter_mut().enumerate() {
                        // Missing rows of the last block repeat its last pixel (not stored).
                        let r = r0 + i.min(block - 1);
                        // SAFETY: each run has `layout.run ≥ k0 + kc` values.
                        *a_i = unsafe { row_ptrs[r * layout.segments + segment].add(k0) };
                    }
                    // SAFETY: rows r0..r0 + block of `out_tile`, columns n0..n0 + cols, which
                    // stay inside this item's panels (and `cols ≤ 16 · step`).
                    unsafe {
                        micro_kernel(
                            ops.isa,
                            &a,
                            b,
                            k_total * NR,
                            kc,
                            out_tile.add(r0 * ops.c_out + n0),
                            ops.c_out,
                            block,
                            cols,
                            !first_chunk,
                            finish
                                .as_ref()
                                .map(|f| f.offset_rows(r0, ops.c_out))
                                .as_ref(),
                        );
                    }
                    r0 += block;
                }
            }
        }
    }
}
