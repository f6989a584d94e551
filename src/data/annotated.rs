//! [`AnnotatedSample`]: one training image with its boxes in pixels and its interactions, the
//! one annotation model every reader produces and every consumer takes — the augmentation
//! (which moves, clips and drops boxes), the verb-representation builder (which crops boxes)
//! and, through [`AnnotatedSample::into_sample`], the trainer's [`HoiTarget`].
//!
//! It mirrors what the authors' `__getitem__` holds between reading an image and building the
//! target: `target['boxes']` (pixels, `x1, y1, x2, y2`, `float32`) with each box's index in
//! the file (`target['labels'][:, 0]`), and the file's `hoi_annotation` list. Interactions
//! whose class is not a training class are left out when the reader builds the sample (the
//! reference checks the class after the transforms, which does not change the outcome: a
//! class depends on the verb and the object's category only).

use image::DynamicImage;

use super::reader::PairMerger;
use super::sample::TrainingSample;
use super::target::HoiTarget;
use crate::error::Result;

/// One annotated box: `[x1, y1, x2, y2]` pixels of the sample's image and its object class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnnotatedBox {
    /// `[x1, y1, x2, y2]` in pixels, `f32` as the reference's tensor.
    pub xyxy: [f32; 4],
    /// The object class (an object classifier column; 0 is `person` in HICO-DET and V-COCO).
    pub object: usize,
}

/// One interaction: a subject box, an object box (or none), and its HOI class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interaction {
    /// Index of the human box in [`AnnotatedSample::boxes`].
    pub subject: usize,
    /// Index of the object box, `None` for an object-less interaction (V-COCO "person only").
    pub object: Option<usize>,
    /// The object classifier column of the pair (the object box's class, or the dataset's
    /// "person only" column for an object-less interaction).
    pub object_label: usize,
    /// The HOI class (a column of the training classifier).
    pub class: usize,
}

/// One training image, its boxes in pixels and its interactions (see the module docs).
#[derive(Clone, Debug)]
pub struct AnnotatedSample {
    /// A name for logs and errors (the file name for real data).
    pub name: String,
    /// The image.
    pub image: DynamicImage,
    /// The boxes by their index in the file; `None` for a box the reader or a transform
    /// dropped (past `num_queries`, empty after clamping, cropped away).
    pub boxes: Vec<Option<AnnotatedBox>>,
    /// The interactions in file order, one per annotated `(subject, object, class)`.
    pub interactions: Vec<Interaction>,
}

impl AnnotatedSample {
    /// The box `index`, if it exists and was kept.
    pub fn kept_box(&self, index: usize) -> Option<AnnotatedBox> {
        kept(&self.boxes, index)
    }

    /// The interactions whose boxes are all kept (what the reference builds pairs from).
    pub fn kept_interactions(&self) -> impl Iterator<Item = &Interaction> {
        self.interactions.iter().filter(|i| is_kept(&self.boxes, i))
    }

    /// The criterion's target, as the reference builds it after the transforms: interactions
    /// with a dropped box are skipped; those of one `(subject, object)` merge into one pair
    /// (at the position of the first, with its boxes and object label) with several HOI
    /// classes; boxes become `(cx, cy, w, h)` normalised by the image size (the authors'
    /// `Normalize`, in `f32`); an object-less pair has an all-zero object box.
    pub fn target(&self) -> HoiTarget {
        target_of(
            &self.boxes,
            &self.interactions,
            self.image.width(),
            self.image.height(),
        )
    }

    /// The sample the trainer takes: the image and [`Self::target`]. `augmented` tells the
    /// trainer whether the image already has the detection branch's input size.
    pub fn into_sample(self, augmented: bool) -> TrainingSample {
        let target = self.target();
        TrainingSample {
            name: self.name,
            image: self.image,
            target,
            augmented,
        }
    }

    /// A sample from a [`TrainingSample`] (normalised boxes back to pixels): each pair gets
    /// its own human box (and object box, unless the pair is object-less), each of its HOI
    /// classes one interaction.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Target`](crate::HoiclipError::Target) naming the sample when the target's per-pair lists differ in
    /// length.
    pub fn from_sample(sample: &TrainingSample) -> Result<Self> {
        let (w, h) = (sample.image.width() as f32, sample.image.height() as f32);
        let pixels = |b: [f32; 4]| {
            [
                (b[0] - b[2] / 2.0) * w,
                (b[1] - b[3] / 2.0) * h,
                (b[0] + b[2] / 2.0) * w,
                (b[1] + b[3] / 2.0) * h,
            ]
        };
        let t = &sample.target;
        t.check_lengths(&sample.name)?;
        let mut boxes = Vec::new();
        let mut interactions = Vec::new();
        for pair in 0..t.len() {
            let subject = boxes.len();
            boxes.push(Some(AnnotatedBox {
                xyxy: pixels(t.human_boxes[pair]),
                object: 0,
            }));
            let object = t.has_object_box(pair).then(|| {
                boxes.push(Some(AnnotatedBox {
                    xyxy: pixels(t.object_boxes[pair]),
                    object: t.object_labels[pair],
                }));
                boxes.len() - 1
            });
            for &class in &t.hoi_labels[pair] {
                interactions.push(Interaction {
                    subject,
                    object,
                    object_label: t.object_labels[pair],
                    class,
                });
            }
        }
        Ok(Self {
            name: sample.name.clone(),
            image: sample.image.clone(),
            boxes,
            interactions,
        })
    }
}

fn kept(boxes: &[Option<AnnotatedBox>], index: usize) -> Option<AnnotatedBox> {
    boxes.get(index).copied().flatten()
}

fn is_kept(boxes: &[Option<AnnotatedBox>], i: &Interaction) -> bool {
    kept(boxes, i.subject).is_some() && i.object.is_none_or(|o| kept(boxes, o).is_some())
}

/// [`AnnotatedSample::target`] of `boxes` and `interactions` on a `width × height` image.
pub(crate) fn target_of(
    boxes: &[Option<AnnotatedBox>],
    interactions: &[Interaction],
    width: u32,
    height: u32,
) -> HoiTarget {
    let mut pairs = PairMerger::new();
    for i in interactions {
        // An interaction with a dropped box is skipped.
        let Some(subject) = kept(boxes, i.subject) else {
            continue;
        };
        let object_box = match i.object.map(|o| kept(boxes, o)) {
            None => [0.0; 4],
            Some(Some(b)) => normalised_cxcywh(b.xyxy, width, height),
            Some(None) => continue,
        };
        pairs.add(
            (i.subject, i.object),
            normalised_cxcywh(subject.xyxy, width, height),
            object_box,
            i.object_label,
            i.class,
        );
    }
    pairs.finish()
}

/// The authors' `Normalize` on boxes: `box_xyxy_to_cxcywh` then `/ [w, h, w, h]`, every
/// operation in `f32` as their tensors.
pub fn normalised_cxcywh(b: [f32; 4], width: u32, height: u32) -> [f32; 4] {
    let (w, h) = (width as f32, height as f32);
    [
        (b[0] + b[2]) / 2.0 / w,
        (b[1] + b[3]) / 2.0 / h,
        (b[2] - b[0]) / w,
        (b[3] - b[1]) / h,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    fn sample() -> AnnotatedSample {
        let b = |x: f32, object| {
            Some(AnnotatedBox {
                xyxy: [x, 2.0, x + 10.0, 12.0],
                object,
            })
        };
        AnnotatedSample {
            name: "s".into(),
            image: DynamicImage::ImageRgb8(RgbImage::new(40, 20)),
            boxes: vec![b(0.0, 0), b(10.0, 3), None, b(20.0, 5)],
            interactions: vec![
                Interaction {
                    subject: 0,
                    object: Some(1),
                    object_label: 3,
                    class: 7,
                },
                Interaction {
                    subject: 0,
                    object: Some(2),
                    object_label: 4,
                    class: 8,
                },
                Interaction {
                    subject: 0,
                    object: Some(1),
                    object_label: 3,
                    class: 9,
                },
                Interaction {
                    subject: 0,
                    object: None,
                    object_label: 80,
                    class: 2,
                },
                Interaction {
                    subject: 0,
                    object: Some(3),
                    object_label: 5,
                    class: 1,
                },
            ],
        }
    }

    #[test]
    fn target_skips_dropped_boxes_and_merges_pairs() {
        let t = sample().target();
        assert_eq!(t.hoi_labels, vec![vec![7, 9], vec![2], vec![1]]);
        assert_eq!(t.object_labels, vec![3, 80, 5]);
        assert_eq!(t.object_boxes[1], [0.0; 4]);
        assert_eq!(t.human_boxes[0], [5.0 / 40.0, 7.0 / 20.0, 0.25, 0.5]);
    }

    #[test]
    fn from_sample_refuses_a_target_of_uneven_lists() {
        let mut s = sample().into_sample(false);
        s.target.object_labels.pop();
        let err = AnnotatedSample::from_sample(&s).unwrap_err().to_string();
        assert!(err.contains("object_labels"), "{err}");
    }

    #[test]
    fn from_sample_round_trips_the_target() {
        let s = sample().into_sample(false);
        let back = AnnotatedSample::from_sample(&s).unwrap().target();
        assert_eq!(back.hoi_labels, s.target.hoi_labels);
        assert_eq!(back.object_labels, s.target.object_labels);
        for (a, b) in back.human_boxes.iter().zip(&s.target.human_boxes) {
            for k in 0..4 {
                assert!((a[k] - b[k]).abs() < 1e-6);
            }
        }
    }
}
