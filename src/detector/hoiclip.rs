//! [`Hoiclip`]: the HOICLIP model behind the [`HoiDetector`] trait, with the authors'
//! evaluation post-processing (`PostProcessHOITriplet`, the training-free enhancement and
//! `HICOEvaluator`'s selection).

use std::path::Path;

use burn::tensor::{Device, Tensor};
use image::DynamicImage;

use super::options::{DetectOptions, Enhancement};
use super::{HoiDetection, HoiDetector};
use crate::detection::box_head::cxcywh_to_xyxy_pixels;
use crate::error::{HoiclipError, Result};
use crate::model::{CustomHoiClass, HoiVocabulary, HoiclipInput, HoiclipModel, HoiclipOutput};
use crate::postprocess::{Triplet, enhancement_scores, hoi_scores, top_k_hois, triplet_nms};

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
#[derive(Debug)]
pub struct Hoiclip {
    model: HoiclipModel,
    options: DetectOptions,
    device: Device,
}

impl Hoiclip {
    /// Wrap a loaded model with the default options.
    pub fn new(model: HoiclipModel, device: &Device) -> Self {
        Self {
            model,
            options: DetectOptions::default(),
            device: device.clone(),
        }
    }

    /// Load an authors' checkpoint as released (see [`HoiclipModel::from_checkpoint`]).
    ///
    /// # Errors
    ///
    /// As [`HoiclipModel::from_checkpoint`].
    pub fn from_checkpoint(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Ok(Self::new(
            HoiclipModel::from_checkpoint(path, device)?,
            device,
        ))
    }

    /// Load a file written by [`Hoiclip::save_native`] (fast: no text encoding).
    ///
    /// # Errors
    ///
    /// As [`HoiclipModel::load_native`].
    pub fn from_native(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Ok(Self::new(HoiclipModel::load_native(path, device)?, device))
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
    pub fn set_vocabulary(&mut self, classes: &[CustomHoiClass]) -> Result<()> {
        self.model.set_vocabulary(classes)
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
        let class_objects = vocabulary.class_objects();
        let hoi_logits = host(&output.hoi_logits)?;
        let object_logits = host(&output.object_logits)?;
        let human_boxes = host(&output.human_boxes)?;
        let object_boxes = host(&output.object_boxes)?;
        let clip_scores = host(&output.clip_hoi_scores)?;

        let mut results = Vec::with_capacity(batch);
        for (b, &(width, height)) in original_sizes.iter().enumerate() {
            let enhancement = match self.options.enhancement {
                Enhancement::Off => None,
                Enhancement::TopK(k) => Some(enhancement_scores(
                    &clip_scores[b * hois..(b + 1) * hois],
                    Some(k),
                )),
                Enhancement::All => Some(enhancement_scores(
                    &clip_scores[b * hois..(b + 1) * hois],
                    None,
                )),
            };
            let scores = hoi_scores(
                &hoi_logits[b * pairs * hois..(b + 1) * pairs * hois],
                &object_logits[b * pairs * objects..(b + 1) * pairs * objects],
                &class_objects,
                pairs,
                hois,
                objects,
                enhancement.as_deref(),
            )?;
            let (w, h) = (width as f32, height as f32);
            let pixel_box = |boxes: &[f32], pair: usize| {
                let at = (b * pairs + pair) * 4;
                cxcywh_to_xyxy_pixels(
                    [boxes[at], boxes[at + 1], boxes[at + 2], boxes[at + 3]],
                    w,
                    h,
                )
            };
            let candidates = top_k_hois(&scores, hois, self.options.top_k)?;
            let triplets: Vec<Triplet> = candidates
                .iter()
                .map(|c| Triplet {
                    subject: pixel_box(&human_boxes, c.pair),
                    object: pixel_box(&object_boxes, c.pair),
                    hoi: c.hoi,
                    score: c.score,
                })
                .collect();
            let kept: Vec<usize> = match &self.options.nms {
                Some(params) => triplet_nms(&triplets, params),
                None => (0..triplets.len()).collect(),
            };
            let mut detections: Vec<HoiDetection> = kept
                .into_iter()
                .filter(|&i| triplets[i].score >= self.options.min_score)
                .map(|i| {
                    let t = &triplets[i];
                    let class = &vocabulary.classes[t.hoi];
                    HoiDetection {
                        subject_box: t.subject,
                        object_box: t.object,
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
                .collect();
            // Stable: equal scores keep the evaluator's order.
            detections.sort_by(|a, b| b.score.total_cmp(&a.score));
            results.push(detections);
        }
        Ok(results)
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
