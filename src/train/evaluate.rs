//! Evaluation during training: the model being trained, run as a detector over held-out
//! [`TrainingSample`]s and scored with the crate's own HICO-DET evaluator ([`crate::eval`]).
//!
//! The samples' targets become the ground truth (each pair's human and object box, one
//! interaction per HOI class of the pair; boxes de-normalised to pixels of the image), the
//! detector's triplets the predictions. The HICO-DET evaluator scores the 600 HICO-DET
//! classes, so this needs a model with the HICO-DET vocabulary (any zero-shot split); the
//! authors' proxy protocol is the default, since it averages over the classes present in the
//! ground truth, which is what a small validation set needs.

use crate::detector::{DetectOptions, HoiDetector, Hoiclip};
use crate::error::{HoiclipError, Result};
use crate::eval::{
    EvalReport, Evaluator, GtBox, GtHoi, HicoAnnotations, ImageAnnotation, ImagePredictions,
    OfficialMode, Predictions, ProxyOptions,
};
use crate::model::{HoiDataset, HoiclipModel};

use crate::data::TrainingSample;

/// Which HICO-DET protocol scores the validation samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ValidationProtocol {
    /// The authors' Python evaluator: mean over the classes in the ground truth.
    #[default]
    Proxy,
    /// ho-rcnn's official protocol (Default mode): mean over all 600 classes (classes absent
    /// from a small validation set count as AP 0).
    Official,
}

/// The ground truth of `samples` as HICO-DET annotations, boxes in pixels of each image.
///
/// # Errors
///
/// [`HoiclipError::Target`] for a pair whose HOI class is not a HICO-DET class of the
/// vocabulary, or an object-less pair (HICO-DET has none); annotation errors (a file name
/// that repeats).
pub fn annotations_of(model: &HoiclipModel, samples: &[TrainingSample]) -> Result<HicoAnnotations> {
    let vocabulary = &model.vocabulary;
    let mut images = Vec::with_capacity(samples.len());
    for sample in samples {
        let (w, h) = (
            f64::from(sample.image.width()),
            f64::from(sample.image.height()),
        );
        let to_pixels = |b: [f32; 4]| {
            let [cx, cy, bw, bh] = b.map(f64::from);
            [
                (cx - bw / 2.0) * w,
                (cy - bh / 2.0) * h,
                (cx + bw / 2.0) * w,
                (cy + bh / 2.0) * h,
            ]
        };
        let target = &sample.target;
        let mut boxes = Vec::with_capacity(2 * target.len());
        let mut hois = Vec::new();
        for pair in 0..target.len() {
            let bad = |reason: String| HoiclipError::Target {
                image: sample.name.clone(),
                reason,
            };
            if !target.has_object_box(pair) {
                return Err(bad(format!(
                    "pair {pair} has no object box; HICO-DET evaluation needs one"
                )));
            }
            let subject = boxes.len();
            boxes.push(GtBox {
                bbox: to_pixels(target.human_boxes[pair]),
                object: 0,
            });
            let object = boxes.len();
            boxes.push(GtBox {
                bbox: to_pixels(target.object_boxes[pair]),
                object: target.object_labels[pair],
            });
            for &hoi in &target.hoi_labels[pair] {
                let class = vocabulary.classes.get(hoi).ok_or_else(|| {
                    bad(format!(
                        "pair {pair}: HOI class {hoi} is not in the vocabulary"
                    ))
                })?;
                hois.push(GtHoi {
                    subject,
                    object,
                    verb: class.verb,
                    hoi,
                });
            }
        }
        images.push(ImageAnnotation {
            file_name: sample.name.clone(),
            boxes,
            hois,
        });
    }
    HicoAnnotations::from_images(images)
}

/// Detect on `samples` with `model` (inference mode: pass [`super::Trainer::inference_model`])
/// and score the triplets against their targets with `protocol`.
///
/// # Errors
///
/// [`HoiclipError::Config`] for a model whose vocabulary is not HICO-DET's 600 classes;
/// [`annotations_of`] errors; detection errors naming the sample.
pub fn evaluate_samples(
    model: HoiclipModel,
    samples: &[TrainingSample],
    options: DetectOptions,
    protocol: ValidationProtocol,
) -> Result<EvalReport> {
    if model.config.dataset != HoiDataset::HicoDet || model.vocabulary.classes.len() != 600 {
        return Err(HoiclipError::Config(format!(
            "validation uses the HICO-DET evaluator, which scores the 600 HICO-DET classes; this \
             model has the {:?} vocabulary with {} classes",
            model.config.dataset,
            model.vocabulary.classes.len()
        )));
    }
    let annotations = annotations_of(&model, samples)?;
    let device = model.hoi_text_embeddings.val().device();
    let detector = Hoiclip::new(model, &device).with_options(options);
    let mut predictions = Predictions::new();
    for sample in samples {
        let found = detector.detect(&sample.image)?;
        predictions.push(ImagePredictions::from_detections(
            sample.name.clone(),
            &found,
        ))?;
    }
    let evaluator = match protocol {
        ValidationProtocol::Proxy => {
            Evaluator::proxy(&annotations, ProxyOptions::reference_scripts())
        }
        ValidationProtocol::Official => Evaluator::official(&annotations, OfficialMode::Default),
    };
    Ok(evaluator.evaluate(&predictions))
}
