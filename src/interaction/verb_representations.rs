//! Verb representations from data: HOICLIP's visual semantic arithmetic, which makes the
//! verb adapter's `verb_projection` (the authors' `verb.pth`) from annotated images.
//!
//! The authors' recipe (`models/generate_image_feature/generate_verb.py`,
//! `datasets/datasets_generate_feature/hico.py`, the `no_training` block of `engine.py`):
//!
//! 1. For every interaction of every training image, three crops of the **un-augmented**
//!    image — the human box, the object box and their union — each cut with Pillow's
//!    `crop` (box corners rounded half to even) and put through CLIP's preprocessing; their
//!    CLIP image embeddings `h`, `o`, `u` (`encode_image`, projected, not normalised).
//! 2. Per image: the object row of `person` gains the mean of the image's `h`; the row of
//!    each object class gains an `o`; the row of each HOI class gains a `u`.
//! 3. Per HOI class `c` of verb `v` and object `b`: `normalize(U[c]) − normalize(O[b])`;
//!    averaged over the classes of `v`; normalised. That is the verb's representation.
//!
//! Two properties of the authors' code are kept by default ([`Accumulation::Authors`]) and
//! can be switched off ([`Accumulation::EveryInteraction`]):
//!
//! - step 2 writes `param.data[labels] += x` with a label tensor: an object or HOI class that
//!   appears several times in one image gains **one** embedding, its last occurrence's
//!   (PyTorch's indexed `+=` does not accumulate repeated indices; shown on the CPU by
//!   tests/fixtures/gen_verb_representation_fixtures.py). Across images the rows accumulate.
//!   The `person` row gains the image's human mean first, then the last person-object crop.
//!
//! Where the authors' code gives no usable answer, this one departs from it, documented:
//!
//! - **Classes without examples.** The reference normalises an all-zero row (`0 / 0`), so a
//!   verb with any class lacking examples becomes NaN. Here such classes are left out of the
//!   verb's average (and the verb counts only the classes with examples); a verb with no
//!   example at all has no representation ([`VerbRepresentations::rows`] holds `None`).
//!   Verbs whose every class has examples equal the reference (the fixture test's 1e-5).
//! - **Which pairs.** The reference builds the crops inside its training dataset, after the
//!   random augmentation, and skips the interactions whose boxes the random crop removed
//!   (though it crops the raw image): the set of pairs it averages is random. Here every
//!   interaction is used (the reference with its augmentation off).
//! - **Box indices.** The reference looks the raw boxes up by the file's index in the list
//!   of kept boxes, which shifts when an earlier box was dropped as empty; here the file's
//!   index always names its own box.
//! - **Vocabularies.** The reference hard-codes HICO-DET's 600 classes and 117 verbs (and
//!   ships a hand-made V-COCO file); here any [`HoiVocabulary`] whose classes index the set's
//!   HOI classes and whose objects index its object labels: HICO-DET, V-COCO, a custom set.
//! - **Object-less interactions** (V-COCO "person only") have no object crop and are
//!   skipped. A crop that rounds to an empty box is skipped and counted.
//!
//! The reference ran CLIP in half precision on a GPU; here CLIP runs in `f32` on the model's
//! device.

use burn::tensor::{Tensor, TensorData};
use image::DynamicImage;
use rayon::prelude::*;

use crate::clip::Clip;
use crate::clip::preprocess::preprocess_clip;
use crate::data::{AnnotatedBox, AnnotatedSample, TrainingSet};
use crate::error::{HoiclipError, Result};
use crate::imaging::pil_image::PilImage;
use crate::model::{HoiVocabulary, NewVerb};

/// How embeddings of one image add to the class sums (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Accumulation {
    /// The authors' code: within one image a repeated class gains its last embedding only.
    #[default]
    Authors,
    /// Every interaction adds its embedding.
    EveryInteraction,
}

/// What [`build_verb_representations`] produced.
#[derive(Clone, Debug, PartialEq)]
pub struct VerbRepresentations {
    /// The embedding width (CLIP's `output_dim`).
    pub dim: usize,
    /// One row per vocabulary verb, L2-normalised; `None` for a verb without examples.
    pub rows: Vec<Option<Vec<f32>>>,
    /// Interactions used per HOI class.
    pub class_examples: Vec<usize>,
    /// The per-class sums of union-crop embeddings, `[classes, dim]` row-major (the
    /// reference's `hoi_feature` before normalisation).
    pub class_sums: Vec<f32>,
    /// The per-object sums of object-crop embeddings (and, for `person`, of the images' mean
    /// human embeddings), `[objects, dim]` row-major (the reference's `obj_feature`).
    pub object_sums: Vec<f32>,
    /// Images read.
    pub images: usize,
    /// Interactions used.
    pub interactions: usize,
    /// Interactions skipped: object-less, or a crop that rounds to an empty box.
    pub skipped: usize,
}

impl VerbRepresentations {
    /// The verbs that have a representation.
    pub fn covered_verbs(&self) -> Vec<usize> {
        (0..self.rows.len())
            .filter(|&v| self.rows[v].is_some())
            .collect()
    }

    /// The verbs with a representation as [`NewVerb`]s named by `vocabulary` (the vocabulary
    /// they were built for), for [`crate::model::HoiclipModel::set_vocabulary_with_verbs`]
    /// (which ignores those the model was trained on).
    pub fn new_verbs(&self, vocabulary: &HoiVocabulary) -> Vec<NewVerb> {
        vocabulary
            .verbs
            .iter()
            .zip(&self.rows)
            .filter_map(|(name, row)| {
                row.as_ref().map(|r| NewVerb {
                    name: name.clone(),
                    representation: r.clone(),
                })
            })
            .collect()
    }

    /// The `[verbs, dim]` matrix (the authors' `verb.pth` layout), verbs without examples
    /// taken from `fallback` (`[verbs, dim]` row-major, e.g. a checkpoint's
    /// `verb_projection`), or zero rows without one.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when `fallback` does not hold `verbs × dim` values.
    pub fn to_matrix(&self, fallback: Option<&[f32]>) -> Result<Vec<f32>> {
        let (verbs, dim) = (self.rows.len(), self.dim);
        if let Some(f) = fallback
            && f.len() != verbs * dim
        {
            return Err(HoiclipError::Config(format!(
                "fallback verb representations hold {} values, expected {verbs} x {dim}",
                f.len()
            )));
        }
        let mut out = vec![0.0; verbs * dim];
        for (v, row) in self.rows.iter().enumerate() {
            let dst = &mut out[v * dim..(v + 1) * dim];
            match (row, fallback) {
                (Some(r), _) => dst.copy_from_slice(r),
                (None, Some(f)) => dst.copy_from_slice(&f[v * dim..(v + 1) * dim]),
                (None, None) => {}
            }
        }
        Ok(out)
    }

    /// Write the `[verbs, dim]` matrix as the authors' `verb.pth` (`torch.save` of a bare
    /// tensor), verbs without examples from `fallback` as in [`Self::to_matrix`].
    ///
    /// # Errors
    ///
    /// As [`Self::to_matrix`]; I/O errors naming the file.
    pub fn save_pth(
        &self,
        path: impl AsRef<std::path::Path>,
        fallback: Option<&[f32]>,
    ) -> Result<()> {
        let matrix = self.to_matrix(fallback)?;
        crate::weights::write_bare_tensor(path, &[self.rows.len(), self.dim], &matrix)
    }
}

/// The options of [`build_verb_representations`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerbRepresentationOptions {
    /// How repeated classes of one image add up.
    pub accumulation: Accumulation,
}

/// Pillow's `Image.crop(box)` with float corners: each rounded half to even (Python's
/// `round`), then cut; `None` when the rounded box is empty. Corners are limited to the
/// image first (the readers' boxes always are; a box from elsewhere cannot make a huge
/// crop).
fn crop_box(image: &PilImage, b: [f32; 4]) -> Option<DynamicImage> {
    let (w, h) = image.dimensions();
    let limits = [w, h, w, h].map(i64::from);
    let mut r = [0i64; 4];
    for k in 0..4 {
        r[k] = (f64::from(b[k]).round_ties_even() as i64).clamp(0, limits[k]);
    }
    let (w, h) = (r[2] - r[0], r[3] - r[1]);
    if w <= 0 || h <= 0 {
        return None;
    }
    let crop = image.crop(r[0], r[1], w as u32, h as u32);
    Some(DynamicImage::ImageRgb8(crop.into_rgb()))
}

/// The three crops of one interaction: human, object, union.
struct PairCrops {
    object_label: usize,
    class: usize,
    crops: [Vec<f32>; 3],
}

/// The usable interactions of `sample` with their preprocessed crops; the count skipped.
fn sample_crops(sample: &AnnotatedSample, n_px: usize) -> Result<(Vec<PairCrops>, usize)> {
    let rgb = PilImage::Rgb(PilImage::from_dynamic(&sample.image).into_rgb());
    let mut out = Vec::new();
    let mut skipped = 0;
    for i in sample.kept_interactions() {
        let (Some(human), Some(Some(object))) = (
            sample.kept_box(i.subject),
            i.object.map(|o| sample.kept_box(o)),
        ) else {
            skipped += 1;
            continue;
        };
        let union = union_box(human, object);
        let crops = [human.xyxy, object.xyxy, union].map(|b| crop_box(&rgb, b));
        let [Some(h), Some(o), Some(u)] = crops else {
            skipped += 1;
            continue;
        };
        let prep = |img: &DynamicImage| {
            preprocess_clip(img, n_px).map_err(|e| match e {
                HoiclipError::Image { reason, .. } => HoiclipError::Image {
                    what: format!("{} (a crop)", sample.name),
                    reason,
                },
                other => other,
            })
        };
        out.push(PairCrops {
            object_label: i.object_label,
            class: i.class,
            crops: [prep(&h)?, prep(&o)?, prep(&u)?],
        });
    }
    Ok((out, skipped))
}

/// The reference's union box: the min of the top-left corners, the max of the bottom-right.
fn union_box(a: AnnotatedBox, b: AnnotatedBox) -> [f32; 4] {
    [
        a.xyxy[0].min(b.xyxy[0]),
        a.xyxy[1].min(b.xyxy[1]),
        a.xyxy[2].max(b.xyxy[2]),
        a.xyxy[3].max(b.xyxy[3]),
    ]
}

/// `rows[label] += x` for every `(label, x)`; with [`Accumulation::Authors`] a repeated
/// label adds its last `x` only.
fn accumulate(sums: &mut [f32], dim: usize, labels: &[usize], values: &[f32], mode: Accumulation) {
    for (j, &label) in labels.iter().enumerate() {
        if mode == Accumulation::Authors && labels[j + 1..].contains(&label) {
            continue;
        }
        let row = &mut sums[label * dim..(label + 1) * dim];
        for (s, v) in row.iter_mut().zip(&values[j * dim..(j + 1) * dim]) {
            *s += v;
        }
    }
}

fn normalized(row: &[f32]) -> Vec<f32> {
    let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
    row.iter().map(|v| v / norm).collect()
}

/// Build verb representations for `vocabulary`'s verbs from the annotated images of `set`
/// with `clip` (see the [module docs](self)). `progress` is called after each image with
/// `(done, total)`.
///
/// `vocabulary`'s classes must be the set's HOI classes (a HICO-DET set read without
/// `del_unseen` and [`HoiVocabulary::hico`]; a V-COCO set and [`HoiVocabulary::vcoco`]; a
/// custom set and its own vocabulary) and its objects the set's object labels. The human
/// mean goes to the object named `person`.
///
/// # Errors
///
/// [`HoiclipError::Config`] when an interaction's class or object label lies outside
/// `vocabulary` (naming the image); sample and CLIP errors.
pub fn build_verb_representations(
    clip: &Clip,
    set: &dyn TrainingSet,
    vocabulary: &HoiVocabulary,
    options: VerbRepresentationOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<VerbRepresentations> {
    vocabulary.validate()?;
    let config = clip.config();
    let (dim, n_px) = (config.vision.output_dim, config.vision.image_resolution);
    let (classes, objects, verbs) = (
        vocabulary.classes.len(),
        vocabulary.objects.len(),
        vocabulary.verbs.len(),
    );
    let person = vocabulary.objects.iter().position(|o| o == "person");
    let device = clip.visual.proj.weight.val().device();
    let mut class_sums = vec![0.0_f32; classes * dim];
    let mut object_sums = vec![0.0_f32; objects * dim];
    let mut class_examples = vec![0usize; classes];
    let (mut interactions, mut skipped) = (0, 0);
    let total = set.len();
    // Decode and crop a few images ahead on the rayon pool; CLIP and the sums run in
    // image order, so the result does not depend on the thread count.
    let chunk = rayon::current_num_threads().max(1) * 2;
    for start in (0..total).step_by(chunk) {
        let end = (start + chunk).min(total);
        let prepared = (start..end)
            .into_par_iter()
            .map(|i| {
                let sample = set.annotated(i)?;
                let (crops, skipped) = sample_crops(&sample, n_px)?;
                Ok((sample.name, crops, skipped))
            })
            .collect::<Result<Vec<_>>>()?;
        for (k, (name, pairs, skipped_here)) in prepared.into_iter().enumerate() {
            skipped += skipped_here;
            if let Some(p) = pairs
                .iter()
                .find(|p| p.class >= classes || p.object_label >= objects)
            {
                return Err(HoiclipError::Config(format!(
                    "{name}: an interaction has HOI class {} / object {}, outside the \
                     vocabulary's {classes} classes / {objects} objects",
                    p.class, p.object_label
                )));
            }
            // The vocabulary must index the set's classes: each class's object is the
            // interaction's object (a HICO-DET set read with `del_unseen` renumbers its
            // classes and fails here).
            if let Some(p) = pairs
                .iter()
                .find(|p| vocabulary.classes[p.class].object != p.object_label)
            {
                let c = &vocabulary.classes[p.class];
                return Err(HoiclipError::Config(format!(
                    "{name}: an interaction of HOI class {} has object {} ({:?}) but the \
                     vocabulary's class {} is ({:?}, {:?}): the vocabulary does not index the \
                     set's classes (read HICO-DET without del_unseen for HoiVocabulary::hico)",
                    p.class,
                    p.object_label,
                    vocabulary.objects[p.object_label],
                    p.class,
                    vocabulary.verbs[c.verb],
                    vocabulary.objects[c.object]
                )));
            }
            if !pairs.is_empty() {
                let n = pairs.len();
                let mut batch = Vec::with_capacity(3 * n * 3 * n_px * n_px);
                for kind in 0..3 {
                    for p in &pairs {
                        batch.extend_from_slice(&p.crops[kind]);
                    }
                }
                let images =
                    Tensor::<4>::from_data(TensorData::new(batch, [3 * n, 3, n_px, n_px]), &device);
                let embedding: Vec<f32> = clip
                    .encode_image(images)?
                    .embedding
                    .into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| HoiclipError::Config(format!("reading CLIP embeddings: {e:?}")))?;
                let (human, rest) = embedding.split_at(n * dim);
                let (object, union) = rest.split_at(n * dim);
                if let Some(person) = person {
                    let row = &mut object_sums[person * dim..(person + 1) * dim];
                    for (d, s) in row.iter_mut().enumerate() {
                        let sum: f32 = (0..n).map(|j| human[j * dim + d]).sum();
                        *s += sum / n as f32;
                    }
                }
                let object_labels: Vec<usize> = pairs.iter().map(|p| p.object_label).collect();
                let class_labels: Vec<usize> = pairs.iter().map(|p| p.class).collect();
                accumulate(
                    &mut object_sums,
                    dim,
                    &object_labels,
                    object,
                    options.accumulation,
                );
                accumulate(
                    &mut class_sums,
                    dim,
                    &class_labels,
                    union,
                    options.accumulation,
                );
                for p in &pairs {
                    class_examples[p.class] += 1;
                }
                interactions += n;
            }
            progress(start + k + 1, total);
        }
    }

    let mut sums = vec![vec![0.0_f32; dim]; verbs];
    let mut counts = vec![0usize; verbs];
    for (c, entry) in vocabulary.classes.iter().enumerate() {
        if class_examples[c] == 0 {
            continue;
        }
        let u = normalized(&class_sums[c * dim..(c + 1) * dim]);
        let o = normalized(&object_sums[entry.object * dim..(entry.object + 1) * dim]);
        for ((s, a), b) in sums[entry.verb].iter_mut().zip(&u).zip(&o) {
            *s += a - b;
        }
        counts[entry.verb] += 1;
    }
    let rows = sums
        .into_iter()
        .zip(counts)
        .map(|(s, n)| {
            if n == 0 {
                return None;
            }
            let mean: Vec<f32> = s.iter().map(|v| v / n as f32).collect();
            // A mean of exactly zero has no direction: no representation.
            let row = normalized(&mean);
            row.iter().all(|v| v.is_finite()).then_some(row)
        })
        .collect();
    Ok(VerbRepresentations {
        dim,
        rows,
        class_examples,
        class_sums,
        object_sums,
        images: total,
        interactions,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authors_accumulation_keeps_the_last_of_repeated_labels() {
        let mut sums = vec![0.0; 3 * 2];
        let values = [1.0, 1.0, 2.0, 2.0, 5.0, 5.0, 7.0, 7.0];
        accumulate(&mut sums, 2, &[1, 2, 1, 0], &values, Accumulation::Authors);
        assert_eq!(sums, vec![7.0, 7.0, 5.0, 5.0, 2.0, 2.0]);
        let mut every = vec![0.0; 3 * 2];
        accumulate(
            &mut every,
            2,
            &[1, 2, 1, 0],
            &values,
            Accumulation::EveryInteraction,
        );
        assert_eq!(every, vec![7.0, 7.0, 6.0, 6.0, 2.0, 2.0]);
    }

    #[test]
    fn crops_round_half_to_even_like_python() {
        let image = PilImage::Rgb(image::RgbImage::new(10, 10));
        let c = crop_box(&image, [2.5, 3.5, 6.5, 7.5]).unwrap();
        assert_eq!((c.width(), c.height()), (4, 4));
        assert!(crop_box(&image, [2.4, 3.0, 2.5, 5.0]).is_none());
    }
}
