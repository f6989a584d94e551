//! [`VcocoTrainingSet`]: the V-COCO training annotations (`trainval_vcoco.json` of
//! GEN-VLKT / HOICLIP) read as the authors' `VCOCO('train')` reads them
//! (`datasets/datasets_gen/vcoco.py`), images decoded from a folder on demand.
//!
//! The file is the JSON array described in [`crate::eval::vcoco::annotations`]: per image
//! `file_name`, `annotations` (`bbox` `[x1, y1, x2, y2]` pixels, COCO `category_id`) and
//! `hoi_annotation` (`subject_id`, `object_id` — `-1` for an interaction without an object —
//! and `category_id`, the verb 0..29). What the reference does, and so this reader:
//!
//! - **Which images.** Every image of the file, in file order: unlike `HICODetection`, the
//!   constructor filters nothing (no box-id check, no zero-shot split), so an image with no
//!   usable interaction is a sample with zero pairs.
//! - **Per image.** Only the first `num_queries` boxes are kept (64, the pair queries); boxes
//!   are clamped to the image and dropped when empty (in `f32`, as the reference). An
//!   interaction is skipped when its subject is not a kept box, or when its `object_id` is not
//!   `-1` and not a kept box — so ids out of range or negative (other than an `object_id` of
//!   `-1`) are skipped silently, never an error. The subject's class is not checked.
//! - **Person only.** `object_id == -1` makes the pair `(verb, 80)`: object label 80
//!   (`len(_valid_obj_ids)`, [`crate::labels::vcoco::VCOCO_NO_OBJECT`]) and an all-zero
//!   object box.
//! - **Classes.** A `(verb, object class)` that is not one of the 263 keys of
//!   `vcoco_hoi_text_label` is skipped; HOI classes index those keys in order
//!   ([`crate::labels::vcoco::VCOCO_HOIS`]). The interactions of one `(subject_id,
//!   object_id)` merge into one pair with several classes (all object-less verbs of a
//!   subject share the pair `(subject, -1)`), at the position of the first kept one, with its
//!   boxes and object class.
//! - **Boxes.** Normalised `(cx, cy, w, h)` of the image, as DETR's transforms leave them.
//!
//! The JSON is checked as it is read: a malformed entry is an error naming the file, the image
//! and the field. This is stricter than the reference in two places, both documented on
//! [`VcocoTrainingSet::open`]: a COCO category id or a verb outside the tables is an error
//! for every entry (the reference raises only when it reaches the entry: a box past
//! `num_queries` or an interaction whose boxes were dropped goes unchecked), and an image
//! with no box at all is a sample with zero pairs (the reference raises `IndexError` on
//! `target['labels'][:, 1]`). What the reference skips silently is skipped and counted in
//! [`VcocoTrainingSet::summary`]. The authors' augmentation (flip, colour jitter,
//! multi-scale resize and crop) is applied by the loader ([`super::loader`]) to the
//! [`AnnotatedSample`]s this set hands out.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::annotated::{AnnotatedBox, AnnotatedSample, Interaction, target_of};
use super::reader;
use super::sample::TrainingSet;
use super::target::HoiTarget;
use crate::error::Result;
use crate::eval::GtBox;
use crate::eval::annotations::parse_boxes;
use crate::eval::json::Ctx;
use crate::eval::vcoco::annotations::{NUM_VCOCO_VERBS, hoi_class_of};
use crate::labels::vcoco::VCOCO_NO_OBJECT;

/// How the training annotations are read (`VCOCO`'s arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcocoTrainingOptions {
    /// `num_queries` (64): boxes after the first this many are dropped.
    pub num_queries: usize,
}

impl Default for VcocoTrainingOptions {
    fn default() -> Self {
        Self { num_queries: 64 }
    }
}

/// One interaction of the file, as written (ids unchecked: the reference skips those that
/// name no kept box).
#[derive(Clone, Copy, Debug)]
struct RawHoi {
    subject: i64,
    /// `-1`: no object.
    object: i64,
    verb: usize,
}

/// One image of the file.
#[derive(Clone, Debug)]
struct RawImage {
    file_name: String,
    /// As written: `[x1, y1, x2, y2]` pixels and the object index 0..80.
    boxes: Vec<GtBox>,
    hois: Vec<RawHoi>,
}

/// What the constructor read, and what the samples will skip whatever the image size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VcocoTrainingSummary {
    /// Images in the file (all kept: the reference keeps every image).
    pub images: usize,
    /// Images with no interaction (zero-pair samples).
    pub images_without_interactions: usize,
    /// Interactions in the file.
    pub interactions: usize,
    /// Interactions without an object (`object_id` -1, "person only").
    pub person_only_interactions: usize,
    /// Interactions whose `subject_id` or `object_id` names no box (out of range, or
    /// negative other than an `object_id` of -1): always skipped.
    pub interactions_with_missing_boxes: usize,
    /// Interactions whose `(verb, object class)` is not one of the 263 classes: always
    /// skipped.
    pub interactions_not_a_class: usize,
}

/// The V-COCO training set (see the module documentation).
#[derive(Clone, Debug)]
pub struct VcocoTrainingSet {
    images_dir: PathBuf,
    images: Vec<RawImage>,
    options: VcocoTrainingOptions,
    summary: VcocoTrainingSummary,
}

impl VcocoTrainingSet {
    /// Read `annotations` (a `trainval_vcoco.json`), images in `images_dir`.
    ///
    /// Stricter than the reference: a COCO category id outside the 80 or a verb outside 0..29
    /// is an error wherever it appears (the reference raises `ValueError` only for the boxes
    /// within `num_queries` and the interactions whose boxes survive).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`](crate::HoiclipError::Io) when the file cannot be read; [`HoiclipError::Config`](crate::HoiclipError::Config) naming the
    /// file, image and field for invalid JSON or entries (a missing or mistyped field, a box
    /// that is not four finite numbers, a COCO category id that is not one of the 80, a verb
    /// outside 0..29, an id that is not an integer).
    pub fn open(
        annotations: impl AsRef<Path>,
        images_dir: impl Into<PathBuf>,
        options: VcocoTrainingOptions,
    ) -> Result<Self> {
        let path = annotations.as_ref();
        Self::from_items(&reader::read_array(path)?, path, images_dir, options)
    }

    /// As [`Self::open`], from the file's text (`source` names it in errors).
    ///
    /// # Errors
    ///
    /// As [`Self::open`], without the I/O case.
    pub fn from_json_str(
        text: &str,
        source: &Path,
        images_dir: impl Into<PathBuf>,
        options: VcocoTrainingOptions,
    ) -> Result<Self> {
        Self::from_items(
            &reader::parse_array(text, source)?,
            source,
            images_dir,
            options,
        )
    }

    fn from_items(
        items: &[Value],
        source: &Path,
        images_dir: impl Into<PathBuf>,
        options: VcocoTrainingOptions,
    ) -> Result<Self> {
        let mut summary = VcocoTrainingSummary {
            images: items.len(),
            ..VcocoTrainingSummary::default()
        };
        let images = items
            .iter()
            .enumerate()
            .map(|(index, item)| parse_image(item, index, source, &mut summary))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            images_dir: images_dir.into(),
            images,
            options,
            summary,
        })
    }

    /// What was read.
    pub fn summary(&self) -> &VcocoTrainingSummary {
        &self.summary
    }

    /// The options the set was read with.
    pub fn options(&self) -> VcocoTrainingOptions {
        self.options
    }

    /// The file name of sample `index`.
    pub fn file_name(&self, index: usize) -> Option<&str> {
        self.images.get(index).map(|i| i.file_name.as_str())
    }

    /// The target of sample `index` for an image of `width × height` pixels, without
    /// augmentation (what [`TrainingSet::get`] pairs with the decoded image): the
    /// reference's training branch of `__getitem__` (see the module documentation).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Training`](crate::HoiclipError::Training) for an index out of range.
    pub fn target(&self, index: usize, width: u32, height: u32) -> Result<HoiTarget> {
        let (boxes, interactions) = self.annotation(index, width, height)?;
        Ok(target_of(&boxes, &interactions, width, height))
    }

    /// The boxes (clamped to a `width × height` image, the first `num_queries`) and the
    /// interactions of the 263 classes of sample `index`.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Training`](crate::HoiclipError::Training) for an index out of range.
    pub fn annotation(
        &self,
        index: usize,
        width: u32,
        height: u32,
    ) -> Result<(Vec<Option<AnnotatedBox>>, Vec<Interaction>)> {
        let image = reader::entry(&self.images, index)?;
        let boxes = reader::kept_boxes(&image.boxes, self.options.num_queries, width, height);
        let kept_box = |id: i64| -> Option<(usize, AnnotatedBox)> {
            let i = usize::try_from(id).ok()?;
            Some((i, boxes.get(i).copied().flatten()?))
        };
        let interactions = image
            .hois
            .iter()
            .filter_map(|hoi| {
                let (subject, _) = kept_box(hoi.subject)?;
                let object = if hoi.object == -1 {
                    None
                } else {
                    Some(kept_box(hoi.object)?)
                };
                let object_label = object.map_or(usize::from(VCOCO_NO_OBJECT), |o| o.1.object);
                let class = hoi_class_of(hoi.verb, object_label)?;
                Some(Interaction {
                    subject,
                    object: object.map(|o| o.0),
                    object_label,
                    class,
                })
            })
            .collect();
        Ok((boxes, interactions))
    }
}

impl TrainingSet for VcocoTrainingSet {
    fn len(&self) -> usize {
        self.images.len()
    }

    fn annotated(&self, index: usize) -> Result<AnnotatedSample> {
        reader::load_annotated(
            &self.images_dir,
            self.file_name(index),
            index,
            self.images.len(),
            |width, height| self.annotation(index, width, height),
        )
    }
}

/// One image of the file, its interactions counted into `summary`.
fn parse_image(
    item: &Value,
    index: usize,
    file: &Path,
    summary: &mut VcocoTrainingSummary,
) -> Result<RawImage> {
    let mut ctx = Ctx {
        file,
        image_index: index,
        image_name: None,
    };
    let file_name = ctx.string(ctx.field(item, "file_name", "")?, "file_name")?;
    ctx.image_name = Some(file_name);
    let boxes = parse_boxes(&ctx, item)?;
    let raw_hois = ctx.array(ctx.field(item, "hoi_annotation", "")?, "hoi_annotation")?;
    let mut hois = Vec::with_capacity(raw_hois.len());
    for (k, h) in raw_hois.iter().enumerate() {
        let path = format!("hoi_annotation[{k}]");
        let subject = ctx.int(
            ctx.field(h, "subject_id", &path)?,
            &format!("{path}.subject_id"),
        )?;
        let object = ctx.int(
            ctx.field(h, "object_id", &path)?,
            &format!("{path}.object_id"),
        )?;
        let verb_path = format!("{path}.category_id");
        let verb = ctx.int(ctx.field(h, "category_id", &path)?, &verb_path)?;
        let verb = usize::try_from(verb)
            .ok()
            .filter(|&v| v < NUM_VCOCO_VERBS)
            .ok_or_else(|| ctx.error(&verb_path, format!("verb {verb} is not in 0..29")))?;
        let box_of = |id: i64| usize::try_from(id).ok().and_then(|i| boxes.get(i));
        if object == -1 {
            summary.person_only_interactions += 1;
        }
        // The object box: `Some(None)` for no object, `None` when the id names no box.
        let object_box = if object == -1 {
            Some(None)
        } else {
            box_of(object).map(Some)
        };
        match (box_of(subject), object_box) {
            (Some(_), Some(o)) => {
                let label = o.map_or(usize::from(VCOCO_NO_OBJECT), |o| o.object);
                if hoi_class_of(verb, label).is_none() {
                    summary.interactions_not_a_class += 1;
                }
            }
            _ => summary.interactions_with_missing_boxes += 1,
        }
        hois.push(RawHoi {
            subject,
            object,
            verb,
        });
    }
    summary.interactions += hois.len();
    if hois.is_empty() {
        summary.images_without_interactions += 1;
    }
    Ok(RawImage {
        file_name: file_name.to_string(),
        boxes,
        hois,
    })
}
