//! The trainer's side of the data: the epoch order of the authors' sampler, and a synthetic
//! set for demos and tests. Samples and readers are in [`crate::data`].

use image::{DynamicImage, Rgb, RgbImage};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::{HoiTarget, InMemorySet, TrainingSample};
use crate::error::{HoiclipError, Result};

/// The order of the samples in `epoch`: a shuffle seeded by `(seed, epoch)` (the reference
/// reshuffles each epoch; seeding by epoch makes a resumed run see the same order), then
/// cut into `len / batch_size` full batches (`drop_last=True`).
pub fn epoch_batches(len: usize, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
        .chunks_exact(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// One class of the synthetic set: its HOI class (a column of the model's classifier) and
/// object class (a column of the object classifier).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyntheticClass {
    /// The HOI class index.
    pub hoi: usize,
    /// The object class index.
    pub object: usize,
}

/// A synthetic set of `count` images of `width × height`: each a smooth noisy background
/// with a "person" (a tall reddish rectangle) and an "object" (a square whose colour says
/// its class) at random places, annotated with one pair of class `classes[i % len]`.
/// Deterministic in `seed`. For demos and tests: it needs no download.
///
/// # Errors
///
/// [`HoiclipError::Training`] when `classes` is empty or the size is under 32 pixels.
pub fn synthetic_set(
    count: usize,
    classes: &[SyntheticClass],
    width: u32,
    height: u32,
    seed: u64,
) -> Result<InMemorySet> {
    if classes.is_empty() {
        return Err(HoiclipError::Training(
            "the synthetic set needs at least one class".into(),
        ));
    }
    if width < 32 || height < 32 {
        return Err(HoiclipError::Training(format!(
            "synthetic images must be at least 32×32 pixels, got {width}×{height}"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (w, h) = (width as f32, height as f32);
    let samples = (0..count)
        .map(|i| {
            let class = classes[i % classes.len()];
            let mut image = RgbImage::new(width, height);
            let base: [f32; 3] = [
                rng.random_range(60.0..120.0),
                90.0,
                rng.random_range(60.0..120.0),
            ];
            for (x, y, px) in image.enumerate_pixels_mut() {
                let wave = ((x as f32 * 0.21).sin() + (y as f32 * 0.17).cos()) * 12.0;
                *px = Rgb(base.map(|b| (b + wave).clamp(0.0, 255.0) as u8));
            }
            // Person: a tall box on the left half; object: a square on the right half.
            let pw = rng.random_range(0.16..0.26) * w;
            let ph = rng.random_range(0.45..0.7) * h;
            let px0 = rng.random_range(0.03..0.45) * w;
            let py0 = rng.random_range(0.05..(0.95 - ph / h).max(0.06)) * h;
            let side = rng.random_range(0.14..0.22) * w.min(h);
            let ox0 = rng.random_range(0.55..(0.97 - side / w).max(0.56)) * w;
            let oy0 = rng.random_range(0.1..(0.95 - side / h).max(0.11)) * h;
            let hue = (class.object * 67 % 256) as u8;
            let object_colour = Rgb([hue, 255 - hue, (hue / 2).wrapping_add(90)]);
            fill(&mut image, px0, py0, pw, ph, Rgb([220, 40, 40]));
            fill(&mut image, ox0, oy0, side, side, object_colour);
            let cxcywh = |x0: f32, y0: f32, bw: f32, bh: f32| {
                [(x0 + bw / 2.0) / w, (y0 + bh / 2.0) / h, bw / w, bh / h]
            };
            TrainingSample {
                name: format!("synthetic-{i:04}"),
                image: DynamicImage::ImageRgb8(image),
                target: HoiTarget {
                    human_boxes: vec![cxcywh(px0, py0, pw, ph)],
                    object_boxes: vec![cxcywh(ox0, oy0, side, side)],
                    object_labels: vec![class.object],
                    hoi_labels: vec![vec![class.hoi]],
                },
                augmented: false,
            }
        })
        .collect();
    Ok(InMemorySet { samples })
}

fn fill(image: &mut RgbImage, x0: f32, y0: f32, w: f32, h: f32, colour: Rgb<u8>) {
    let (iw, ih) = image.dimensions();
    let xs = (x0.max(0.0) as u32)..((x0 + w).min(iw as f32) as u32);
    let ys = (y0.max(0.0) as u32)..((y0 + h).min(ih as f32) as u32);
    for y in ys {
        for x in xs.clone() {
            image.put_pixel(x, y, colour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_batches_are_deterministic_and_drop_the_last_partial_batch() {
        let a = epoch_batches(7, 2, 42, 3);
        assert_eq!(a, epoch_batches(7, 2, 42, 3));
        assert_eq!(a.len(), 3);
        assert_ne!(a, epoch_batches(7, 2, 42, 4));
        let mut seen: Vec<usize> = a.concat();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn synthetic_boxes_lie_inside_the_image() {
        let set = synthetic_set(6, &[SyntheticClass { hoi: 3, object: 1 }], 64, 48, 1).unwrap();
        for s in &set.samples {
            s.target.validate(&s.name, 600, 81).unwrap();
            for b in s.target.human_boxes.iter().chain(&s.target.object_boxes) {
                assert!(
                    b[0] - b[2] / 2.0 >= -1e-6 && b[0] + b[2] / 2.0 <= 1.0 + 1e-6,
                    "{b:?}"
                );
                assert!(
                    b[1] - b[3] / 2.0 >= -1e-6 && b[1] + b[3] / 2.0 <= 1.0 + 1e-6,
                    "{b:?}"
                );
            }
        }
    }
}
