//! [`BatchLoader`]: the trainer's batches — each sample decoded and (optionally) augmented as
//! the authors do, in parallel on the rayon pool, the next batches prepared on a background
//! thread while the current step runs (the authors' `DataLoader` with `num_workers`).
//!
//! Deterministic: a sample's augmentation draws come from a generator seeded by `(seed,
//! epoch, sample index)` alone, so a batch is the same whatever the thread count, the
//! prefetch depth, or where a resumed run starts.

use std::ops::ControlFlow;
use std::sync::mpsc::sync_channel;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::augment::AugmentConfig;
use super::sample::{TrainingSample, TrainingSet};
use crate::error::Result;

/// Batches of a [`TrainingSet`], augmented (see the [module docs](self)).
pub struct BatchLoader<'a> {
    set: &'a dyn TrainingSet,
    augment: Option<AugmentConfig>,
    seed: u64,
}

impl<'a> BatchLoader<'a> {
    /// A loader over `set`; `augment` `None` feeds the images un-augmented (the trainer then
    /// applies the inference resize).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`](crate::HoiclipError::Config) for an invalid augmentation.
    pub fn new(
        set: &'a dyn TrainingSet,
        augment: Option<AugmentConfig>,
        seed: u64,
    ) -> Result<Self> {
        if let Some(a) = &augment {
            a.validate()?;
        }
        Ok(Self { set, augment, seed })
    }

    /// The samples in the set.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The generator of sample `index` in `epoch`.
    fn rng(&self, epoch: usize, index: usize) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(((epoch as u64) << 32) ^ index as u64);
        rng
    }

    /// Sample `index` as fed in `epoch`.
    ///
    /// # Errors
    ///
    /// Read, decode and augmentation errors naming the sample.
    pub fn sample(&self, index: usize, epoch: usize) -> Result<TrainingSample> {
        match &self.augment {
            None => self.set.get(index),
            Some(config) => {
                let annotated = self.set.annotated(index)?;
                let augmented = config.augment(annotated, &mut self.rng(epoch, index))?;
                Ok(augmented.into_sample(true))
            }
        }
    }

    /// The samples `indices` of `epoch`, decoded and augmented in parallel, in order.
    ///
    /// # Errors
    ///
    /// The first sample's error, as [`Self::sample`].
    pub fn batch(&self, indices: &[usize], epoch: usize) -> Result<Vec<TrainingSample>> {
        indices.par_iter().map(|&i| self.sample(i, epoch)).collect()
    }

    /// Run `step` on `batches` (sample indices of `epoch`) in order, with batches prepared
    /// ahead on a background thread (up to `depth` waiting, one more being decoded). `step`
    /// gets the batch's position and its samples; it returns `Break` to stop early.
    ///
    /// Call it from a thread outside the rayon pool (the main thread, a thread of your
    /// own): the background thread decodes on that pool while this one waits.
    ///
    /// # Errors
    ///
    /// The first error of a batch (as [`Self::batch`]) or of `step`.
    pub fn for_each_batch(
        &self,
        batches: &[Vec<usize>],
        epoch: usize,
        depth: usize,
        mut step: impl FnMut(usize, Vec<TrainingSample>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        std::thread::scope(|scope| {
            let (sender, receiver) =
                sync_channel::<(usize, Result<Vec<TrainingSample>>)>(depth.max(1));
            scope.spawn(move || {
                for (k, indices) in batches.iter().enumerate() {
                    let batch = self.batch(indices, epoch);
                    let failed = batch.is_err();
                    if sender.send((k, batch)).is_err() || failed {
                        break;
                    }
                }
            });
            let result = (|| {
                for (k, batch) in receiver.iter() {
                    if step(k, batch?)?.is_break() {
                        break;
                    }
                }
                Ok(())
            })();
            // Dropping the receiver makes the producer's next send fail, so it stops.
            drop(receiver);
            result
        })
    }
}

impl std::fmt::Debug for BatchLoader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchLoader")
            .field("samples", &self.set.len())
            .field("augment", &self.augment)
            .field("seed", &self.seed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{AnnotatedBox, AnnotatedSample, Interaction};
    use image::{DynamicImage, RgbImage};

    /// A set whose `annotated` makes a 60×40 image with one pair.
    struct Tiny(usize);

    impl TrainingSet for Tiny {
        fn len(&self) -> usize {
            self.0
        }
        fn annotated(&self, index: usize) -> Result<AnnotatedSample> {
            if index >= self.0 {
                return Err(crate::error::HoiclipError::Training(format!(
                    "no sample {index} (of {})",
                    self.0
                )));
            }
            let image = RgbImage::from_fn(60, 40, |x, y| {
                image::Rgb([(x * 4) as u8, (y * 6) as u8, (index * 20) as u8])
            });
            let b = |xyxy| Some(AnnotatedBox { xyxy, object: 0 });
            Ok(AnnotatedSample {
                name: format!("tiny-{index}"),
                image: DynamicImage::ImageRgb8(image),
                boxes: vec![b([5.0, 5.0, 25.0, 35.0]), b([30.0, 10.0, 55.0, 30.0])],
                interactions: vec![Interaction {
                    subject: 0,
                    object: Some(1),
                    object_label: 0,
                    class: 3,
                }],
            })
        }
    }

    fn small_augment() -> AugmentConfig {
        AugmentConfig {
            scales: vec![24, 32, 40],
            max_size: Some(60),
            crop_scales: vec![30, 36],
            crop_min: 20,
            crop_max: 30,
            ..AugmentConfig::authors()
        }
    }

    fn fingerprint(samples: &[TrainingSample]) -> Vec<(u32, u32, Vec<u8>, String)> {
        samples
            .iter()
            .map(|s| {
                (
                    s.image.width(),
                    s.image.height(),
                    s.image.to_rgb8().into_raw(),
                    format!("{:?}", s.target),
                )
            })
            .collect()
    }

    #[test]
    fn batches_do_not_depend_on_threads_or_prefetch() {
        let set = Tiny(9);
        let loader = BatchLoader::new(&set, Some(small_augment()), 7).unwrap();
        let batches: Vec<Vec<usize>> = vec![vec![3, 1], vec![0, 8], vec![5, 2]];
        let direct: Vec<_> = batches
            .iter()
            .map(|b| fingerprint(&loader.batch(b, 2).unwrap()))
            .collect();
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let serial: Vec<_> = one_thread.install(|| {
            batches
                .iter()
                .map(|b| fingerprint(&loader.batch(b, 2).unwrap()))
                .collect()
        });
        assert_eq!(direct, serial);
        let mut prefetched = Vec::new();
        loader
            .for_each_batch(&batches, 2, 2, |k, samples| {
                assert_eq!(k, prefetched.len());
                prefetched.push(fingerprint(&samples));
                Ok(ControlFlow::Continue(()))
            })
            .unwrap();
        assert_eq!(direct, prefetched);
        assert!(prefetched.iter().flatten().all(|s| s.0 <= 60 && s.1 <= 60));
        // Another epoch draws again.
        let other = fingerprint(&loader.batch(&batches[0], 3).unwrap());
        assert_ne!(direct[0], other);
    }

    #[test]
    fn early_stop_and_errors_end_the_producer() {
        let set = Tiny(4);
        let loader = BatchLoader::new(&set, None, 1).unwrap();
        let batches: Vec<Vec<usize>> = (0..4).map(|i| vec![i]).collect();
        let mut seen = 0;
        loader
            .for_each_batch(&batches, 0, 1, |_, _| {
                seen += 1;
                Ok(ControlFlow::Break(()))
            })
            .unwrap();
        assert_eq!(seen, 1);
        let bad = vec![vec![0], vec![99]];
        let err = loader
            .for_each_batch(&bad, 0, 1, |_, _| Ok(ControlFlow::Continue(())))
            .unwrap_err();
        assert!(err.to_string().contains("99"), "{err}");
    }
}
