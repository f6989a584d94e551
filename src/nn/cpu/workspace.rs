//! [`Workspace`]: buffers recycled across the layers of one forward pass.
//!
//! Activation maps at detection resolutions are tens of megabytes; the allocator hands such
//! blocks straight to the kernel (mmap) and takes them back on free, so every fresh map would
//! fault in and zero its pages again. Within a pass the same sizes come back layer after
//! layer, so maps are returned here and handed out again.

use super::feature_map::FeatureMap;

/// A free list of `f32` buffers. Buffers handed out hold arbitrary (earlier) values.
#[derive(Debug, Default)]
pub struct Workspace {
    free: Vec<Vec<f32>>,
}

impl Workspace {
    /// A buffer of exactly `len` values (contents unspecified): the smallest free buffer
    /// that can hold them, or a new one.
    pub fn take(&mut self, len: usize) -> Vec<f32> {
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, buffer)| buffer.capacity() >= len)
            .min_by_key(|(_, buffer)| buffer.capacity())
            .map(|(index, _)| index);
        match best {
            Some(index) => {
                let mut buffer = self.free.swap_remove(index);
                buffer.resize(len, 0.0);
                buffer.truncate(len);
                buffer
            }
            None => vec![0.0; len],
        }
    }

    /// Return a buffer for reuse.
    pub fn give(&mut self, buffer: Vec<f32>) {
        if buffer.capacity() > 0 {
            self.free.push(buffer);
        }
    }

    /// Return a map's buffer for reuse.
    pub fn recycle(&mut self, map: FeatureMap) {
        self.give(map.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_the_smallest_buffer_that_fits() {
        let mut ws = Workspace::default();
        ws.give(vec![1.0; 100]);
        ws.give(vec![2.0; 10]);
        let b = ws.take(8);
        assert_eq!((b.len(), b.capacity()), (8, 10));
        let b = ws.take(50);
        assert_eq!(b.len(), 50);
        assert!(b.capacity() >= 100);
        assert_eq!(ws.take(5).len(), 5);
    }
}
