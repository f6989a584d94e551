//! [`Padding`]: the zero padding around a convolution's input, per side.

/// Padding of a convolution's input, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Padding {
    /// Rows above.
    pub top: usize,
    /// Columns on the left.
    pub left: usize,
    /// Rows below.
    pub bottom: usize,
    /// Columns on the right.
    pub right: usize,
}

impl Padding {
    /// The same padding on every side.
    pub fn uniform(pixels: usize) -> Self {
        Self {
            top: pixels,
            left: pixels,
            bottom: pixels,
            right: pixels,
        }
    }
}
