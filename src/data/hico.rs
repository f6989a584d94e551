//! [`HicoTrainingSet`]: the HICO-DET training annotations (`trainval_hico.json` of
//! GEN-VLKT / HOICLIP) read as the authors' `HICODetection('train')` reads them
//! (`datasets/datasets_gen/hico.py`), images decoded from a folder on demand.
//!
//! What the reference does, and so this reader:
//!
//! - **Which images.** At construction, an image whose `hoi_annotation` names a box that does
//!   not exist is left out whole; pairs `(subject, object)` that carry an unseen class of the
//!   zero-shot split (by `hoi_category_id`, whether or not `del_unseen` is set) are dropped;
//!   an image left with no pair is left out.
//! - **Per image.** Only the first `num_queries` boxes are kept (64, the pair queries); boxes
//!   are clamped to the image and dropped when empty, and pairs using a dropped box are
//!   skipped; a pair whose `(verb, object)` is not a training class is skipped (with
//!   `del_unseen`, the unseen classes are not training classes); the interactions of one
//!   `(subject, object)` pair merge into one pair with several HOI classes, its boxes and
//!   object class those of its first interaction.
//! - **Classes.** HOI classes index the training classes: the 600 HICO-DET classes in order,
//!   or with `del_unseen` the seen ones in order (what the model's training classifier scores).
//! - **Boxes.** Normalised `(cx, cy, w, h)` of the image, as DETR's transforms leave them.
//!
//! The JSON is checked as it is read: a malformed entry is an error naming the file, the image
//! and the field (the reference would raise on those too); what the reference skips silently
//! is skipped and counted in [`HicoTrainingSet::summary`]. The authors' augmentation (flip,
//! colour jitter, multi-scale resize and crop) is applied by the loader
//! ([`super::loader`]) to the [`AnnotatedSample`]s this set hands out.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::annotated::{AnnotatedBox, AnnotatedSample, Interaction, target_of};
use super::reader;
use super::sample::TrainingSet;
use super::target::HoiTarget;
use crate::error::Result;
use crate::eval::GtBox;
use crate::eval::annotations::parse_boxes;
use crate::eval::ids::{HoiTable, verb_index_of_verb_id};
use crate::eval::json::Ctx;
use crate::model::ZeroShotType;

/// How the training annotations are read (`HICODetection`'s arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HicoTrainingOptions {
    /// `num_queries` (64): boxes after the first this many are dropped.
    pub num_queries: usize,
    /// `--zero_shot_type`: its unseen classes' pairs are dropped.
    pub zero_shot: ZeroShotType,
    /// `--del_unseen`: the unseen classes are not training classes (every zero-shot script
    /// sets it).
    pub del_unseen: bool,
}

impl Default for HicoTrainingOptions {
    fn default() -> Self {
        Self {
            num_queries: 64,
            zero_shot: ZeroShotType::Default,
            del_unseen: false,
        }
    }
}

impl HicoTrainingOptions {
    /// The options of the authors' script for `split` (`del_unseen` on for zero-shot splits).
    pub fn for_split(split: ZeroShotType) -> Self {
        Self {
            zero_shot: split,
            del_unseen: split != ZeroShotType::Default,
            ..Self::default()
        }
    }
}

/// One interaction of the file, as written.
#[derive(Clone, Copy, Debug)]
struct RawHoi {
    subject: usize,
    object: usize,
    verb: usize,
}

/// One kept image of the file.
#[derive(Clone, Debug)]
struct RawImage {
    file_name: String,
    /// As written: `[x1, y1, x2, y2]` pixels and the object index 0..80.
    boxes: Vec<GtBox>,
    hois: Vec<RawHoi>,
}

/// What the constructor kept and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HicoTrainingSummary {
    /// Images in the file.
    pub images_in_file: usize,
    /// Images kept.
    pub images: usize,
    /// Interactions kept (before the per-image box checks).
    pub interactions: usize,
    /// Images left out because an interaction names a box that does not exist.
    pub images_with_bad_box_ids: usize,
    /// Interactions dropped because their pair carries an unseen class.
    pub unseen_interactions: usize,
    /// The training classes (600, or the seen ones with `del_unseen`).
    pub training_classes: usize,
}

/// The HICO-DET training set (see the module documentation).
#[derive(Clone, Debug)]
pub struct HicoTrainingSet {
    images_dir: PathBuf,
    images: Vec<RawImage>,
    options: HicoTrainingOptions,
    /// HOI class (0..600) → training class index.
    training_index: Vec<Option<usize>>,
    table: std::sync::Arc<HoiTable>,
    summary: HicoTrainingSummary,
}

impl HicoTrainingSet {
    /// Read `annotations` (a `trainval_hico.json`), images in `images_dir`.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`](crate::HoiclipError::Io) when the file cannot be read; [`HoiclipError::Config`](crate::HoiclipError::Config) naming the
    /// file, image and field for invalid JSON or entries (a box that is not four numbers, a
    /// COCO category or verb id that does not exist, a negative box index).
    pub fn open(
        annotations: impl AsRef<Path>,
        images_dir: impl Into<PathBuf>,
        options: HicoTrainingOptions,
    ) -> Result<Self> {
        let path = annotations.as_ref();
        Self::from_items(&reader::read_array(path)?, path, images_dir, options)
    }

    /// As [`Self::open`], from the file's text (`source` names it in errors).
    ///
    /// # Errors
    ///
    /// As [`Self::open`].
    pub fn from_json_str(
        text: &str,
        source: &Path,
        images_dir: impl Into<PathBuf>,
        options: HicoTrainingOptions,
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
        options: HicoTrainingOptions,
    ) -> Result<Self> {
        let table = HoiTable::new();
        let unseen: HashSet<usize> = options
            .zero_shot
            .unseen_hois()
            .iter()
            .map(|&h| usize::from(h))
            .collect();
        let mut training_index = vec![None; crate::labels::hico::HICO_HOIS.len()];
        let mut next = 0;
        for (hoi, slot) in training_index.iter_mut().enumerate() {
            if !(options.del_unseen && unseen.contains(&hoi)) {
                *slot = Some(next);
                next += 1;
            }
        }
        let mut summary = HicoTrainingSummary {
            images_in_file: items.len(),
            training_classes: next,
            ..HicoTrainingSummary::default()
        };
        let mut images = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let (image, unseen_dropped, bad_ids) = parse_image(item, index, source, &unseen)?;
            summary.unseen_interactions += unseen_dropped;
            if bad_ids {
                summary.images_with_bad_box_ids += 1;
                continue;
            }
            if !image.hois.is_empty() {
                summary.interactions += image.hois.len();
                images.push(image);
            }
        }
        summary.images = images.len();
        Ok(Self {
            images_dir: images_dir.into(),
            images,
            options,
            training_index,
            table: std::sync::Arc::new(table),
            summary,
        })
    }

    /// What was kept and dropped.
    pub fn summary(&self) -> &HicoTrainingSummary {
        &self.summary
    }

    /// The file name of sample `index`.
    pub fn file_name(&self, index: usize) -> Option<&str> {
        self.images.get(index).map(|i| i.file_name.as_str())
    }

    /// The target of sample `index` for an image of `width × height` pixels, without
    /// augmentation (what [`TrainingSet::get`] pairs with the decoded image).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Training`](crate::HoiclipError::Training) for an index out of range.
    pub fn target(&self, index: usize, width: u32, height: u32) -> Result<HoiTarget> {
        let (boxes, interactions) = self.annotation(index, width, height)?;
        Ok(target_of(&boxes, &interactions, width, height))
    }

    /// The boxes (clamped to a `width × height` image, the first `num_queries`) and the
    /// interactions of training classes of sample `index`.
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
        let interactions = image
            .hois
            .iter()
            .filter_map(|hoi| {
                let object = boxes.get(hoi.object).copied().flatten()?;
                boxes.get(hoi.subject).copied().flatten()?;
                let class = self
                    .table
                    .get(hoi.verb, object.object)
                    .and_then(|c| self.training_index[c])?;
                Some(Interaction {
                    subject: hoi.subject,
                    object: Some(hoi.object),
                    object_label: object.object,
                    class,
                })
            })
            .collect();
        Ok((boxes, interactions))
    }
}

impl TrainingSet for HicoTrainingSet {
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

/// One image of the file: the image, how many interactions its unseen pairs dropped, and
/// whether it names a box that does not exist (then the reference leaves it out).
fn parse_image(
    item: &Value,
    index: usize,
    file: &Path,
    unseen: &HashSet<usize>,
) -> Result<(RawImage, usize, bool)> {
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
    let mut unseen_pairs = HashSet::new();
    let mut bad_ids = false;
    for (k, h) in raw_hois.iter().enumerate() {
        let path = format!("hoi_annotation[{k}]");
        let subject = ctx.index(
            ctx.field(h, "subject_id", &path)?,
            &format!("{path}.subject_id"),
        )?;
        let object = ctx.index(
            ctx.field(h, "object_id", &path)?,
            &format!("{path}.object_id"),
        )?;
        let verb_path = format!("{path}.category_id");
        let verb_id = ctx.int(ctx.field(h, "category_id", &path)?, &verb_path)?;
        let verb = verb_index_of_verb_id(verb_id)
            .ok_or_else(|| ctx.error(&verb_path, format!("verb id {verb_id} is not in 1..=117")))?;
        let hoi_path = format!("{path}.hoi_category_id");
        let hoi_id = ctx.int(ctx.field(h, "hoi_category_id", &path)?, &hoi_path)?;
        if !(1..=600).contains(&hoi_id) {
            return Err(ctx.error(&hoi_path, format!("{hoi_id} is not in 1..=600")));
        }
        if unseen.contains(&(hoi_id as usize - 1)) {
            unseen_pairs.insert((subject, object));
        }
        if subject >= boxes.len() || object >= boxes.len() {
            bad_ids = true;
        }
        hois.push(RawHoi {
            subject,
            object,
            verb,
        });
    }
    let before = hois.len();
    hois.retain(|h| !unseen_pairs.contains(&(h.subject, h.object)));
    let unseen_dropped = before - hois.len();
    Ok((
        RawImage {
            file_name: file_name.to_string(),
            boxes,
            hois,
        },
        unseen_dropped,
        bad_ids,
    ))
}
