//! Detection over many images with decoding and preprocessing overlapped with the forward
//! pass: a second thread decodes and prepares the next batch
//! ([`HoiDetector::prepare_batch`]) while the current one runs
//! ([`HoiDetector::detect_prepared_batch`]), as the authors' evaluation loop overlaps its
//! `DataLoader` workers with the model.
//!
//! [`Batching`] says how images are grouped:
//!
//! - [`Batching::InOrder`]: consecutive images, `n` at a time, padded to the largest (the
//!   authors' evaluation batches, 2 per device). Padding changes the backbone's features near
//!   the padded edges, so an image's detections depend on its batch partner.
//! - [`Batching::SameSize`]: images the detector resizes to the same size (from a look-ahead
//!   window), up to `n` at a time, never padded: each image's detections are those of
//!   [`HoiDetector::detect`] on it alone up to float rounding (a batch changes the shapes of
//!   the matrix products, whose summation order may then differ, depending on the CPU), and
//!   no time goes into padding.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use image::DynamicImage;

use super::{HoiDetection, HoiDetector, PreparedBatch};
use crate::error::{HoiclipError, Result};

/// How [`detect_pipelined`] groups images into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Consecutive images, up to `n` per batch (at least 1), padded to the largest: the
    /// authors' evaluation loop (`--batch_size 2` per device). Results come in input order.
    InOrder(usize),
    /// Up to `n` images (at least 1) that resize to the same detector input size, from a
    /// look-ahead window of `max(4 n, 8)` decoded images; no padding, so each image's
    /// detections equal [`HoiDetector::detect`] on it alone, up to float rounding. Batches come out of input order
    /// (an image waits at most until the window is full).
    SameSize(usize),
}

impl Batching {
    /// Images per batch at most.
    pub fn batch_size(self) -> usize {
        match self {
            Self::InOrder(n) | Self::SameSize(n) => n.max(1),
        }
    }
}

impl Default for Batching {
    /// One image at a time.
    fn default() -> Self {
        Self::InOrder(1)
    }
}

impl std::str::FromStr for Batching {
    type Err = HoiclipError;

    /// `in-order:N` or `same-size:N` (`N` defaults to 2: `in-order` is the authors' loop).
    fn from_str(text: &str) -> Result<Self> {
        let (kind, size) = match text.split_once(':') {
            Some((kind, size)) => (kind, Some(size)),
            None => (text, None),
        };
        let size = match size {
            None => 2,
            Some(size) => match size.parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(HoiclipError::Config(format!(
                        "batching `{text}`: the batch size `{size}` is not a whole number ≥ 1"
                    )));
                }
            },
        };
        match kind {
            "in-order" => Ok(Self::InOrder(size)),
            "same-size" => Ok(Self::SameSize(size)),
            _ => Err(HoiclipError::Config(format!(
                "batching `{text}`: expected `in-order[:N]` or `same-size[:N]`"
            ))),
        }
    }
}

/// How [`detect_pipelined`] runs: the [`Batching`], and how many batches run at once.
///
/// `in_flight` > 1 runs that many batches concurrently on the same detector (it is
/// `Send + Sync`): on a CPU backend the stages of one pass that do not use every core (the
/// serial glue between kernels) overlap with another pass's parallel work. Each concurrent
/// pass holds its own activations (≈ 250 MB at 800×1066 on the CPU kernels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pipeline {
    /// How images are grouped into batches.
    pub batching: Batching,
    /// Batches run at once (at least 1).
    pub in_flight: usize,
}

impl From<Batching> for Pipeline {
    /// One batch at a time.
    fn from(batching: Batching) -> Self {
        Self {
            batching,
            in_flight: 1,
        }
    }
}

/// Runs `detector` on every item of `items`, loading each with `load` on a second thread that
/// works one batch ahead of the model. `sink` receives each batch's item indices and
/// detections (one list per index, in the same order) as soon as the batch is done.
///
/// An error from `load`, the detector or `sink` stops the run: batches finished before it
/// have reached `sink`; with [`Batching::SameSize`], images decoded before a failing one are
/// still run before the error is returned. With `in_flight` > 1 ([`Pipeline`]) batches may
/// finish, and reach `sink`, out of order.
///
/// # Errors
///
/// The first error of `load`, [`HoiDetector::prepare_batch`],
/// [`HoiDetector::detect_prepared_batch`] or `sink`; [`HoiclipError::Config`] when the
/// detector returns a different number of result lists than images.
pub fn detect_pipelined<D, T, L, S>(
    detector: &D,
    items: &[T],
    pipeline: impl Into<Pipeline>,
    load: L,
    mut sink: S,
) -> Result<()>
where
    D: HoiDetector + ?Sized,
    T: Sync,
    L: Fn(&T) -> Result<DynamicImage> + Sync,
    S: FnMut(&[usize], Vec<Vec<HoiDetection>>) -> Result<()>,
{
    let Pipeline {
        batching,
        in_flight,
    } = pipeline.into();
    if items.is_empty() {
        return Ok(());
    }
    // One prepared batch waits while others run: the decoder stays a batch ahead.
    let (sender, receiver) = sync_channel::<Result<ReadyBatch>>(1);
    // Shared by the runners; the last one to stop drops it, which stops the producer at its
    // next send.
    let receiver = Arc::new(Mutex::new(receiver));
    // A rendezvous: a runner hands its result over before it takes the next batch, so after
    // an error at most `in_flight` more batches run.
    let (done_sender, done) = sync_channel::<Result<(Vec<usize>, Vec<Vec<HoiDetection>>)>>(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let load = &load;
        scope.spawn(move || {
            let producer = Producer { detector, sender };
            match batching {
                Batching::InOrder(n) => producer.in_order(items, n.max(1), load),
                Batching::SameSize(n) => producer.same_size(items, n.max(1), load),
            }
        });
        for _ in 0..in_flight.max(1) {
            let receiver = Arc::clone(&receiver);
            let done_sender = done_sender.clone();
            let stop = &stop;
            scope.spawn(move || {
                loop {
                    let message = match receiver.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => break,
                    };
                    let Ok(message) = message else { break };
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = message.and_then(|(indices, batch)| {
                        detector
                            .detect_prepared_batch(batch)
                            .map(|results| (indices, results))
                    });
                    if done_sender.send(result).is_err() {
                        break;
                    }
                }
            });
        }
        drop((receiver, done_sender));
        let outcome = (|| {
            for result in done {
                let (indices, results) = result?;
                if results.len() != indices.len() {
                    return Err(HoiclipError::Config(format!(
                        "the detector returned {} results for a batch of {} images",
                        results.len(),
                        indices.len()
                    )));
                }
                sink(&indices, results)?;
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        outcome
    })
}

/// Runs `detector` over image files ([`crate::imaging::open_image`]), batched as
/// `pipeline` says ([`Batching`] or [`Pipeline`]) with decoding overlapped
/// ([`detect_pipelined`]); one result list per path, in the order of `paths`.
///
/// # Errors
///
/// As [`detect_pipelined`]; [`HoiclipError::Image`] naming a file that cannot be read or
/// decoded.
pub fn detect_files<D, P>(
    detector: &D,
    paths: &[P],
    pipeline: impl Into<Pipeline>,
) -> Result<Vec<Vec<HoiDetection>>>
where
    D: HoiDetector + ?Sized,
    P: AsRef<std::path::Path> + Sync,
{
    let mut results: Vec<Vec<HoiDetection>> = vec![Vec::new(); paths.len()];
    detect_pipelined(
        detector,
        paths,
        pipeline,
        |path| crate::imaging::open_image(path.as_ref()),
        |indices, detections| {
            for (&i, d) in indices.iter().zip(detections) {
                results[i] = d;
            }
            Ok(())
        },
    )?;
    Ok(results)
}

/// A batch ready for the model: the indices of its items and the prepared input.
type ReadyBatch = (Vec<usize>, PreparedBatch);

/// The decoding side of [`detect_pipelined`].
struct Producer<'d, D: ?Sized> {
    detector: &'d D,
    sender: SyncSender<Result<ReadyBatch>>,
}

impl<D: HoiDetector + ?Sized> Producer<'_, D> {
    /// Prepares `images` (items `indices`) and hands them over; `false` when the run is over
    /// (the consumer stopped, or preparing failed and the error was handed over).
    fn emit(&self, indices: Vec<usize>, images: Vec<DynamicImage>) -> bool {
        match self.detector.prepare_batch(images) {
            Ok(batch) => self.sender.send(Ok((indices, batch))).is_ok(),
            Err(e) => {
                let _ = self.sender.send(Err(e));
                false
            }
        }
    }

    fn in_order<T, L>(&self, items: &[T], n: usize, load: &L)
    where
        L: Fn(&T) -> Result<DynamicImage>,
    {
        for (chunk_index, chunk) in items.chunks(n).enumerate() {
            let mut images = Vec::with_capacity(chunk.len());
            for item in chunk {
                match load(item) {
                    Ok(image) => images.push(image),
                    Err(e) => {
                        let _ = self.sender.send(Err(e));
                        return;
                    }
                }
            }
            let first = chunk_index * n;
            if !self.emit((first..first + chunk.len()).collect(), images) {
                return;
            }
        }
    }

    fn same_size<T, L>(&self, items: &[T], n: usize, load: &L)
    where
        L: Fn(&T) -> Result<DynamicImage>,
    {
        let window = (4 * n).max(8);
        // Decoded images not yet handed over, oldest first: (item index, input size, image).
        let mut pending: Vec<(usize, (u32, u32), DynamicImage)> = Vec::with_capacity(window);
        for (index, item) in items.iter().enumerate() {
            let image = match load(item) {
                Ok(image) => image,
                Err(e) => {
                    // Run what was decoded before the failing image, then report it.
                    while !pending.is_empty() {
                        if !self.emit_group(&mut pending, n) {
                            return;
                        }
                    }
                    let _ = self.sender.send(Err(e));
                    return;
                }
            };
            let size = self.detector.input_size(&image);
            pending.push((index, size, image));
            let same = pending.iter().filter(|(_, s, _)| *s == size).count();
            let ready = if same == n {
                Some(size)
            } else if pending.len() >= window {
                Some(pending[0].1)
            } else {
                None
            };
            if let Some(size) = ready
                && !self.emit_size(&mut pending, size, n)
            {
                return;
            }
        }
        while !pending.is_empty() {
            if !self.emit_group(&mut pending, n) {
                return;
            }
        }
    }

    /// Emits the oldest pending image with up to `n - 1` others of its size.
    fn emit_group(&self, pending: &mut Vec<(usize, (u32, u32), DynamicImage)>, n: usize) -> bool {
        let size = pending[0].1;
        self.emit_size(pending, size, n)
    }

    /// Emits up to `n` pending images of input size `size`, oldest first.
    fn emit_size(
        &self,
        pending: &mut Vec<(usize, (u32, u32), DynamicImage)>,
        size: (u32, u32),
        n: usize,
    ) -> bool {
        let mut indices = Vec::with_capacity(n);
        let mut images = Vec::with_capacity(n);
        let mut kept = Vec::with_capacity(pending.len());
        for (index, s, image) in pending.drain(..) {
            if s == size && indices.len() < n {
                indices.push(index);
                images.push(image);
            } else {
                kept.push((index, s, image));
            }
        }
        *pending = kept;
        self.emit(indices, images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A detector that reports each image's size as one detection's score, and records the
    /// batches it was given.
    #[derive(Default)]
    struct SizeEcho {
        batches: Mutex<Vec<Vec<(u32, u32)>>>,
    }

    impl HoiDetector for SizeEcho {
        fn detect(&self, image: &DynamicImage) -> Result<Vec<HoiDetection>> {
            Ok(vec![HoiDetection {
                subject_box: [0.0; 4],
                object_box: None,
                object_id: 0,
                object_name: String::new(),
                verb_id: 0,
                verb_name: String::new(),
                hoi_id: 0,
                hoi_prompt: String::new(),
                score: (image.width() * 1000 + image.height()) as f32,
                pair: 0,
            }])
        }

        fn detect_batch(&self, images: &[DynamicImage]) -> Result<Vec<Vec<HoiDetection>>> {
            let sizes = images.iter().map(|i| (i.width(), i.height())).collect();
            self.batches
                .lock()
                .map_err(|_| HoiclipError::Config("poisoned".into()))?
                .push(sizes);
            images.iter().map(|i| self.detect(i)).collect()
        }
    }

    fn image(w: u32, h: u32) -> DynamicImage {
        DynamicImage::new_rgb8(w, h)
    }

    fn run(sizes: &[(u32, u32)], batching: Batching) -> (Vec<f32>, Vec<Vec<(u32, u32)>>) {
        let detector = SizeEcho::default();
        let mut scores = vec![0.0; sizes.len()];
        detect_pipelined(
            &detector,
            sizes,
            batching,
            |&(w, h)| Ok(image(w, h)),
            |indices, results| {
                for (&i, r) in indices.iter().zip(results) {
                    scores[i] = r[0].score;
                }
                Ok(())
            },
        )
        .expect("pipelined run");
        let batches = detector.batches.into_inner().expect("lock");
        (scores, batches)
    }

    #[test]
    fn in_order_batches_consecutive_images() {
        let sizes = [(4, 3), (3, 4), (4, 3), (5, 5), (4, 3)];
        let (scores, batches) = run(&sizes, Batching::InOrder(2));
        let expected: Vec<f32> = sizes.iter().map(|&(w, h)| (w * 1000 + h) as f32).collect();
        assert_eq!(scores, expected);
        assert_eq!(
            batches,
            vec![vec![(4, 3), (3, 4)], vec![(4, 3), (5, 5)], vec![(4, 3)]]
        );
    }

    #[test]
    fn same_size_groups_equal_sizes_and_keeps_every_image() {
        let sizes = [(4, 3), (3, 4), (5, 5), (4, 3), (3, 4), (7, 7)];
        let (scores, batches) = run(&sizes, Batching::SameSize(2));
        let expected: Vec<f32> = sizes.iter().map(|&(w, h)| (w * 1000 + h) as f32).collect();
        assert_eq!(scores, expected, "every image once, results by index");
        for batch in &batches {
            assert!(batch.len() <= 2);
            assert!(
                batch.iter().all(|s| *s == batch[0]),
                "mixed sizes: {batch:?}"
            );
        }
        assert_eq!(batches[0], vec![(4, 3), (4, 3)]);
        assert_eq!(batches[1], vec![(3, 4), (3, 4)]);
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), sizes.len());
    }

    #[test]
    fn same_size_window_bounds_the_wait() {
        // Ten different sizes then a repeat of the first: the window (8) forces the oldest
        // out alone before the repeat arrives.
        let mut sizes: Vec<(u32, u32)> = (1..=10).map(|i| (i, i)).collect();
        sizes.push((1, 1));
        let (_, batches) = run(&sizes, Batching::SameSize(2));
        assert_eq!(batches[0], vec![(1, 1)]);
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), sizes.len());
    }

    #[test]
    fn a_load_error_stops_the_run_after_earlier_batches() {
        let detector = SizeEcho::default();
        let items = [1u32, 2, 0, 4];
        let mut done = Vec::new();
        let err = detect_pipelined(
            &detector,
            &items,
            Batching::InOrder(1),
            |&w| {
                if w == 0 {
                    Err(HoiclipError::Image {
                        what: "item 2".into(),
                        reason: "broken".into(),
                    })
                } else {
                    Ok(image(w, w))
                }
            },
            |indices, _| {
                done.extend_from_slice(indices);
                Ok(())
            },
        )
        .expect_err("the broken item fails the run");
        assert!(err.to_string().contains("item 2"), "{err}");
        assert_eq!(done, vec![0, 1]);
    }

    #[test]
    fn a_sink_error_stops_the_producer() {
        let detector = SizeEcho::default();
        let items: Vec<u32> = (1..=50).collect();
        let mut calls = 0;
        let err = detect_pipelined(
            &detector,
            &items,
            Batching::InOrder(1),
            |&w| Ok(image(w, 1)),
            |_, _| {
                calls += 1;
                Err(HoiclipError::Config("disk full".into()))
            },
        )
        .expect_err("the sink's error");
        assert!(err.to_string().contains("disk full"));
        assert_eq!(calls, 1);
        let batches = detector.batches.into_inner().expect("lock");
        // The runner may have run the next batch while the sink ran (one in flight); nothing
        // after it.
        assert!(batches.len() <= 2, "{} batches ran", batches.len());
    }

    #[test]
    fn batches_in_flight_give_the_same_results() {
        let sizes: Vec<(u32, u32)> = (1..=9).map(|i| (i % 3 + 1, i)).collect();
        let detector = SizeEcho::default();
        let mut scores = vec![0.0; sizes.len()];
        let mut calls = 0;
        let pipeline = Pipeline {
            batching: Batching::SameSize(2),
            in_flight: 3,
        };
        detect_pipelined(
            &detector,
            &sizes,
            pipeline,
            |&(w, h)| Ok(image(w, h)),
            |indices, results| {
                calls += 1;
                for (&i, r) in indices.iter().zip(results) {
                    scores[i] = r[0].score;
                }
                Ok(())
            },
        )
        .expect("pipelined run");
        let expected: Vec<f32> = sizes.iter().map(|&(w, h)| (w * 1000 + h) as f32).collect();
        assert_eq!(scores, expected);
        let batches = detector.batches.into_inner().expect("lock");
        assert_eq!(calls, batches.len());
    }

    #[test]
    fn batching_parses() {
        assert_eq!(
            "in-order".parse::<Batching>().ok(),
            Some(Batching::InOrder(2))
        );
        assert_eq!(
            "same-size:4".parse::<Batching>().ok(),
            Some(Batching::SameSize(4))
        );
        for bad in ["same-size:0", "sorted", "in-order:x"] {
            let err = bad.parse::<Batching>().expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
