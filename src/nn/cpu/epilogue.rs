//! [`Epilogue`]: what a product's output tile gets before it is stored (a residual sum and
//! a ReLU, after the per-channel affine map the packed operator holds), shared by every
//! convolution path.

use super::feature_map::MapView;

/// What follows the convolution's dot products, per output value `v` of channel `c`:
/// `v · scale[c] + shift[c]`, then `+ residual`, then ReLU.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// A map of the output's shape added after the affine map (a residual connection).
    pub residual: Option<MapView<'a>>,
    /// Apply ReLU last (`NaN` stays `NaN`, as in PyTorch).
    pub relu: bool,
}
