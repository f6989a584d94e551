//! [`PackedConv2d`]: a 2-D convolution over channels-last [`FeatureMap`]s as matrix products
//! on the `gemm` crate, with the per-channel affine map (a frozen batch norm or a bias), the
//! residual sum and the ReLU applied while each output tile is still in cache.
//!
//! The output, seen as a matrix `[pixels, c_out]`, is cut into tiles of whole pixel rows;
//! the tiles run in parallel on rayon's pool (one single-threaded product each). A tile's
//! left operand is the input itself for a 1×1 stride-1 convolution, otherwise an im2col
//! block `[tile, kernel_h · kernel_w · c_in]` built in a per-thread buffer (channels-last
//! makes every kernel row one contiguous copy). The weights are packed once as
//! `[kernel_h · kernel_w · c_in, c_out]`.
//!
//! The arithmetic is PyTorch's order: the full dot product, then `· scale + shift`, then
//! `+ residual`, then ReLU (only the summation order inside the dot product differs).

use std::cell::RefCell;

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::conv_avx2;
use super::epilogue::Epilogue;
use super::feature_map::{FeatureMap, MapView};
use super::micro_kernel::{self, Isa};
use super::padding::Padding;
use super::winograd;
use super::workspace::Workspace;
use crate::error::{HoiclipError, Result};

/// A convolution (groups 1, dilation 1) with its weights packed for [`PackedConv2d::forward`]
/// and its per-output-channel affine map.
#[derive(Clone, Debug)]
pub struct PackedConv2d {
    c_in: usize,
    c_out: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: Padding,
    /// The weights in the layout of `kernel`.
    weight: Vec<f32>,
    /// Which implementation runs.
    kernel_path: ConvKernel,
    /// Whether the AVX2 path runs as Winograd F(2×2, 3×3) (`weight` then holds the
    /// transformed weights of [`super::winograd::transform_weights`]).
    winograd: bool,
    /// Per output channel, zero-padded to a multiple of 16; `None` is a scale of 1.
    scale: Option<Vec<f32>>,
    /// Per output channel, zero-padded to a multiple of 16 (zeros when the convolution has
    /// no bias).
    shift: Vec<f32>,
}

/// The implementation a [`PackedConv2d`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKernel {
    /// im2col tiles and the `gemm` crate's products; any CPU. Weights `[k, c_out]`
    /// row-major, row `(ky · kernel_w + kx) · c_in + ci`.
    Portable,
    /// The implicit-GEMM path of [`super::conv_avx2`] (and [`super::winograd`] for 3×3
    /// stride-1 convolutions) on the AVX2 + FMA micro-kernel; x86-64 CPUs with both
    /// features. Weights in panels of 16 output channels.
    Avx2Fma,
    /// The same paths on the AVX-512F micro-kernel; x86-64 CPUs with AVX-512F, AVX2 and FMA.
    /// Weights packed as for `Avx2Fma`.
    Avx512,
}

impl ConvKernel {
    /// The fastest kernel this CPU runs (AVX-512 only while
    /// [`micro_kernel::avx512_enabled`]).
    pub fn best() -> Self {
        match Isa::best() {
            Some(Isa::Avx512) => Self::Avx512,
            Some(Isa::Avx2Fma) => Self::Avx2Fma,
            None => Self::Portable,
        }
    }

    /// `self`, or the fastest kernel this CPU runs among those it does not exceed
    /// (`Avx512` → `Avx2Fma` → `Portable`).
    fn supported(self) -> Self {
        match self {
            Self::Avx512 if micro_kernel::avx512_available() => Self::Avx512,
            Self::Avx512 | Self::Avx2Fma if micro_kernel::is_available() => Self::Avx2Fma,
            _ => Self::Portable,
        }
    }

    /// The micro-kernel's instruction set; `None` for `Portable`.
    fn isa(self) -> Option<Isa> {
        match self {
            Self::Portable => None,
            Self::Avx2Fma => Some(Isa::Avx2Fma),
            Self::Avx512 => Some(Isa::Avx512),
        }
    }
}

// Per-thread im2col buffer, kept between calls so that its pages are not faulted in again.
thread_local! {
    static COLUMNS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Output pixels per tile before the adjustment to the pool size: about what keeps an
/// im2col tile and its output in the per-core caches for ResNet's shapes.
const TILE_PIXELS: usize = 256;

impl PackedConv2d {
    /// Pack PyTorch-layout weights `[c_out, c_in, kernel_h, kernel_w]` (`weight_dims`).
    /// `scale` and `shift` (`[c_out]` each) are the affine map applied to every output
    /// channel after the dot product: a frozen batch norm's, or `None` and the bias.
    ///
    /// Errors with [`HoiclipError::InputShape`] when a length disagrees with the shape and
    /// [`HoiclipError::Config`] for a zero kernel, stride or channel count.
    pub fn from_torch_layout(
        weight: &[f32],
        weight_dims: [usize; 4],
        stride: [usize; 2],
        padding: Padding,
        scale: Option<Vec<f32>>,
        shift: Option<Vec<f32>>,
    ) -> Result<Self> {
        Self::with_kernel(
            ConvKernel::best(),
            weight,
            weight_dims,
            stride,
            padding,
            scale,
            shift,
        )
    }

    /// [`PackedConv2d::from_torch_layout`] for a given implementation (`Avx512` falls back to
    /// `Avx2Fma` on a CPU without AVX-512F, `Avx2Fma` to `Portable` on one without AVX2 and
    /// FMA).
    pub fn with_kernel(
        kernel: ConvKernel,
        weight: &[f32],
        weight_dims: [usize; 4],
        stride: [usize; 2],
        padding: Padding,
        scale: Option<Vec<f32>>,
        shift: Option<Vec<f32>>,
    ) -> Result<Self> {
        let kernel_path = kernel.supported();
        let [c_out, c_in, kernel_h, kernel_w] = weight_dims;
        if weight_dims.contains(&0) || stride.contains(&0) {
            return Err(HoiclipError::Config(format!(
                "convolution with weight {weight_dims:?} and stride {stride:?}: every size must be non-zero"
            )));
        }
        let length_error = |what: &str, expected: usize, found: usize| HoiclipError::InputShape {
            name: format!("convolution {what}"),
            expected: format!("{expected} values for weight {weight_dims:?}"),
            found: vec![found],
        };
        if weight.len() != c_out * c_in * kernel_h * kernel_w {
            return Err(length_error(
                "weight",
                c_out * c_in * kernel_h * kernel_w,
                weight.len(),
            ));
        }
        for (what, values) in [("scale", &scale), ("shift", &shift)] {
            if let Some(values) = values
                && values.len() != c_out
            {
                return Err(length_error(what, c_out, values.len()));
            }
        }
        let k = kernel_h * kernel_w * c_in;
        let mut rows = vec![0.0f32; k * c_out];
        for co in 0..c_out {
            for ci in 0..c_in {
                for ky in 0..kernel_h {
                    for kx in 0..kernel_w {
                        let row = (ky * kernel_w + kx) * c_in + ci;
                        rows[row * c_out + co] =
                            weight[((co * c_in + ci) * kernel_h + ky) * kernel_w + kx];
                    }
                }
            }
        }
        Ok(Self::from_rows(
            kernel_path,
            rows,
            [c_in, c_out],
            [kernel_h, kernel_w],
            stride,
            padding,
            scale,
            shift,
        ))
    }

    /// A linear layer `y = x · weight + bias` as a 1×1 convolution: `weight_in_out` is
    /// `[d_in, d_out]` row-major (Burn's `Linear` layout), `bias` `[d_out]`; rows of the
    /// input map are the vectors. Errors as [`PackedConv2d::from_torch_layout`].
    pub fn linear(
        weight_in_out: &[f32],
        d_in: usize,
        d_out: usize,
        bias: Option<Vec<f32>>,
    ) -> Result<Self> {
        if d_in == 0 || d_out == 0 {
            return Err(HoiclipError::Config(format!(
                "linear layer [{d_in}, {d_out}]: every size must be non-zero"
            )));
        }
        let length_error = |what: &str, expected: usize, found: usize| HoiclipError::InputShape {
            name: format!("linear {what}"),
            expected: format!("{expected} values for [{d_in}, {d_out}]"),
            found: vec![found],
        };
        if weight_in_out.len() != d_in * d_out {
            return Err(length_error("weight", d_in * d_out, weight_in_out.len()));
        }
        if let Some(bias) = &bias
            && bias.len() != d_out
        {
            return Err(length_error("bias", d_out, bias.len()));
        }
        Ok(Self::from_rows(
            ConvKernel::best(),
            weight_in_out.to_vec(),
            [d_in, d_out],
            [1, 1],
            [1, 1],
            Padding::default(),
            None,
            bias,
        ))
    }

    /// From checked weights `[k, c_out]` (row `(ky · kernel_w + kx) · c_in + ci`).
    #[allow(clippy::too_many_arguments)]
    fn from_rows(
        kernel_path: ConvKernel,
        rows: Vec<f32>,
        [c_in, c_out]: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Padding,
        scale: Option<Vec<f32>>,
        shift: Option<Vec<f32>>,
    ) -> Self {
        let k = kernel[0] * kernel[1] * c_in;
        let pad = [padding.top, padding.left, padding.bottom, padding.right];
        let winograd =
            kernel_path.isa().is_some() && winograd::applies(c_in, c_out, kernel, stride, pad);
        let weight = match kernel_path {
            ConvKernel::Portable => rows,
            _ if winograd => winograd::transform_weights(&rows, c_in, c_out),
            ConvKernel::Avx2Fma | ConvKernel::Avx512 => micro_kernel::pack_panels(&rows, k, c_out),
        };
        Self {
            c_in,
            c_out,
            kernel,
            stride,
            padding,
            weight,
            kernel_path,
            winograd,
            scale: scale.map(|s| micro_kernel::pad_to_panels(&s)),
            shift: micro_kernel::pad_to_panels(&shift.unwrap_or_else(|| vec![0.0; c_out])),
        }
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.c_in
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.c_out
    }

    /// The reduction length of each output value, `kernel_h · kernel_w · c_in`.
    pub fn reduction(&self) -> usize {
        self.kernel[0] * self.kernel[1] * self.c_in
    }

    /// The implementation this convolution runs.
    pub fn kernel(&self) -> ConvKernel {
        self.kernel_path
    }

    /// Whether it runs as Winograd F(2×2, 3×3) (AVX2 path, 3×3 stride 1 padding 1, channel
    /// counts multiples of 8).
    pub fn is_winograd(&self) -> bool {
        self.winograd
    }

    /// The output `(height, width)` for an input `(height, width)`: PyTorch's
    /// `⌊(n + pad_before + pad_after − kernel) / stride⌋ + 1`; `None` when the padded input
    /// is smaller than the kernel.
    pub fn output_size(&self, height: usize, width: usize) -> Option<(usize, usize)> {
        let out = |n: usize, before: usize, after: usize, kernel: usize, stride: usize| {
            (n + before + after)
                .checked_sub(kernel)
                .map(|span| span / stride + 1)
        };
        let p = self.padding;
        Some((
            out(height, p.top, p.bottom, self.kernel[0], self.stride[0])?,
            out(width, p.left, p.right, self.kernel[1], self.stride[1])?,
        ))
    }

    /// Whether the input, as a matrix `[pixels, c_in]`, is already the left operand.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == Padding::default()
    }

    /// `input` `[batch, height, width, c_in]` → `[batch, out_h, out_w, c_out]` (see
    /// [`PackedConv2d::output_size`]), the epilogue applied. The output buffer comes from
    /// `workspace`.
    ///
    /// Errors with [`HoiclipError::InputShape`] when the input's channels differ from the
    /// weights', the padded input is smaller than the kernel, or the residual's shape is
    /// not the output's.
    pub fn forward(
        &self,
        input: MapView<'_>,
        epilogue: Epilogue<'_>,
        workspace: &mut Workspace,
    ) -> Result<FeatureMap> {
        let shape_error = |what: &str, expected: String, found: Vec<usize>| {
            Err(HoiclipError::InputShape {
                name: what.into(),
                expected,
                found,
            })
        };
        let input_dims = input.dims().to_vec();
        if input.data.len() != input.pixels() * input.channels {
            return shape_error(
                "convolution input",
                format!(
                    "{} values for {input_dims:?}",
                    input.pixels() * input.channels
                ),
                vec![input.data.len()],
            );
        }
        if input.channels != self.c_in {
            return shape_error(
                "convolution input",
                format!("[batch, height, width, {}]", self.c_in),
                input_dims,
            );
        }
        let Some((out_h, out_w)) = self.output_size(input.height, input.width) else {
            return shape_error(
                "convolution input",
                format!(
                    "a padded size of at least {:?} (kernel) with padding {:?}",
                    self.kernel, self.padding
                ),
                input_dims,
            );
        };
        let out_dims = [input.batch, out_h, out_w, self.c_out];
        if let Some(residual) = epilogue.residual {
            let found = residual.dims();
            if found != out_dims || residual.data.len() != residual.pixels() * residual.channels {
                return shape_error("residual", format!("{out_dims:?}"), found.to_vec());
            }
        }
        let pixels = input.batch * out_h * out_w;
        let mut output = workspace.take(pixels * self.c_out);
        let isa = self.kernel_path.isa();
        if pixels > 0
            && self.winograd
            && let Some(isa) = isa
        {
            let operands = winograd::WinogradOperands {
                isa,
                u: &self.weight,
                scale: self.scale.as_deref(),
                shift: &self.shift,
                c_in: self.c_in,
                c_out: self.c_out,
            };
            winograd::convolve(&operands, input, &mut output, epilogue);
        } else if pixels > 0
            && let Some(isa) = isa
        {
            let operands = conv_avx2::ConvOperands {
                isa,
                panels: &self.weight,
                scale: self.scale.as_deref(),
                shift: &self.shift,
                c_in: self.c_in,
                c_out: self.c_out,
                kernel: self.kernel,
                stride: self.stride,
                padding: self.padding,
            };
            conv_avx2::convolve(&operands, input, (out_h, out_w), &mut output, epilogue);
        } else if pixels > 0 {
            let tile = tile_pixels(pixels);
            output
                .par_chunks_mut(tile * self.c_out)
                .enumerate()
                .for_each(|(index, out_tile)| {
                    let first = index * tile;
                    self.tile_product(input, (out_h, out_w), first, out_tile);
                    self.apply_epilogue(out_tile, first, epilogue);
                });
        }
        FeatureMap::new(output, input.batch, out_h, out_w, self.c_out)
    }

    /// `out_tile` (`[rows, c_out]`, output pixels `first..first + rows`) = the tile's left
    /// operand × the packed weights.
    fn tile_product(
        &self,
        input: MapView<'_>,
        out_size: (usize, usize),
        first: usize,
        out_tile: &mut [f32],
    ) {
        let rows = out_tile.len() / self.c_out;
        if self.is_pointwise() {
            let lhs = &input.data[first * self.c_in..(first + rows) * self.c_in];
            self.product(rows, lhs, self.c_in, out_tile);
            return;
        }
        let k = self.kernel[0] * self.kernel[1] * self.c_in;
        COLUMNS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut columns) => {
                if columns.len() < rows * k {
                    columns.resize(rows * k, 0.0);
                }
                let columns = &mut columns[..rows * k];
                self.im2col(input, out_size, first, columns);
                self.product(rows, columns, k, out_tile);
            }
            // Only reachable if a product ever ran inside another on the same thread.
            Err(_) => {
                let mut columns = vec![0.0f32; rows * k];
                self.im2col(input, out_size, first, &mut columns);
                self.product(rows, &columns, k, out_tile);
            }
        });
    }

    /// `out[rows, c_out] = lhs[rows, k] · weight[k, c_out]`, `lhs` row-major with `k` columns.
    fn product(&self, rows: usize, lhs: &[f32], k: usize, out: &mut [f32]) {
        debug_assert!(lhs.len() >= rows * k && out.len() >= rows * self.c_out);
        debug_assert_eq!(self.weight.len(), k * self.c_out);
        // SAFETY: `out` holds `rows · c_out` values (row stride `c_out`), `lhs` `rows · k`
        // (row stride `k`), the weights `k · c_out` (row stride `c_out`); the three do not
        // overlap, and with `read_dst = false` gemm only writes `out`.
        unsafe {
            gemm(
                rows,
                self.c_out,
                k,
                out.as_mut_ptr(),
                1,
                self.c_out as isize,
                false,
                lhs.as_ptr(),
                1,
                k as isize,
                self.weight.as_ptr(),
                1,
                self.c_out as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    }

    /// Fill `columns` (`[rows, kernel_h · kernel_w · c_in]`) with the receptive fields of
    /// output pixels `first..first + rows`, zeros where they reach into the padding.
    fn im2col(
        &self,
        input: MapView<'_>,
        (out_h, out_w): (usize, usize),
        first: usize,
        columns: &mut [f32],
    ) {
        let (h, w, c) = (input.height, input.width, input.channels);
        let [kernel_h, kernel_w] = self.kernel;
        let k = kernel_h * kernel_w * c;
        let row_span = kernel_w * c;
        for (r, column) in columns.chunks_exact_mut(k).enumerate() {
            let p = first + r;
            let (b, y, x) = (p / (out_h * out_w), (p / out_w) % out_h, p % out_w);
            let image = &input.data[b * h * w * c..(b + 1) * h * w * c];
            // Leftmost input column of the field; the valid kernel columns are kx_lo..kx_hi.
            let x0 = (x * self.stride[1]) as isize - self.padding.left as isize;
            let kx_lo = (-x0).clamp(0, kernel_w as isize) as usize;
            let kx_hi = (w as isize - x0).clamp(kx_lo as isize, kernel_w as isize) as usize;
            for ky in 0..kernel_h {
                let segment = &mut column[ky * row_span..(ky + 1) * row_span];
                let iy = (y * self.stride[0] + ky) as isize - self.padding.top as isize;
                if iy < 0 || iy >= h as isize || kx_lo == kx_hi {
                    segment.fill(0.0);
                    continue;
                }
                segment[..kx_lo * c].fill(0.0);
                let start = (iy as usize * w) as isize + x0 + kx_lo as isize;
                let start = start as usize * c;
                segment[kx_lo * c..kx_hi * c]
                    .copy_from_slice(&image[start..start + (kx_hi - kx_lo) * c]);
                segment[kx_hi * c..].fill(0.0);
            }
        }
    }

    /// The epilogue on `out_tile` (`[rows, c_out]`, output pixels from `first`).
    fn apply_epilogue(&self, out_tile: &mut [f32], first: usize, epilogue: Epilogue<'_>) {
        let c = self.c_out;
        let residual = epilogue
            .residual
            .map(|map| &map.data[first * c..first * c + out_tile.len()]);
        let relu = |v: f32| if v < 0.0 { 0.0 } else { v };
        for (r, row) in out_tile.chunks_exact_mut(c).enumerate() {
            match &self.scale {
                Some(scale) => {
                    for ((v, s), t) in row.iter_mut().zip(scale).zip(&self.shift) {
                        *v = *v * s + t;
                    }
                }
                None => {
                    for (v, t) in row.iter_mut().zip(&self.shift) {
                        *v += t;
                    }
                }
            }
            if let Some(residual) = residual {
                for (v, x) in row.iter_mut().zip(&residual[r * c..(r + 1) * c]) {
                    *v += x;
                }
            }
            if epilogue.relu {
                for v in row.iter_mut() {
                    *v = relu(*v);
                }
            }
        }
    }
}

/// Output pixels per tile: [`TILE_PIXELS`], made smaller for small outputs so that every
/// thread of the pool gets at least two tiles.
fn tile_pixels(pixels: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let balanced = pixels.div_ceil(2 * threads).next_multiple_of(8);
    TILE_PIXELS.min(balanced).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::nn::cpu::test_values::values;

    /// Direct convolution in f64 over channels-first values, the reference.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f32],
        [b, c_in, h, w]: [usize; 4],
        weight: &[f32],
        [c_out, _, kh, kw]: [usize; 4],
        stride: [usize; 2],
        pad: Padding,
        scale: &[f32],
        shift: &[f32],
        relu: bool,
    ) -> (Vec<f32>, usize, usize) {
        let oh = (h + pad.top + pad.bottom - kh) / stride[0] + 1;
        let ow = (w + pad.left + pad.right - kw) / stride[1] + 1;
        let mut out = vec![0.0f32; b * c_out * oh * ow];
        for n in 0..b {
            for co in 0..c_out {
                for y in 0..oh {
                    for xo in 0..ow {
                        let mut acc = 0.0f64;
                        for ci in 0..c_in {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (y * stride[0] + ky) as isize - pad.top as isize;
                                    let ix = (xo * stride[1] + kx) as isize - pad.left as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xv =
                                        x[((n * c_in + ci) * h + iy as usize) * w + ix as usize];
                                    let wv = weight[((co * c_in + ci) * kh + ky) * kw + kx];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                        let v = acc as f32 * scale[co] + shift[co];
                        out[((n * c_out + co) * oh + y) * ow + xo] =
                            if relu { v.max(0.0) } else { v };
                    }
                }
            }
        }
        (out, oh, ow)
    }

    #[test]
    fn matches_direct_convolution_for_every_geometry() {
        // (batch, c_in, h, w, c_out, kernel, stride, padding)
        let cases = [
            (2, 3, 11, 9, 5, 7, 2, Padding::uniform(3)),
            (1, 8, 6, 7, 16, 3, 1, Padding::uniform(1)),
            (2, 5, 7, 6, 4, 3, 2, Padding::uniform(1)),
            (1, 12, 5, 5, 10, 1, 1, Padding::default()),
            (3, 6, 7, 5, 9, 1, 2, Padding::default()),
            (1, 2, 2, 3, 3, 3, 1, Padding::uniform(2)),
            (
                1,
                4,
                4,
                6,
                3,
                3,
                2,
                Padding {
                    top: 0,
                    left: 2,
                    bottom: 1,
                    right: 0,
                },
            ),
            // Runs long enough for the direct (no im2col) path, partial panels, borders.
            (2, 20, 9, 11, 40, 3, 1, Padding::uniform(1)),
            (1, 16, 7, 8, 24, 3, 2, Padding::uniform(1)),
            // Reduction chunks: 3 · 100 values per kernel row.
            (1, 100, 5, 6, 17, 3, 1, Padding::uniform(1)),
            (1, 300, 3, 4, 33, 1, 1, Padding::default()),
            (1, 64, 9, 9, 64, 1, 2, Padding::default()),
            // Winograd F(2×2, 3×3): odd and even sizes, batch of two, 8-channel tails,
            // reductions longer than a chunk.
            (2, 16, 7, 10, 24, 3, 1, Padding::uniform(1)),
            (1, 8, 1, 1, 8, 3, 1, Padding::uniform(1)),
            (1, 264, 6, 5, 40, 3, 1, Padding::uniform(1)),
        ];
        // Each SIMD kernel this CPU runs (an unsupported one falls back and runs again).
        let kernels = [
            ConvKernel::Portable,
            ConvKernel::Avx2Fma,
            ConvKernel::Avx512,
        ];
        for (i, &(b, c_in, h, w, c_out, k, s, pad)) in cases.iter().enumerate() {
            for kernel in kernels {
                let x = values(b * c_in * h * w, 1 + i as u64);
                let weight = values(c_out * c_in * k * k, 100 + i as u64);
                let scale = values(c_out, 200 + i as u64);
                let shift = values(c_out, 300 + i as u64);
                let relu = i % 2 == 0;
                let conv = PackedConv2d::with_kernel(
                    kernel,
                    &weight,
                    [c_out, c_in, k, k],
                    [s, s],
                    pad,
                    Some(scale.clone()),
                    Some(shift.clone()),
                )
                .unwrap();
                let input = FeatureMap::from_nchw(&x, [b, c_in, h, w]).unwrap();
                let mut ws = Workspace::default();
                let out = conv
                    .forward(
                        input.view(),
                        Epilogue {
                            residual: None,
                            relu,
                        },
                        &mut ws,
                    )
                    .unwrap();
                let (expected, oh, ow) = reference(
                    &x,
                    [b, c_in, h, w],
                    &weight,
                    [c_out, c_in, k, k],
                    [s, s],
                    pad,
                    &scale,
                    &shift,
                    relu,
                );
                assert_eq!((out.height, out.width, out.channels), (oh, ow, c_out));
                let err = out
                    .to_nchw()
                    .iter()
                    .zip(&expected)
                    .map(|(a, e)| (a - e).abs())
                    .fold(0.0f32, f32::max);
                // f32 rounding grows with the reduction length and the values' size.
                let largest = expected.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                let tol = 1e-7 * largest * ((c_in * k * k) as f32).sqrt().max(4.0);
                println!(
                    "case {i} {kernel:?} (runs {:?}) winograd {}: max error {err:.2e} (tolerance {tol:.1e})",
                    conv.kernel(),
                    conv.is_winograd()
                );
                assert!(err < tol, "case {i} {kernel:?}: max error {err}");
            }
        }
    }

    #[test]
    fn residual_and_relu_follow_the_affine_map() {
        // (input channels, output channels, pixels): one partial panel; then a reduction of
        // two chunks (accumulated), a full and a partial panel and a partial block of pixels.
        for (c_in, c_out, pixels) in [(3, 2, 4), (300, 20, 7)] {
            for kernel in [
                ConvKernel::Portable,
                ConvKernel::Avx2Fma,
                ConvKernel::Avx512,
            ] {
                let weight = values(c_out * c_in, 7);
                let scale: Vec<f32> = (0..c_out).map(|co| [2.0, -1.0][co % 2]).collect();
                let shift: Vec<f32> = (0..c_out).map(|co| [0.5, 0.25][co % 2]).collect();
                let conv = PackedConv2d::with_kernel(
                    kernel,
                    &weight,
                    [c_out, c_in, 1, 1],
                    [1, 1],
                    Padding::default(),
                    Some(scale.clone()),
                    Some(shift.clone()),
                )
                .unwrap();
                let input = FeatureMap::new(values(pixels * c_in, 8), 1, 1, pixels, c_in).unwrap();
                let residual =
                    FeatureMap::new(values(pixels * c_out, 9), 1, 1, pixels, c_out).unwrap();
                let mut ws = Workspace::default();
                let out = conv
                    .forward(
                        input.view(),
                        Epilogue {
                            residual: Some(residual.view()),
                            relu: true,
                        },
                        &mut ws,
                    )
                    .unwrap();
                for p in 0..pixels {
                    for co in 0..c_out {
                        let dot: f64 = (0..c_in)
                            .map(|ci| {
                                input.data[p * c_in + ci] as f64 * weight[co * c_in + ci] as f64
                            })
                            .sum();
                        let v =
                            (dot as f32 * scale[co] + shift[co] + residual.data[p * c_out + co])
                                .max(0.0);
                        let tol = 1e-6 * (c_in as f32).sqrt().max(1.0);
                        let found = out.data[p * c_out + co];
                        assert!(
                            (found - v).abs() < tol,
                            "{kernel:?} ({:?}) pixel {p} channel {co}: {found} vs {v}",
                            conv.kernel()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let conv = PackedConv2d::from_torch_layout(
            &[0.0; 2 * 3 * 9],
            [2, 3, 3, 3],
            [1, 1],
            Padding::default(),
            None,
            None,
        )
        .unwrap();
        let mut ws = Workspace::default();
        let wrong_channels = FeatureMap::new(vec![0.0; 16], 1, 4, 4, 1).unwrap();
        assert!(
            conv.forward(wrong_channels.view(), Epilogue::default(), &mut ws)
                .is_err()
        );
        let too_small = FeatureMap::new(vec![0.0; 12], 1, 2, 2, 3).unwrap();
        assert!(
            conv.forward(too_small.view(), Epilogue::default(), &mut ws)
                .is_err()
        );
        let input = FeatureMap::new(vec![0.0; 48], 1, 4, 4, 3).unwrap();
        let wrong_residual = FeatureMap::new(vec![0.0; 8], 1, 4, 1, 2).unwrap();
        let epilogue = Epilogue {
            residual: Some(wrong_residual.view()),
            relu: false,
        };
        assert!(conv.forward(input.view(), epilogue, &mut ws).is_err());
        assert!(
            PackedConv2d::from_torch_layout(
                &[0.0; 3],
                [2, 3, 3, 3],
                [1, 1],
                Padding::default(),
                None,
                None
            )
            .is_err()
        );
        assert!(
            PackedConv2d::from_torch_layout(
                &[],
                [0, 3, 3, 3],
                [1, 1],
                Padding::default(),
                None,
                None
            )
            .is_err()
        );
    }
}
