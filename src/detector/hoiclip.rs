//! [`Hoiclip`]: the HOICLIP model behind the [`HoiDetector`] trait, with the authors'
//! evaluation post-processing (`PostProcessHOITriplet`, the training-free enhancement and
//! `HICOEvaluator`'s selection).

use std::path::Path;

use burn::tensor::{Device, Tensor};
use image::DynamicImage;

use super::options::{DetectOptions, Enhancement};
use super::{HoiDetection, HoiDetector, Prepared, PreparedBatch};
use crate::detection::box_head::cxcywh_to_xyxy_pixels;
use crate::error::{HoiclipError, Result};
use crate::model::{
    CustomHoiClass, HoiDataset, HoiVocabulary, HoiclipInput, HoiclipModel, HoiclipOutput,
};
use crate::postprocess::{
    Triplet, VerbObjectMask, enhancement_scores, hoi_scores, object_labels, top_k_hois,
    top_k_verbs, triplet_nms, verb_scores,
};

/// The side of the synthetic image the loaders warm a detector up with: the detection
/// branch's shorter side, so the workspaces also reach their working size (measured on the
/// full-size model, 2 cores: first forward 1.12× a warm one, against 1.34× with a 64-pixel
/// image and 2.9× without a warm-up; docs/performance.md).
const WARM_UP_SIDE: u32 = 800;

/// A ready-to-use HOICLIP detector.
///
/// ```no_run
/// use hoiclip::{BackendChoice, HoiDetector, Hoiclip};
///
/// let device = BackendChoice::Flex.device()?;
/// let detector = Hoiclip::from_checkpoint("hico_hoiclip.pth", &device)?;
/// let image = image::open("people.jpg").map_err(|e| hoiclip::HoiclipError::Image {
///     what: "people.jpg".into(),
///     reason: e.to_string(),
/// })?;
/// for d in detector.detect(&image)?.iter().take(5) {
///     println!("{} {} {:.3}", d.verb_name, d.object_name, d.score);
/// }
/// # Ok::<(), hoiclip::HoiclipError>(())
/// ```
///
/// # Sharing between threads
///
/// `Hoiclip` is `Send + Sync` (checked at compile time by `tests/detect_threads.rs`), and
/// [`HoiDetector::detect`] and [`HoiDetector::detect_batch`] take `&self`: load the model
/// once and share one detector, e.g. behind an [`std::sync::Arc`], between threads or a
/// server's request handlers; no lock is needed. Concurrent calls return exactly what one
/// thread would (tested with 4 threads). They share the CPU backend's thread pool, so
/// running calls side by side improves throughput only when one call does not already
/// use every core; batching images ([`HoiDetector::detect_batch`]) is usually better.
/// The methods that change the detector ([`Hoiclip::options_mut`],
/// [`Hoiclip::set_vocabulary`], [`Hoiclip::set_verb_object_mask`]) take `&mut self`: make
/// those changes before sharing it, or keep one detector per configuration.
#[derive(Debug)]
pub struct Hoiclip {
    model: HoiclipModel,
    options: DetectOptions,
    device: Device,
    verb_object_mask: Option<VerbObjectMask>,
}

impl Hoiclip {
    /// Wrap a loaded model with the default options.
    pub fn new(model: HoiclipModel, device: &Device) -> Self {
        Self {
            model,
            options: DetectOptions::default(),
            device: device.clone(),
            verb_object_mask: None,
        }
    }

    /// Load an authors' checkpoint as released (see [`HoiclipModel::from_checkpoint`]),
    /// warmed up ([`HoiclipModel::warm_up`]): the first `detect` runs at the speed of later
    /// ones.
    ///
    /// # Errors
    ///
    /// As [`HoiclipModel::from_checkpoint`].
    pub fn from_checkpoint(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let model = HoiclipModel::from_checkpoint(path, device)?;
        model.warm_up(WARM_UP_SIDE)?;
        Ok(Self::new(model, device))
    }

    /// Load a file written by [`Hoiclip::save_native`] (fast: no text encoding), warmed up as
    /// [`Self::from_checkpoint`].
    ///
    /// # Errors
    ///
    /// As [`HoiclipModel::load_native`].
    pub fn from_native(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let model = HoiclipModel::load_native(path, device)?;
        model.warm_up(WARM_UP_SIDE)?;
        Ok(Self::new(model, device))
    }

    /// Save the model (with its vocabulary and text embeddings) in the native format.
    ///
    /// # Errors
    ///
    /// As [`HoiclipModel::save_native`].
    pub fn save_native(&self, path: impl AsRef<Path>) -> Result<()> {
        self.model.save_native(path)
    }

    /// Replace the options.
    pub fn with_options(mut self, options: DetectOptions) -> Self {
        self.options = options;
        self
    }

    /// The options in use.
    pub fn options(&self) -> &DetectOptions {
        &self.options
    }

    /// The options, to change in place.
    pub fn options_mut(&mut self) -> &mut DetectOptions {
        &mut self.options
    }

    /// The underlying model.
    pub fn model(&self) -> &HoiclipModel {
        &self.model
    }

    /// The HOI classes, verbs and objects the detector reports.
    pub fn vocabulary(&self) -> &HoiVocabulary {
        &self.model.vocabulary
    }

    /// Replace the HOI classes with user prompts (open vocabulary; see
    /// [`crate::model::open_vocabulary`] for how classifiers are built and the limits).
    ///
    /// # Errors
    ///
    /// As [`HoiclipModel::set_vocabulary`].
    /// A verb-object mask set with [`Self::set_verb_object_mask`] is dropped (the new
    /// vocabulary's own mask applies).
    pub fn set_vocabulary(&mut self, classes: &[CustomHoiClass]) -> Result<()> {
        self.model.set_vocabulary(classes)?;
        self.verb_object_mask = None;
        Ok(())
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Preprocess images into one padded batch for [`HoiclipModel::forward`].
    ///
    /// # Errors
    ///
    /// As [`HoiclipInput::from_images`].
    pub fn prepare(&self, images: &[&DynamicImage]) -> Result<HoiclipInput> {
        let clip_px = self.model.config.clip.vision.image_resolution;
        HoiclipInput::from_images(images, clip_px, self.options.resize, &self.device)
    }

    /// Post-process raw outputs into detections, one list per image, best score first.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::InputShape`] when `output` and `original_sizes` disagree in batch size
    /// or the outputs disagree with the vocabulary.
    pub fn postprocess(
        &self,
        output: &HoiclipOutput,
        original_sizes: &[(u32, u32)],
    ) -> Result<Vec<Vec<HoiDetection>>> {
        let [batch, pairs, hois] = output.hoi_logits.dims();
        let objects = output.object_logits.dims()[2];
        if batch != original_sizes.len() {
            return Err(HoiclipError::InputShape {
                name: "original_sizes".into(),
                expected: format!("{batch} sizes, one per image"),
                found: vec![original_sizes.len()],
            });
        }
        let vocabulary = &self.model.vocabulary;
        if hois != vocabulary.classes.len() {
            return Err(HoiclipError::InputShape {
                name: "hoi_logits".into(),
                expected: format!("[batch, pairs, {}]", vocabulary.classes.len()),
                found: vec![batch, pairs, hois],
            });
        }
        vocabulary.validate()?;
        let raw = RawOutputs {
            hoi_logits: host(&output.hoi_logits)?,
            object_logits: host(&output.object_logits)?,
            human_boxes: host(&output.human_boxes)?,
            object_boxes: host(&output.object_boxes)?,
            clip_scores: host(&output.clip_hoi_scores)?,
            pairs,
            hois,
            objects,
        };
        let mut results = Vec::with_capacity(batch);
        for (b, &size) in original_sizes.iter().enumerate() {
            let mut detections = match self.model.config.dataset {
                HoiDataset::HicoDet => self.hico_detections(&raw, b, size)?,
                HoiDataset::Vcoco => self.vcoco_detections(&raw, b, size)?,
            };
            // Stable: equal scores keep the evaluator's order.
            detections.sort_by(|a, b| b.score.total_cmp(&a.score));
            results.push(detections);
        }
        Ok(results)
    }

    /// The verb-object mask used for V-COCO models: the one given with
    /// [`Self::set_verb_object_mask`], else the one implied by the vocabulary's classes
    /// ([`VerbObjectMask::from_classes`]).
    pub fn verb_object_mask(&self) -> VerbObjectMask {
        match &self.verb_object_mask {
            Some(mask) => mask.clone(),
            None => {
                let v = &self.model.vocabulary;
                let verbs: Vec<usize> = v.classes.iter().map(|c| c.verb).collect();
                VerbObjectMask::from_classes(
                    &verbs,
                    &v.class_objects(),
                    v.verbs.len(),
                    v.objects.len(),
                    v.no_object_index(),
                )
            }
        }
    }

    /// Use this verb-object mask for V-COCO models (e.g. the evaluation's `corre_vcoco.npy`
    /// through [`VerbObjectMask::from_correct_mat`]); `None` returns to the vocabulary's.
    pub fn set_verb_object_mask(&mut self, mask: Option<VerbObjectMask>) {
        self.verb_object_mask = mask;
    }

    /// The enhancement of image `b` (`None` when off).
    fn enhancement(&self, raw: &RawOutputs, b: usize) -> Option<Vec<f32>> {
        let scores = &raw.clip_scores[b * raw.hois..(b + 1) * raw.hois];
        match self.options.enhancement {
            Enhancement::Off => None,
            Enhancement::TopK(k) => Some(enhancement_scores(scores, Some(k))),
            Enhancement::All => Some(enhancement_scores(scores, None)),
        }
    }

    /// HICO-DET: the authors' `HICOEvaluator` selection (top-k cells, triplet NMS).
    fn hico_detections(
        &self,
        raw: &RawOutputs,
        b: usize,
        (width, height): (u32, u32),
    ) -> Result<Vec<HoiDetection>> {
        let vocabulary = &self.model.vocabulary;
        let (pairs, hois, objects) = (raw.pairs, raw.hois, raw.objects);
        let enhancement = self.enhancement(raw, b);
        let scores = hoi_scores(
            &raw.hoi_logits[b * pairs * hois..(b + 1) * pairs * hois],
            &raw.object_logits[b * pairs * objects..(b + 1) * pairs * objects],
            &vocabulary.class_objects(),
            pairs,
            hois,
            objects,
            enhancement.as_deref(),
        )?;
        let (w, h) = (width as f32, height as f32);
        let candidates = top_k_hois(&scores, hois, self.options.top_k)?;
        let triplets: Vec<Triplet> = candidates
            .iter()
            .map(|c| Triplet {
                subject: raw.pixel_box(&raw.human_boxes, b, c.pair, w, h),
                object: raw.pixel_box(&raw.object_boxes, b, c.pair, w, h),
                hoi: c.hoi,
                score: c.score,
            })
            .collect();
        let kept: Vec<usize> = match &self.options.nms {
            Some(params) => triplet_nms(&triplets, params),
            None => (0..triplets.len()).collect(),
        };
        let no_object = vocabulary.no_object_index();
        Ok(kept
            .into_iter()
            .filter(|&i| triplets[i].score >= self.options.min_score)
            .map(|i| {
                let t = &triplets[i];
                let class = &vocabulary.classes[t.hoi];
                HoiDetection {
                    subject_box: t.subject,
                    object_box: (Some(class.object) != no_object).then_some(t.object),
                    object_id: class.object,
                    object_name: vocabulary.objects[class.object].clone(),
                    verb_id: class.verb,
                    verb_name: vocabulary.verbs[class.verb].clone(),
                    hoi_id: t.hoi,
                    hoi_prompt: class.prompt.clone(),
                    score: t.score,
                    pair: candidates[i].pair,
                }
            })
            .collect())
    }

    /// V-COCO: the authors' `VCOCOEvaluator` selection (per-verb max, verb-object mask,
    /// top-k (pair, verb) cells, no NMS; see [`crate::postprocess::vcoco`]).
    fn vcoco_detections(
        &self,
        raw: &RawOutputs,
        b: usize,
        (width, height): (u32, u32),
    ) -> Result<Vec<HoiDetection>> {
        let vocabulary = &self.model.vocabulary;
        let (pairs, hois, objects) = (raw.pairs, raw.hois, raw.objects);
        let enhancement = self.enhancement(raw, b);
        let obj_logits = &raw.object_logits[b * pairs * objects..(b + 1) * pairs * objects];
        let class_verbs: Vec<usize> = vocabulary.classes.iter().map(|c| c.verb).collect();
        let scores = verb_scores(
            &raw.hoi_logits[b * pairs * hois..(b + 1) * pairs * hois],
            obj_logits,
            &class_verbs,
            &vocabulary.class_objects(),
            pairs,
            objects,
            vocabulary.verbs.len(),
            enhancement.as_deref(),
        )?;
        let labels = object_labels(obj_logits, pairs, objects)?;
        let mask = self.verb_object_mask();
        let candidates = top_k_verbs(&scores, &labels, &mask, self.options.top_k)?;
        let (w, h) = (width as f32, height as f32);
        let no_object = vocabulary.no_object_index();
        Ok(candidates
            .into_iter()
            .filter(|c| c.score >= f64::from(self.options.min_score))
            .filter_map(|c| {
                let hoi = c.best_class?;
                let object_name = vocabulary.objects.get(c.label)?.clone();
                Some(HoiDetection {
                    subject_box: raw.pixel_box(&raw.human_boxes, b, c.pair, w, h),
                    object_box: (Some(c.label) != no_object)
                        .then(|| raw.pixel_box(&raw.object_boxes, b, c.pair, w, h)),
                    object_id: c.label,
                    object_name,
                    verb_id: c.verb,
                    verb_name: vocabulary.verbs[c.verb].clone(),
                    hoi_id: hoi,
                    hoi_prompt: vocabulary.classes[hoi].prompt.clone(),
                    score: c.score as f32,
                    pair: c.pair,
                })
            })
            .collect())
    }

    /// Run the model on a prepared batch and post-process.
    ///
    /// # Errors
    ///
    /// As [`HoiclipModel::forward`] and [`Hoiclip::postprocess`].
    pub fn detect_prepared(&self, input: &HoiclipInput) -> Result<Vec<Vec<HoiDetection>>> {
        let output = self.model.forward(input)?;
        self.postprocess(&output, &input.original_sizes)
    }
}

impl HoiDetector for Hoiclip {
    /// One image alone (batch of one, no padding).
    fn detect(&self, image: &DynamicImage) -> Result<Vec<HoiDetection>> {
        let input = self.prepare(&[image])?;
        Ok(self
            .detect_prepared(&input)?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// All images in one padded batch, as the reference's evaluation batches them. Padding
    /// changes the backbone's features near the padded edges (as in PyTorch), so results
    /// can differ slightly from [`HoiDetector::detect`] on each image alone.
    fn detect_batch(&self, images: &[DynamicImage]) -> Result<Vec<Vec<HoiDetection>>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let refs: Vec<&DynamicImage> = images.iter().collect();
        let input = self.prepare(&refs)?;
        self.detect_prepared(&input)
    }

    /// The detection branch's input size ([`crate::imaging::detr_transform::detr_target_size`] with the
    /// options' resize).
    fn input_size(&self, image: &DynamicImage) -> (u32, u32) {
        let resize = self.options.resize;
        crate::imaging::detr_transform::detr_target_size(
            image.width(),
            image.height(),
            resize.shorter,
            resize.max_size,
        )
    }

    /// Resizes, normalises and pads the batch ([`Hoiclip::prepare`]).
    fn prepare_batch(&self, images: Vec<DynamicImage>) -> Result<PreparedBatch> {
        if images.is_empty() {
            return Ok(PreparedBatch::images(images));
        }
        let refs: Vec<&DynamicImage> = images.iter().collect();
        Ok(PreparedBatch::hoiclip(self.prepare(&refs)?))
    }

    fn detect_prepared_batch(&self, batch: PreparedBatch) -> Result<Vec<Vec<HoiDetection>>> {
        match batch.0 {
            Prepared::Images(images) => self.detect_batch(&images),
            Prepared::Hoiclip(input) => self.detect_prepared(&input),
        }
    }
}

/// A batch's raw head outputs on the host, row-major.
struct RawOutputs {
    hoi_logits: Vec<f32>,
    object_logits: Vec<f32>,
    human_boxes: Vec<f32>,
    object_boxes: Vec<f32>,
    clip_scores: Vec<f32>,
    pairs: usize,
    hois: usize,
    objects: usize,
}

impl RawOutputs {
    /// Pair `pair` of image `b`'s box in `boxes`, as `[x1, y1, x2, y2]` pixels of a
    /// `w` × `h` image.
    fn pixel_box(&self, boxes: &[f32], b: usize, pair: usize, w: f32, h: f32) -> [f32; 4] {
        let at = (b * self.pairs + pair) * 4;
        cxcywh_to_xyxy_pixels(
            [boxes[at], boxes[at + 1], boxes[at + 2], boxes[at + 3]],
            w,
            h,
        )
    }
}

/// A tensor's values on the host, row-major.
fn host<const D: usize>(t: &Tensor<D>) -> Result<Vec<f32>> {
    t.to_data()
        .try_into_vec::<f32>()
        .map_err(|e| HoiclipError::Backend {
            backend: format!("{:?}", t.device()),
            reason: format!("reading results back: {e:?}"),
        })
}
