//! A custom dataset: your own images, your own verbs and objects, your own interactions.
//!
//! [`CustomTrainingSet`] reads two JSON files you can write by hand (or export from an
//! annotation tool) and a folder of images, and hands the trainer the same
//! [`AnnotatedSample`]s as the HICO-DET and V-COCO readers. Every entry is checked when the
//! set is opened; a mistake is an error naming the file, the image (index and file name) and
//! the field at fault — nothing is skipped silently.
//!
//! # The vocabulary file
//!
//! ```json
//! {
//!   "verbs": ["ride", "juggle", "hold", "wave"],
//!   "objects": ["person", "bicycle", "unicycle", "juggling_club", "none"],
//!   "classes": [
//!     {"verb": "ride", "object": "bicycle", "prompt": "a photo of a person riding a bicycle"},
//!     {"verb": "ride", "object": "unicycle", "prompt": "a photo of a person riding a unicycle"},
//!     {"verb": "juggle", "object": "juggling_club"},
//!     {"verb": "hold", "object": "juggling_club", "prompt": "a photo of a person holding a juggling club"},
//!     {"verb": "hold", "object": "bicycle", "prompt": "a photo of a person holding a bicycle"},
//!     {"verb": "wave", "object": "none"}
//!   ]
//! }
//! ```
//!
//! - `verbs`, `objects`: names, each once, not empty, without leading or trailing spaces.
//!   `objects` is the object classifier's columns, in this order (the model adds one more
//!   column, "no object", itself).
//! - `objects` must contain `"person"`: it is the subject class. Every interaction's subject
//!   is a box of class `person`, the object classifier has a `person` column (people are
//!   also objects: `hug person`), and the reader checks subjects against it.
//! - `classes`: the HOI classes, the columns of the HOI classifier in this order (class `i`
//!   is the `i`-th entry). Each names a verb of `verbs` and an object of `objects` (names,
//!   not indices); a `(verb, object)` pair appears once; at least one class.
//! - An object-less class ("a person waving", V-COCO's "person only" interactions) has the
//!   object `"none"` ([`NO_OBJECT`]); `objects` must then list `"none"`, a real column of
//!   the object classifier (what object-less pairs are trained on). Boxes cannot be of class
//!   `"none"`.
//! - `prompt` (optional): the CLIP text whose embedding initialises the class's classifier
//!   row. When left out it is [`default_prompt`]: `"a photo of a person {verb} {object}"`,
//!   or `"a photo of a person {verb}"` for an object-less class, underscores written as
//!   spaces (`juggle juggling_club` → `"a photo of a person juggle juggling club"`). CLIP
//!   reads natural sentences better: write the prompt when you can (`"... riding a ..."`).
//!   An empty prompt is an error.
//! - Unknown keys (a misspelt `"promt"`) are errors.
//!
//! [`CustomVocabularyFile::load`] reads it into a [`HoiVocabulary`] (verbs, objects and
//! classes as indices, in file order).
//!
//! # The annotation file
//!
//! The format of HICO-DET's `trainval_hico.json` (GEN-VLKT), with names instead of ids: a
//! JSON array with one entry per image.
//!
//! ```json
//! [
//!   {
//!     "file_name": "unicycle.png",
//!     "annotations": [
//!       {"bbox": [10, 2, 24, 20], "category": "person"},
//!       {"bbox": [12, 20, 22, 30], "category": "unicycle"}
//!     ],
//!     "hoi_annotation": [
//!       {"subject_id": 0, "object_id": 1, "verb": "ride"},
//!       {"subject_id": 0, "verb": "wave"}
//!     ]
//!   },
//!   {
//!     "file_name": "juggling.png",
//!     "annotations": [
//!       {"bbox": [2, 4, 16, 32], "category_id": 0},
//!       {"bbox": [4, 0, 8, 6], "category_id": 3}
//!     ],
//!     "hoi_annotation": [
//!       {"subject_id": 0, "object_id": 1, "category_id": 1},
//!       {"subject_id": 0, "object_id": 1, "verb": "hold"}
//!     ]
//!   },
//!   {"file_name": "empty.png", "annotations": [], "hoi_annotation": []}
//! ]
//! ```
//!
//! - `file_name`: the image, relative to the images folder given to
//!   [`CustomTrainingSet::open`]; each image once. The file must exist when the set is
//!   opened (it is decoded only when the sample is read). Any image format the crate
//!   decodes (PNG, JPEG, WebP, BMP, TIFF, GIF).
//! - `annotations`: the boxes. `bbox` is `[x1, y1, x2, y2]` in pixels of the image (four
//!   finite numbers, `x2 > x1` and `y2 > y1`; a box reaching past the image is clamped to
//!   it). The class is **either** `category`, an object name of the vocabulary, **or**
//!   `category_id`, a **0-based index into the vocabulary's `objects`** (not a COCO id:
//!   a HICO-DET file cannot be used as is).
//! - `hoi_annotation`: the interactions. `subject_id` is the index of the subject's box in
//!   `annotations` (0-based), a box of class `person`. `object_id` is the index of the
//!   object's box, or `-1` — or no `object_id` at all — for an interaction without an
//!   object (its class is `(verb, "none")`). The verb is **either** `verb`, a verb name of
//!   the vocabulary, **or** `category_id`, a **0-based index into the vocabulary's
//!   `verbs`** (not HICO-DET's 1-based verb id). `(verb, object class)` must be a class of
//!   the vocabulary.
//! - Both arrays are required and may be empty: an image without interactions is a sample
//!   with zero pairs (all its pair queries learn "no interaction"), counted in
//!   [`CustomTrainingSummary::images_without_interactions`].
//! - Unknown keys in a box or an interaction are errors (a misspelt `"objet_id"` would
//!   otherwise silently make an object-less interaction); other keys of an image entry
//!   (`img_id`, `width`, ...) are ignored.
//!
//! # What a sample is
//!
//! As the authors' readers build it ([`super::hico`]): the first `num_queries` boxes of the
//! image (64, the pair queries; an interaction using a later box is an error), clamped to
//! the image; the interactions of one `(subject, object)` merge into one pair with several
//! HOI classes (`juggle` and `hold` the same club), at the position of the first, with its
//! boxes; boxes normalised `(cx, cy, w, h)`; an object-less pair has an all-zero object box.
//! A pair's object label is the object box's class (an index into `objects`, the object
//! classifier's column), or the index of `"none"` for an object-less pair; its HOI classes
//! index the vocabulary's `classes`.
//!
//! Whether a box lies inside its image can only be told once the image's size is known: a
//! box used by an interaction that lies wholly outside its image is an error when the
//! sample is read, and [`CustomTrainingSet::verify_images`] checks every image up front
//! (from the image headers, without decoding them).
//!
//! The error for a verb that is not in the vocabulary reads, for example:
//!
//! ```text
//! invalid configuration: annotations.json: image 1 (juggling.png): field
//! `hoi_annotation[0].verb`: "jugle" is not a verb of vocabulary.json (verbs: ride, juggle,
//! hold, wave)
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::annotated::{AnnotatedBox, AnnotatedSample, Interaction, target_of};
use super::reader;
use super::sample::TrainingSet;
use super::target::HoiTarget;
use crate::error::{HoiclipError, Result};
use crate::eval::GtBox;
use crate::eval::json::Ctx;
use crate::model::vocabulary::{HoiClassEntry, HoiVocabulary, NO_OBJECT};
use crate::model::{CustomHoiClass, HoiclipModel, NewVerb};

/// The subject class: every interaction's subject is a box of this object class.
pub const PERSON: &str = "person";

/// How many names an error message lists before it cuts the list.
const LISTED_NAMES: usize = 16;

/// One class of a [`CustomVocabularyFile`]: names, and an optional prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomClass {
    /// A name of [`CustomVocabularyFile::verbs`].
    pub verb: String,
    /// A name of [`CustomVocabularyFile::objects`], or [`NO_OBJECT`] for an object-less class.
    pub object: String,
    /// The CLIP prompt; [`default_prompt`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// The vocabulary file of a custom dataset, as written (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomVocabularyFile {
    /// Verb names.
    pub verbs: Vec<String>,
    /// Object names, the object classifier's columns; must contain [`PERSON`].
    pub objects: Vec<String>,
    /// The HOI classes, in classifier order.
    pub classes: Vec<CustomClass>,
}

/// The prompt of a class written without one: `"a photo of a person {verb} {object}"`, or
/// `"a photo of a person {verb}"` when `object` is [`NO_OBJECT`], underscores as spaces.
pub fn default_prompt(verb: &str, object: &str) -> String {
    let verb = verb.replace('_', " ");
    if object == NO_OBJECT {
        format!("a photo of a person {verb}")
    } else {
        format!("a photo of a person {verb} {}", object.replace('_', " "))
    }
}

impl CustomVocabularyFile {
    /// Read and check the vocabulary file at `path`: the [`HoiVocabulary`] it describes.
    ///
    /// # Errors
    ///
    /// As [`Self::read`] and [`Self::to_vocabulary`].
    pub fn load(path: impl AsRef<Path>) -> Result<HoiVocabulary> {
        let path = path.as_ref();
        Self::read(path)?.to_vocabulary(path)
    }

    /// Parse the vocabulary file at `path` (not checked: see [`Self::to_vocabulary`]).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when it cannot be read; [`HoiclipError::Config`] naming the file
    /// when it is not valid JSON of this shape (a missing or unknown key, a wrong type).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::error::read_text(path)?;
        Self::from_json_str(&text, path)
    }

    /// As [`Self::read`], from the file's text (`source` names it in errors).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] naming `source` when the text is not valid JSON of this shape.
    pub fn from_json_str(text: &str, source: &Path) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| {
            HoiclipError::Config(format!(
                "{}: not a vocabulary file ({{\"verbs\": [...], \"objects\": [...], \
                 \"classes\": [{{\"verb\", \"object\", \"prompt\"}}, ...]}}): {e}",
                source.display()
            ))
        })
    }

    /// The file describing `vocabulary` (prompts written out), e.g. to start a custom
    /// vocabulary from HICO-DET's ([`HoiVocabulary::hico`]).
    ///
    /// # Errors
    ///
    /// As [`HoiVocabulary::validate`]: a class whose verb or object index is out of range.
    pub fn from_vocabulary(vocabulary: &HoiVocabulary) -> Result<Self> {
        vocabulary.validate()?;
        Ok(Self {
            verbs: vocabulary.verbs.clone(),
            objects: vocabulary.objects.clone(),
            classes: vocabulary
                .classes
                .iter()
                .map(|c| CustomClass {
                    verb: vocabulary.verbs[c.verb].clone(),
                    object: vocabulary.objects[c.object].clone(),
                    prompt: Some(c.prompt.clone()),
                })
                .collect(),
        })
    }

    /// Check the file and turn it into a [`HoiVocabulary`]: verbs and objects as written,
    /// classes in file order with their verb and object indices and their prompts (the
    /// written one or [`default_prompt`]). `source` names the file in errors.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] naming `source` and the entry (`verbs[2]`, `classes[4].verb`,
    /// ...): an empty name or one with leading or trailing spaces, a verb or object listed
    /// twice, no `person` object, no class, a class naming a verb or object that is not
    /// listed (or `none` when `objects` lacks it), a `(verb, object)` class listed twice, an
    /// empty prompt.
    pub fn to_vocabulary(&self, source: &Path) -> Result<HoiVocabulary> {
        let err = |entry: &str, what: String| {
            HoiclipError::Config(format!("{}: {entry}: {what}", source.display()))
        };
        let verbs = index_names(&self.verbs, "verbs", "verb", &err)?;
        let objects = index_names(&self.objects, "objects", "object", &err)?;
        if !objects.contains_key(PERSON) {
            return Err(err(
                "objects",
                format!(
                    "no \"{PERSON}\": it is the subject class — every interaction's subject is a \
                     box of class \"{PERSON}\", and the object classifier has a \"{PERSON}\" \
                     column (the human boxes are labelled with it); objects: {}",
                    listed(self.objects.iter().map(String::as_str))
                ),
            ));
        }
        if self.classes.is_empty() {
            return Err(err(
                "classes",
                "no class: list at least one {\"verb\": ..., \"object\": ...}".into(),
            ));
        }
        let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
        let mut classes = Vec::with_capacity(self.classes.len());
        for (i, c) in self.classes.iter().enumerate() {
            let entry = format!("classes[{i}]");
            let verb = *verbs.get(c.verb.as_str()).ok_or_else(|| {
                err(
                    &format!("{entry}.verb"),
                    format!(
                        "{:?} is not one of `verbs` ({})",
                        c.verb,
                        listed(self.verbs.iter().map(String::as_str))
                    ),
                )
            })?;
            let object = *objects.get(c.object.as_str()).ok_or_else(|| {
                let what = if c.object == NO_OBJECT {
                    format!(
                        "\"{NO_OBJECT}\" (a class without an object) needs \"{NO_OBJECT}\" in \
                         `objects`, its object classifier column"
                    )
                } else {
                    format!(
                        "{:?} is not one of `objects` ({})",
                        c.object,
                        listed(self.objects.iter().map(String::as_str))
                    )
                };
                err(&format!("{entry}.object"), what)
            })?;
            if let Some(first) = seen.insert((verb, object), i) {
                return Err(err(
                    &entry,
                    format!(
                        "the class ({}, {}) is listed twice (also classes[{first}])",
                        c.verb, c.object
                    ),
                ));
            }
            let prompt = match &c.prompt {
                Some(p) if p.trim().is_empty() => {
                    return Err(err(
                        &format!("{entry}.prompt"),
                        format!(
                            "empty prompt (leave `prompt` out for the default, {:?})",
                            default_prompt(&c.verb, &c.object)
                        ),
                    ));
                }
                Some(p) => p.clone(),
                None => default_prompt(&c.verb, &c.object),
            };
            classes.push(HoiClassEntry {
                verb,
                object,
                prompt,
            });
        }
        let vocabulary = HoiVocabulary {
            verbs: self.verbs.clone(),
            objects: self.objects.clone(),
            classes,
        };
        vocabulary.validate()?;
        Ok(vocabulary)
    }
}

/// `names` by name, each checked (not empty, trimmed, listed once).
fn index_names<'a>(
    names: &'a [String],
    list: &str,
    what: &str,
    err: &impl Fn(&str, String) -> HoiclipError,
) -> Result<HashMap<&'a str, usize>> {
    let mut index = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let entry = format!("{list}[{i}]");
        if name.trim().is_empty() {
            return Err(err(&entry, format!("empty {what} name")));
        }
        if name.trim() != name {
            return Err(err(
                &entry,
                format!("{what} name {name:?} has leading or trailing spaces"),
            ));
        }
        if let Some(first) = index.insert(name.as_str(), i) {
            return Err(err(
                &entry,
                format!("{what} {name:?} is listed twice (also {list}[{first}])"),
            ));
        }
    }
    Ok(index)
}

/// Names for a message: `a, b, c`, cut after [`LISTED_NAMES`] with the count.
fn listed<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    let count = names.len();
    let mut out = names.take(LISTED_NAMES).collect::<Vec<_>>().join(", ");
    if count > LISTED_NAMES {
        let _ = write!(out, ", ... ({count} in all)");
    }
    if count == 0 {
        out.push_str("none listed");
    }
    out
}

/// How a custom dataset is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustomTrainingOptions {
    /// `num_queries` (64): the model's pair queries. Only an image's first this many boxes
    /// are read; an interaction using a later box is an error.
    pub num_queries: usize,
}

impl Default for CustomTrainingOptions {
    fn default() -> Self {
        Self { num_queries: 64 }
    }
}

/// What was read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomTrainingSummary {
    /// Images (samples).
    pub images: usize,
    /// Images with no interaction (samples with zero pairs).
    pub images_without_interactions: usize,
    /// Boxes in the file.
    pub boxes: usize,
    /// Interactions in the file (one per `hoi_annotation` entry).
    pub interactions: usize,
    /// Interactions without an object (class `(verb, "none")`).
    pub object_less_interactions: usize,
    /// Pairs: distinct `(subject, object)` of an image, summed (what the criterion matches).
    pub pairs: usize,
    /// Interactions per HOI class, in vocabulary order.
    pub per_class: Vec<usize>,
}

impl CustomTrainingSummary {
    /// The classes no interaction of the file has (their classifier rows get no positive).
    pub fn classes_without_interactions(&self) -> Vec<usize> {
        (0..self.per_class.len())
            .filter(|&c| self.per_class[c] == 0)
            .collect()
    }
}

/// One interaction of the file, checked.
#[derive(Clone, Copy, Debug)]
struct CustomHoi {
    /// Its position in `hoi_annotation`, for messages.
    entry: usize,
    subject: usize,
    object: Option<usize>,
    object_label: usize,
    class: usize,
}

/// One image of the file, checked.
#[derive(Clone, Debug)]
struct CustomImage {
    file_name: String,
    /// As written: `[x1, y1, x2, y2]` pixels and the object index into the vocabulary.
    boxes: Vec<GtBox>,
    hois: Vec<CustomHoi>,
}

/// A custom dataset (see the module documentation).
#[derive(Clone, Debug)]
pub struct CustomTrainingSet {
    vocabulary: HoiVocabulary,
    annotations: PathBuf,
    images_dir: PathBuf,
    images: Vec<CustomImage>,
    options: CustomTrainingOptions,
    summary: CustomTrainingSummary,
}

impl CustomTrainingSet {
    /// Read the `vocabulary` file and the `annotations` file, images in `images_dir`, and
    /// check them (see the module documentation).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when a file cannot be read; otherwise [`HoiclipError::Config`]:
    /// for the vocabulary, as [`CustomVocabularyFile::to_vocabulary`]; for the annotations,
    /// naming the file, the image (index and file name) and the field: invalid JSON, a
    /// missing, mistyped or unknown key, a `file_name` listed twice or with no file in
    /// `images_dir`, a box that is not four finite numbers with `x2 > x1` and `y2 > y1`, an
    /// unknown object or verb name (or index), a box of class `none`, a box id out of range
    /// or past the first `num_queries` boxes, a subject box that is not a `person`, an
    /// object that is its own subject, a `(verb, object)` that is not a class, no image.
    pub fn open(
        vocabulary: impl AsRef<Path>,
        annotations: impl AsRef<Path>,
        images_dir: impl Into<PathBuf>,
        options: CustomTrainingOptions,
    ) -> Result<Self> {
        let vocabulary = vocabulary.as_ref();
        let checked = CustomVocabularyFile::load(vocabulary)?;
        Self::read(
            checked,
            &vocabulary.display().to_string(),
            annotations.as_ref(),
            images_dir.into(),
            options,
        )
    }

    /// Prepare `model` to fine-tune on a custom dataset: the model's classes become the
    /// vocabulary file's ([`HoiclipModel::set_vocabulary_with_verbs`]: trained classes keep
    /// their classifier rows, new ones start from their prompt's CLIP text embedding, new
    /// objects get text-built object columns, `new_verbs` give new verbs verb-adapter
    /// columns), and the annotations are read against the model's resulting vocabulary, so
    /// that the targets' object labels and HOI classes are the model's columns.
    ///
    /// Names are matched as the model matches them (case ignored, spaces and underscores the
    /// same); the annotations must spell an object the way the model's vocabulary lists it
    /// (HICO-DET's objects are underscored: `sports_ball`).
    ///
    /// # Errors
    ///
    /// As [`Self::open`]; as [`HoiclipModel::set_vocabulary_with_verbs`].
    pub fn open_for_model(
        model: &mut HoiclipModel,
        vocabulary: impl AsRef<Path>,
        annotations: impl AsRef<Path>,
        images_dir: impl Into<PathBuf>,
        options: CustomTrainingOptions,
        new_verbs: &[NewVerb],
    ) -> Result<Self> {
        let vocabulary = vocabulary.as_ref();
        let own = CustomVocabularyFile::load(vocabulary)?;
        let classes: Vec<CustomHoiClass> = own
            .classes
            .iter()
            .map(|c| CustomHoiClass::new(&own.verbs[c.verb], &own.objects[c.object], &c.prompt))
            .collect();
        model.set_vocabulary_with_verbs(&classes, new_verbs)?;
        Self::with_vocabulary(
            &model.vocabulary,
            &format!("{} (as the model's vocabulary)", vocabulary.display()),
            annotations,
            images_dir,
            options,
        )
    }

    /// As [`Self::open`], with a vocabulary already in memory (e.g. [`HoiVocabulary::hico`]
    /// to annotate new images with HICO-DET's classes by name); `name` names it in errors.
    ///
    /// # Errors
    ///
    /// As [`Self::open`]; the vocabulary's names are checked as a vocabulary file's.
    pub fn with_vocabulary(
        vocabulary: &HoiVocabulary,
        name: &str,
        annotations: impl AsRef<Path>,
        images_dir: impl Into<PathBuf>,
        options: CustomTrainingOptions,
    ) -> Result<Self> {
        let checked =
            CustomVocabularyFile::from_vocabulary(vocabulary)?.to_vocabulary(Path::new(name))?;
        Self::read(
            checked,
            name,
            annotations.as_ref(),
            images_dir.into(),
            options,
        )
    }

    fn read(
        vocabulary: HoiVocabulary,
        vocabulary_name: &str,
        annotations: &Path,
        images_dir: PathBuf,
        options: CustomTrainingOptions,
    ) -> Result<Self> {
        let items = reader::read_array(annotations)?;
        if items.is_empty() {
            return Err(HoiclipError::Config(format!(
                "{}: no image (the file is an empty array)",
                annotations.display()
            )));
        }
        let lookup = Lookup::new(&vocabulary, vocabulary_name);
        let mut summary = CustomTrainingSummary {
            images: items.len(),
            per_class: vec![0; vocabulary.classes.len()],
            ..CustomTrainingSummary::default()
        };
        let mut seen = HashMap::new();
        let mut images = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let image = parse_image(
                &lookup,
                annotations,
                index,
                item,
                &images_dir,
                options,
                &mut seen,
            )?;
            summary.boxes += image.boxes.len();
            summary.interactions += image.hois.len();
            if image.hois.is_empty() {
                summary.images_without_interactions += 1;
            }
            let mut pairs = HashSet::new();
            for hoi in &image.hois {
                summary.per_class[hoi.class] += 1;
                summary.object_less_interactions += usize::from(hoi.object.is_none());
                pairs.insert((hoi.subject, hoi.object));
            }
            summary.pairs += pairs.len();
            images.push(image);
        }
        Ok(Self {
            vocabulary,
            annotations: annotations.to_path_buf(),
            images_dir,
            images,
            options,
            summary,
        })
    }

    /// The vocabulary: its classes are the HOI classes of the targets, its objects the
    /// object labels.
    pub fn vocabulary(&self) -> &HoiVocabulary {
        &self.vocabulary
    }

    /// What was read.
    pub fn summary(&self) -> &CustomTrainingSummary {
        &self.summary
    }

    /// The options the set was read with.
    pub fn options(&self) -> CustomTrainingOptions {
        self.options
    }

    /// The images folder.
    pub fn images_dir(&self) -> &Path {
        &self.images_dir
    }

    /// The file name of sample `index`.
    pub fn file_name(&self, index: usize) -> Option<&str> {
        self.images.get(index).map(|i| i.file_name.as_str())
    }

    /// The summary in words: counts, then each class with its interactions (for logs).
    pub fn describe(&self) -> String {
        let s = &self.summary;
        let mut out = format!(
            "{} images ({} without interactions), {} boxes, {} interactions ({} without an \
             object) in {} pairs, {} classes\n",
            s.images,
            s.images_without_interactions,
            s.boxes,
            s.interactions,
            s.object_less_interactions,
            s.pairs,
            s.per_class.len()
        );
        for (c, class) in self.vocabulary.classes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  class {c:>3} ({}, {}): {} interactions",
                self.vocabulary.verbs[class.verb],
                self.vocabulary.objects[class.object],
                s.per_class[c]
            );
        }
        out
    }

    /// The target of sample `index` for an image of `width × height` pixels, without
    /// augmentation (what [`TrainingSet::get`] pairs with the decoded image).
    ///
    /// # Errors
    ///
    /// As [`Self::annotation`].
    pub fn target(&self, index: usize, width: u32, height: u32) -> Result<HoiTarget> {
        let (boxes, interactions) = self.annotation(index, width, height)?;
        Ok(target_of(&boxes, &interactions, width, height))
    }

    /// The boxes (the first `num_queries`, clamped to a `width × height` image; `None` when
    /// nothing is left) and the interactions of sample `index`, in file order.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Training`] for an index out of range; [`HoiclipError::Config`] naming
    /// the file, image and field when an interaction's box lies wholly outside the image.
    pub fn annotation(
        &self,
        index: usize,
        width: u32,
        height: u32,
    ) -> Result<(Vec<Option<AnnotatedBox>>, Vec<Interaction>)> {
        let image = reader::entry(&self.images, index)?;
        let boxes = reader::kept_boxes(&image.boxes, self.options.num_queries, width, height);
        let ctx = Ctx {
            file: &self.annotations,
            image_index: index,
            image_name: Some(&image.file_name),
        };
        let mut interactions = Vec::with_capacity(image.hois.len());
        for hoi in &image.hois {
            let ids = [("subject_id", Some(hoi.subject)), ("object_id", hoi.object)];
            for (field, id) in ids {
                let Some(id) = id else { continue };
                if boxes.get(id).copied().flatten().is_none() {
                    return Err(ctx.error(
                        &format!("hoi_annotation[{}].{field}", hoi.entry),
                        format!(
                            "box {id} (annotations[{id}].bbox {:?}) lies outside the \
                             {width}x{height} image: nothing is left of it once clamped to \
                             the image",
                            image.boxes[id].bbox
                        ),
                    ));
                }
            }
            interactions.push(Interaction {
                subject: hoi.subject,
                object: hoi.object,
                object_label: hoi.object_label,
                class: hoi.class,
            });
        }
        Ok((boxes, interactions))
    }

    /// Check every image's size against its boxes, reading only the image headers: what
    /// reading each sample would find (a box of an interaction wholly outside its image, an
    /// unreadable image header), before training starts.
    ///
    /// # Errors
    ///
    /// The first problem found: as [`Self::annotation`], or [`crate::imaging::image_size`].
    pub fn verify_images(&self) -> Result<()> {
        for (index, image) in self.images.iter().enumerate() {
            let (width, height) =
                crate::imaging::image_size(self.images_dir.join(&image.file_name))?;
            self.annotation(index, width, height)?;
        }
        Ok(())
    }
}

impl TrainingSet for CustomTrainingSet {
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

/// Which list of the vocabulary a name or index refers to.
#[derive(Clone, Copy)]
enum ListKind {
    Object,
    Verb,
}

/// The vocabulary by name, for reading the annotations.
struct Lookup<'a> {
    vocabulary: &'a HoiVocabulary,
    /// How errors name the vocabulary (its file).
    name: &'a str,
    verbs: HashMap<&'a str, usize>,
    objects: HashMap<&'a str, usize>,
    classes: HashMap<(usize, usize), usize>,
    person: usize,
    no_object: Option<usize>,
}

impl<'a> Lookup<'a> {
    /// The lookup of a checked vocabulary (names unique, `person` present).
    fn new(vocabulary: &'a HoiVocabulary, name: &'a str) -> Self {
        let by_name = |names: &'a [String]| {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i))
                .collect::<HashMap<_, _>>()
        };
        let objects = by_name(&vocabulary.objects);
        Self {
            vocabulary,
            name,
            verbs: by_name(&vocabulary.verbs),
            person: objects[PERSON],
            no_object: vocabulary.no_object_index(),
            objects,
            classes: vocabulary
                .classes
                .iter()
                .enumerate()
                .map(|(i, c)| ((c.verb, c.object), i))
                .collect(),
        }
    }

    fn names(&self, kind: ListKind) -> &'a [String] {
        match kind {
            ListKind::Object => &self.vocabulary.objects,
            ListKind::Verb => &self.vocabulary.verbs,
        }
    }

    /// The index named by `entry[name_key]` (a name) or `entry[id_key]` (a 0-based index),
    /// exactly one of which must be present.
    fn named_or_indexed(
        &self,
        ctx: &Ctx<'_>,
        entry: &Value,
        path: &str,
        (name_key, id_key): (&str, &str),
        kind: ListKind,
    ) -> Result<usize> {
        let (word, list) = match kind {
            ListKind::Object => ("object", "objects"),
            ListKind::Verb => ("verb", "verbs"),
        };
        let names = self.names(kind);
        let all = || listed(names.iter().map(String::as_str));
        match (entry.get(name_key), entry.get(id_key)) {
            (Some(_), Some(_)) => Err(ctx.error(
                path,
                format!("give either `{name_key}` (a name) or `{id_key}` (an index), not both"),
            )),
            (None, None) => Err(ctx.error(
                &format!("{path}.{name_key}"),
                format!("missing (the {word}: `{name_key}`, a name, or `{id_key}`, an index)"),
            )),
            (Some(v), None) => {
                let field = format!("{path}.{name_key}");
                let name = ctx.string(v, &field)?;
                let map = match kind {
                    ListKind::Object => &self.objects,
                    ListKind::Verb => &self.verbs,
                };
                map.get(name).copied().ok_or_else(|| {
                    ctx.error(
                        &field,
                        format!(
                            "{name:?} is not {} {word} of {} ({list}: {})",
                            article(word),
                            self.name,
                            all()
                        ),
                    )
                })
            }
            (None, Some(v)) => {
                let field = format!("{path}.{id_key}");
                let i = ctx.index(v, &field)?;
                if i < names.len() {
                    Ok(i)
                } else {
                    Err(ctx.error(
                        &field,
                        format!(
                            "{i} is not {} {word} index of {}: a 0-based index into its {} \
                             {list} ({})",
                            article(word),
                            self.name,
                            names.len(),
                            all()
                        ),
                    ))
                }
            }
        }
    }

    /// The error for `(verb, object)` that is not a class.
    fn not_a_class(
        &self,
        ctx: &Ctx<'_>,
        path: &str,
        verb: usize,
        object_name: &str,
    ) -> HoiclipError {
        let verb_name = &self.vocabulary.verbs[verb];
        let of_verb: Vec<String> = self
            .vocabulary
            .classes
            .iter()
            .filter(|c| c.verb == verb)
            .map(|c| format!("({verb_name}, {})", self.vocabulary.objects[c.object]))
            .collect();
        let classes = if of_verb.is_empty() {
            format!("{verb_name:?} has no class")
        } else {
            format!(
                "the classes of {verb_name:?} are {}",
                listed(of_verb.iter().map(String::as_str))
            )
        };
        let without = if object_name == NO_OBJECT {
            " (an interaction without an object)"
        } else {
            ""
        };
        ctx.error(
            path,
            format!(
                "({verb_name}, {object_name}){without} is not a class of {}: {classes}",
                self.name
            ),
        )
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// An error unless `entry` is an object whose keys are all in `allowed`.
fn check_keys(ctx: &Ctx<'_>, entry: &Value, path: &str, allowed: &[&str]) -> Result<()> {
    let Value::Object(map) = entry else {
        return Err(ctx.error(
            path,
            format!(
                "expected an object, found {}",
                crate::eval::json::kind(entry)
            ),
        ));
    };
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let expected = allowed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ctx.error(
                &format!("{path}.{key}"),
                format!("unknown key (expected {expected})"),
            ));
        }
    }
    Ok(())
}

/// One image of the file, checked; `seen` maps the file names read so far to their image.
fn parse_image(
    lookup: &Lookup<'_>,
    file: &Path,
    index: usize,
    item: &Value,
    images_dir: &Path,
    options: CustomTrainingOptions,
    seen: &mut HashMap<String, usize>,
) -> Result<CustomImage> {
    let mut ctx = Ctx {
        file,
        image_index: index,
        image_name: None,
    };
    let file_name = ctx.string(ctx.field(item, "file_name", "")?, "file_name")?;
    if file_name.trim().is_empty() {
        return Err(ctx.error("file_name", "empty"));
    }
    ctx.image_name = Some(file_name);
    if let Some(first) = seen.insert(file_name.to_string(), ctx.image_index) {
        return Err(ctx.error(
            "file_name",
            format!("{file_name:?} is listed twice (also image {first})"),
        ));
    }
    let path = images_dir.join(file_name);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(ctx.error("file_name", format!("{} is not a file", path.display())));
        }
        Err(e) => {
            return Err(ctx.error(
                "file_name",
                format!("no image file {}: {e}", path.display()),
            ));
        }
    }

    let raw_boxes = ctx.array(ctx.field(item, "annotations", "")?, "annotations")?;
    let mut boxes = Vec::with_capacity(raw_boxes.len());
    for (k, b) in raw_boxes.iter().enumerate() {
        let path = format!("annotations[{k}]");
        check_keys(&ctx, b, &path, &["bbox", "category", "category_id"])?;
        let bbox_path = format!("{path}.bbox");
        let bbox = ctx.bbox(ctx.field(b, "bbox", &path)?, &bbox_path)?;
        for (axis, lo, hi) in [("x", 0, 2), ("y", 1, 3)] {
            if bbox[hi] <= bbox[lo] {
                return Err(ctx.error(
                    &bbox_path,
                    format!(
                        "{axis}2 ({}) is not greater than {axis}1 ({}): a box is [x1, y1, x2, y2] \
                         in pixels, with an area",
                        bbox[hi], bbox[lo]
                    ),
                ));
            }
        }
        let object = lookup.named_or_indexed(
            &ctx,
            b,
            &path,
            ("category", "category_id"),
            ListKind::Object,
        )?;
        if Some(object) == lookup.no_object {
            return Err(ctx.error(
                &path,
                format!(
                    "a box cannot be of class \"{NO_OBJECT}\" (the object of object-less \
                     classes): leave `object_id` out of an interaction without an object"
                ),
            ));
        }
        boxes.push(GtBox { bbox, object });
    }

    // The object class of box `id` of `field`, checked against the boxes and `num_queries`.
    let box_at = |id: usize, field: &str| -> Result<usize> {
        let b = boxes.get(id).map(|b| b.object).ok_or_else(|| {
            ctx.error(
                field,
                format!(
                    "box {id} does not exist (the image has {} boxes in `annotations`, 0-based)",
                    boxes.len()
                ),
            )
        })?;
        if id >= options.num_queries {
            return Err(ctx.error(
                field,
                format!(
                    "box {id} is past the first {} boxes (num_queries), the only ones read: put \
                     the boxes that interactions use first, or raise num_queries",
                    options.num_queries
                ),
            ));
        }
        Ok(b)
    };

    let raw_hois = ctx.array(ctx.field(item, "hoi_annotation", "")?, "hoi_annotation")?;
    let mut hois = Vec::with_capacity(raw_hois.len());
    for (k, h) in raw_hois.iter().enumerate() {
        let path = format!("hoi_annotation[{k}]");
        check_keys(
            &ctx,
            h,
            &path,
            &["subject_id", "object_id", "verb", "category_id"],
        )?;
        let subject_path = format!("{path}.subject_id");
        let subject = ctx.index(ctx.field(h, "subject_id", &path)?, &subject_path)?;
        let subject_class = box_at(subject, &subject_path)?;
        if subject_class != lookup.person {
            return Err(ctx.error(
                &subject_path,
                format!(
                    "box {subject} is a {:?} (annotations[{subject}]): the subject of an \
                     interaction must be a \"{PERSON}\"",
                    lookup.vocabulary.objects[subject_class]
                ),
            ));
        }
        let object_path = format!("{path}.object_id");
        let object = match h.get("object_id") {
            None => None,
            Some(v) => match ctx.int(v, &object_path)? {
                -1 => None,
                id if id < 0 => {
                    return Err(ctx.error(
                        &object_path,
                        format!(
                            "negative box index {id} (-1, or no `object_id`, is an interaction \
                             without an object)"
                        ),
                    ));
                }
                id => Some(id as usize),
            },
        };
        if object == Some(subject) {
            return Err(ctx.error(
                &object_path,
                format!("box {subject} is the interaction's subject too"),
            ));
        }
        let object_class = object.map(|o| box_at(o, &object_path)).transpose()?;
        let verb =
            lookup.named_or_indexed(&ctx, h, &path, ("verb", "category_id"), ListKind::Verb)?;
        let object_label = object_class.or(lookup.no_object);
        let class = object_label.and_then(|o| lookup.classes.get(&(verb, o)).copied());
        let (Some(object_label), Some(class)) = (object_label, class) else {
            let object_name =
                object_class.map_or(NO_OBJECT, |o| lookup.vocabulary.objects[o].as_str());
            return Err(lookup.not_a_class(&ctx, &path, verb, object_name));
        };
        hois.push(CustomHoi {
            entry: k,
            subject,
            object,
            object_label,
            class,
        });
    }
    Ok(CustomImage {
        file_name: file_name.to_string(),
        boxes,
        hois,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(verb: &str, object: &str, prompt: Option<&str>) -> CustomClass {
        CustomClass {
            verb: verb.into(),
            object: object.into(),
            prompt: prompt.map(Into::into),
        }
    }

    fn file() -> CustomVocabularyFile {
        CustomVocabularyFile {
            verbs: vec!["ride".into(), "juggle".into(), "wave".into()],
            objects: vec![
                "person".into(),
                "unicycle".into(),
                "juggling_club".into(),
                "none".into(),
            ],
            classes: vec![
                class(
                    "ride",
                    "unicycle",
                    Some("a photo of a person riding a unicycle"),
                ),
                class("juggle", "juggling_club", None),
                class("wave", "none", None),
            ],
        }
    }

    fn error(f: &CustomVocabularyFile) -> String {
        f.to_vocabulary(Path::new("vocab.json"))
            .expect_err("invalid vocabulary")
            .to_string()
    }

    fn assert_names(message: &str, parts: &[&str]) {
        for part in parts {
            assert!(message.contains(part), "{part:?} not in {message:?}");
        }
    }

    #[test]
    fn a_valid_file_becomes_a_vocabulary_in_file_order() {
        let v = file()
            .to_vocabulary(Path::new("vocab.json"))
            .expect("valid");
        assert_eq!(v.verbs, ["ride", "juggle", "wave"]);
        assert_eq!(v.objects, ["person", "unicycle", "juggling_club", "none"]);
        let classes: Vec<(usize, usize)> = v.classes.iter().map(|c| (c.verb, c.object)).collect();
        assert_eq!(classes, [(0, 1), (1, 2), (2, 3)]);
        assert_eq!(
            v.prompts(),
            [
                "a photo of a person riding a unicycle",
                "a photo of a person juggle juggling club",
                "a photo of a person wave",
            ]
        );
        assert_eq!(v.no_object_index(), Some(3));
    }

    #[test]
    fn default_prompts_spell_underscores_as_spaces() {
        assert_eq!(
            default_prompt("hold", "juggling_club"),
            "a photo of a person hold juggling club"
        );
        assert_eq!(
            default_prompt("talk_on", "none"),
            "a photo of a person talk on"
        );
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut f = file();
        f.verbs.push("ride".into());
        assert_names(
            &error(&f),
            &["vocab.json", "verbs[3]", "\"ride\"", "verbs[0]"],
        );
        let mut f = file();
        f.objects.insert(2, "unicycle".into());
        assert_names(
            &error(&f),
            &["vocab.json", "objects[2]", "\"unicycle\"", "objects[1]"],
        );
    }

    #[test]
    fn empty_or_padded_names_are_refused() {
        let mut f = file();
        f.objects[1] = "  ".into();
        assert_names(
            &error(&f),
            &["vocab.json", "objects[1]", "empty object name"],
        );
        let mut f = file();
        f.verbs[2] = "wave ".into();
        assert_names(&error(&f), &["verbs[2]", "leading or trailing spaces"]);
    }

    #[test]
    fn unknown_verbs_and_objects_are_refused() {
        let mut f = file();
        f.classes[1].verb = "jugle".into();
        assert_names(
            &error(&f),
            &[
                "vocab.json",
                "classes[1].verb",
                "\"jugle\"",
                "ride, juggle, wave",
            ],
        );
        let mut f = file();
        f.classes[0].object = "bicycle".into();
        assert_names(
            &error(&f),
            &["classes[0].object", "\"bicycle\"", "person, unicycle"],
        );
    }

    #[test]
    fn object_less_classes_need_none_among_the_objects() {
        let mut f = file();
        f.objects.pop();
        assert_names(&error(&f), &["classes[2].object", "\"none\"", "`objects`"]);
    }

    #[test]
    fn duplicate_classes_are_refused() {
        let mut f = file();
        f.classes
            .push(class("juggle", "juggling_club", Some("other")));
        assert_names(
            &error(&f),
            &["classes[3]", "(juggle, juggling_club)", "classes[1]"],
        );
    }

    #[test]
    fn a_vocabulary_needs_classes_and_a_person() {
        let mut f = file();
        f.classes.clear();
        assert_names(&error(&f), &["vocab.json", "classes", "no class"]);
        let mut f = file();
        f.objects[0] = "human".into();
        assert_names(
            &error(&f),
            &["vocab.json", "objects", "no \"person\"", "subject"],
        );
    }

    #[test]
    fn empty_prompts_are_refused() {
        let mut f = file();
        f.classes[0].prompt = Some(" ".into());
        assert_names(&error(&f), &["classes[0].prompt", "empty prompt"]);
    }

    #[test]
    fn unknown_keys_are_refused_when_parsing() {
        let text = r#"{"verbs": ["ride"], "objects": ["person"],
            "classes": [{"verb": "ride", "object": "person", "promt": "x"}]}"#;
        let err = CustomVocabularyFile::from_json_str(text, Path::new("vocab.json"))
            .expect_err("misspelt key");
        assert_names(&err.to_string(), &["vocab.json", "promt"]);
    }

    #[test]
    fn built_in_vocabularies_round_trip_through_the_file_form() {
        for v in [HoiVocabulary::hico(), HoiVocabulary::vcoco()] {
            let f = CustomVocabularyFile::from_vocabulary(&v).expect("valid");
            let back = f.to_vocabulary(Path::new("built-in")).expect("names check");
            assert_eq!(back, v);
            let json = serde_json::to_string(&f).expect("serialise");
            let parsed = CustomVocabularyFile::from_json_str(&json, Path::new("x")).expect("parse");
            assert_eq!(parsed, f);
        }
    }

    #[test]
    fn long_name_lists_are_cut() {
        let names: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
        let s = listed(names.iter().map(String::as_str));
        assert!(s.starts_with("v0, v1,"), "{s}");
        assert!(s.ends_with("... (40 in all)"), "{s}");
    }
}
