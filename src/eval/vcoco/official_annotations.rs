//! The official V-COCO ground truth: the vsrl file (`data/vcoco/vcoco_test.json`), the COCO
//! instances file it refers to (`instances_vcoco_all_2014.json`), the split ids
//! (`data/splits/vcoco_test.ids`), and the per-image ground truth `vsrl_eval.py` builds from
//! them (`_get_vcocodb`).
//!
//! # The vsrl file
//!
//! A JSON array with one object per action (26 in V-COCO, in file order):
//!
//! ```json
//! {"action_name": "eat", "role_name": ["agent", "obj", "instr"],
//!  "image_id": [i_0, ..., i_{N-1}], "ann_id": [a_0, ...], "label": [0, 1, ...],
//!  "role_object_id": [a_0, ..., a_{N-1}, obj_0, ..., obj_{N-1}, instr_0, ..., instr_{N-1}],
//!  "include": [[], ["banana", ...], ["fork", ...]]}
//! ```
//!
//! Row `k` is one person annotation: its COCO image id, its COCO annotation id, whether it
//! does the action (`label == 1`), and per role the COCO annotation id of the role object
//! (`0`: no object). `role_object_id` is role-major (numpy's `reshape((roles, N)).T`), and
//! its first block repeats `ann_id`. `include` (the object categories a role may take) is
//! read but not used by the evaluation.
//!
//! # The COCO instances file
//!
//! `images` (`id`, `width`, `height`), `annotations` (`id`, `image_id`, `category_id`,
//! `bbox` = `[x, y, w, h]`, `area`, `iscrowd`, optional `ignore`) and `categories` (`id`,
//! `name`; the FIRST listed category is the person class, as `vsrl_eval.py` takes contiguous
//! class 1). Other keys are ignored.
//!
//! # Ground-truth boxes
//!
//! As `_add_gt_annotations`: annotations with `ignore == 1` are dropped; the box becomes
//! `x2 = x + max(0, w - 1)`, `y2 = y + max(0, h - 1)` (inclusive pixels), every coordinate
//! clipped to `[0, width - 1]` / `[0, height - 1]`; annotations with `area <= 0` or a box
//! with `x2 <= x1` or `y2 <= y1` after clipping are dropped; the rest is stored in float32.
//! A person is "annotated" when its id is in the FIRST action's `ann_id` list; persons that
//! are not (`gt_actions == -1`) are matched but ignored.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::json::{Loc, kind, parse};
use crate::error::read_text;
use crate::error::{HoiclipError, Result};

/// One action of the vsrl file (one element of the top-level array).
#[derive(Debug, Clone, PartialEq)]
pub struct VsrlAction {
    /// `action_name`, e.g. `"eat"`.
    pub action_name: String,
    /// `role_name`: `"agent"` first, then zero to two roles (`"obj"`, `"instr"`).
    pub role_names: Vec<String>,
    /// `image_id` of each row (COCO image id).
    pub image_ids: Vec<i64>,
    /// `ann_id` of each row (COCO annotation id of the person).
    pub ann_ids: Vec<i64>,
    /// `label` of each row: `1` when the person does the action.
    pub labels: Vec<i64>,
    /// `role_object_id` as rows: row `k` holds `role_names.len()` ids, `[ann_id, role
    /// object of role 1, role object of role 2]`; `0` is "no object".
    pub role_object_ids: Vec<Vec<i64>>,
    /// `include` (per role, the category names allowed); empty lists when absent.
    pub include: Vec<Vec<String>>,
}

impl VsrlAction {
    /// The roles other than `"agent"` (the ones with a role AP).
    pub fn roles(&self) -> &[String] {
        self.role_names.get(1..).unwrap_or(&[])
    }

    /// Number of rows (person annotations).
    pub fn len(&self) -> usize {
        self.ann_ids.len()
    }

    /// Whether the action has no rows.
    pub fn is_empty(&self) -> bool {
        self.ann_ids.is_empty()
    }
}

/// A whole vsrl file (`vcoco_{train,val,test}.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct VsrlAnnotations {
    /// The actions, in file order (this order is the action order of every result).
    pub actions: Vec<VsrlAction>,
    /// The file they were read from (for messages).
    pub source: PathBuf,
}

impl VsrlAnnotations {
    /// Reads a vsrl file.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when it cannot be read; [`HoiclipError::Config`] naming the file,
    /// the action and the field when it is not JSON, a field is missing or mistyped, the row
    /// lists differ in length, `role_object_id` is not `roles x rows` long, `role_name` does
    /// not start with `"agent"` or has more than three roles, or there is no action.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_json_str(&read_text(path)?, path)
    }

    /// Parses vsrl JSON; `source` names it in error messages.
    ///
    /// # Errors
    ///
    /// As [`VsrlAnnotations::from_file`], without the I/O case.
    pub fn from_json_str(text: &str, source: impl AsRef<Path>) -> Result<Self> {
        let source = source.as_ref();
        let value = parse(text, source)?;
        let Value::Array(items) = value else {
            return Err(HoiclipError::Config(format!(
                "{}: expected a JSON array of actions at the top level, found {}",
                source.display(),
                kind(&value)
            )));
        };
        if items.is_empty() {
            return Err(HoiclipError::Config(format!(
                "{}: the file lists no action",
                source.display()
            )));
        }
        let actions = items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_action(item, i, source))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            actions,
            source: source.to_path_buf(),
        })
    }
}

fn parse_action(item: &Value, index: usize, file: &Path) -> Result<VsrlAction> {
    let mut loc = Loc {
        file,
        item: format!("action {index}"),
    };
    let action_name = loc.string(loc.field(item, "action_name")?, "action_name")?;
    loc.item = format!("action {index} ({action_name})");
    let action_name = action_name.to_string();

    let role_list = loc.array(loc.field(item, "role_name")?, "role_name")?;
    let role_names = role_list
        .iter()
        .enumerate()
        .map(|(k, r)| {
            loc.string(r, &format!("role_name[{k}]"))
                .map(str::to_string)
        })
        .collect::<Result<Vec<_>>>()?;
    if role_names.first().map(String::as_str) != Some("agent") {
        return Err(loc.error("role_name", "must start with \"agent\""));
    }
    if role_names.len() > 3 {
        return Err(loc.error(
            "role_name",
            format!(
                "{} roles besides the agent; vsrl_eval.py holds at most two",
                role_names.len() - 1
            ),
        ));
    }

    let image_ids = loc.int_list(loc.field(item, "image_id")?, "image_id")?;
    let ann_ids = loc.int_list(loc.field(item, "ann_id")?, "ann_id")?;
    let labels = loc.int_list(loc.field(item, "label")?, "label")?;
    let n = ann_ids.len();
    for (name, len) in [("image_id", image_ids.len()), ("label", labels.len())] {
        if len != n {
            return Err(loc.error(
                name,
                format!("{len} entries, but `ann_id` has {n}: one per row"),
            ));
        }
    }
    let flat = loc.int_list(loc.field(item, "role_object_id")?, "role_object_id")?;
    let roles = role_names.len();
    if flat.len() != roles * n {
        return Err(loc.error(
            "role_object_id",
            format!(
                "{} entries, expected {roles} roles x {n} rows = {}",
                flat.len(),
                roles * n
            ),
        ));
    }
    let role_object_ids = (0..n)
        .map(|k| (0..roles).map(|r| flat[r * n + k]).collect())
        .collect();

    let include = match loc.opt_field(item, "include")? {
        None | Some(Value::Null) => vec![Vec::new(); roles],
        Some(v) => loc
            .array(v, "include")?
            .iter()
            .enumerate()
            .map(|(r, names)| {
                let path = format!("include[{r}]");
                loc.array(names, &path)?
                    .iter()
                    .enumerate()
                    .map(|(k, s)| loc.string(s, &format!("{path}[{k}]")).map(str::to_string))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?,
    };

    Ok(VsrlAction {
        action_name,
        role_names,
        image_ids,
        ann_ids,
        labels,
        role_object_ids,
        include,
    })
}

/// One image of the COCO instances file.
#[derive(Debug, Clone, PartialEq)]
pub struct CocoImage {
    /// COCO image id.
    pub id: i64,
    /// Width in pixels.
    pub width: f64,
    /// Height in pixels.
    pub height: f64,
}

/// One annotation of the COCO instances file.
#[derive(Debug, Clone, PartialEq)]
pub struct CocoAnnotation {
    /// COCO annotation id (what the vsrl file's `ann_id` and `role_object_id` refer to).
    pub id: i64,
    /// The image it belongs to.
    pub image_id: i64,
    /// COCO category id.
    pub category_id: i64,
    /// `[x, y, w, h]` as written (COCO's convention).
    pub bbox: [f64; 4],
    /// Segmentation area (annotations with `area <= 0` are dropped).
    pub area: f64,
    /// `iscrowd` (read; the evaluation does not use it).
    pub iscrowd: bool,
    /// `ignore == 1` (dropped); `false` when the key is absent.
    pub ignore: bool,
}

/// One category of the COCO instances file.
#[derive(Debug, Clone, PartialEq)]
pub struct CocoCategory {
    /// COCO category id.
    pub id: i64,
    /// Its name, e.g. `"person"`.
    pub name: String,
}

/// A COCO instances file (for V-COCO, `instances_vcoco_all_2014.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct CocoInstances {
    /// `images`, in file order.
    pub images: Vec<CocoImage>,
    /// `annotations`, in file order (per image this is the ground-truth order).
    pub annotations: Vec<CocoAnnotation>,
    /// `categories`, in file order; the first is the person class.
    pub categories: Vec<CocoCategory>,
    /// The file they were read from (for messages).
    pub source: PathBuf,
}

impl CocoInstances {
    /// Reads a COCO instances file.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when it cannot be read; [`HoiclipError::Config`] naming the file,
    /// the entry (`images[i]`, `annotations[i] (id ..)`, `categories[i]`) and the field when
    /// it is not JSON, a field is missing or mistyped, or an image or annotation id repeats.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_json_str(&read_text(path)?, path)
    }

    /// Parses COCO instances JSON; `source` names it in error messages.
    ///
    /// # Errors
    ///
    /// As [`CocoInstances::from_file`], without the I/O case.
    pub fn from_json_str(text: &str, source: impl AsRef<Path>) -> Result<Self> {
        let file = source.as_ref();
        let value = parse(text, file)?;
        let top = Loc {
            file,
            item: "top level".to_string(),
        };
        let list = |key: &str| -> Result<&[Value]> { top.array(top.field(&value, key)?, key) };

        let mut seen = HashSet::new();
        let mut images = Vec::new();
        for (i, v) in list("images")?.iter().enumerate() {
            let loc = Loc {
                file,
                item: format!("images[{i}]"),
            };
            let id = loc.int(loc.field(v, "id")?, "id")?;
            if !seen.insert(id) {
                return Err(loc.error("id", format!("image id {id} repeats")));
            }
            images.push(CocoImage {
                id,
                width: loc.number(loc.field(v, "width")?, "width")?,
                height: loc.number(loc.field(v, "height")?, "height")?,
            });
        }

        let mut seen = HashSet::new();
        let mut annotations = Vec::new();
        for (i, v) in list("annotations")?.iter().enumerate() {
            let mut loc = Loc {
                file,
                item: format!("annotations[{i}]"),
            };
            let id = loc.int(loc.field(v, "id")?, "id")?;
            loc.item = format!("annotations[{i}] (id {id})");
            if !seen.insert(id) {
                return Err(loc.error("id", format!("annotation id {id} repeats")));
            }
            let items = loc.array(loc.field(v, "bbox")?, "bbox")?;
            if items.len() != 4 {
                return Err(loc.error(
                    "bbox",
                    format!("expected 4 numbers [x, y, w, h], found {}", items.len()),
                ));
            }
            let mut bbox = [0.0; 4];
            for (k, x) in items.iter().enumerate() {
                bbox[k] = loc.number(x, &format!("bbox[{k}]"))?;
            }
            let flag = |key: &str, required: bool| -> Result<bool> {
                match loc.opt_field(v, key)? {
                    None if !required => Ok(false),
                    None => Err(loc.error(key, "missing")),
                    Some(Value::Bool(b)) => Ok(*b),
                    Some(x) => Ok(loc.number(x, key)? == 1.0),
                }
            };
            annotations.push(CocoAnnotation {
                id,
                image_id: loc.int(loc.field(v, "image_id")?, "image_id")?,
                category_id: loc.int(loc.field(v, "category_id")?, "category_id")?,
                bbox,
                area: loc.number(loc.field(v, "area")?, "area")?,
                iscrowd: flag("iscrowd", true)?,
                ignore: flag("ignore", false)?,
            });
        }

        let mut categories = Vec::new();
        for (i, v) in list("categories")?.iter().enumerate() {
            let loc = Loc {
                file,
                item: format!("categories[{i}]"),
            };
            categories.push(CocoCategory {
                id: loc.int(loc.field(v, "id")?, "id")?,
                name: loc.string(loc.field(v, "name")?, "name")?.to_string(),
            });
        }

        Ok(Self {
            images,
            annotations,
            categories,
            source: file.to_path_buf(),
        })
    }
}

/// Reads a split file (`data/splits/vcoco_test.ids`): whitespace-separated image ids, as
/// `np.loadtxt` reads it (`#` starts a comment; integral floats such as `123.0` are accepted).
///
/// # Errors
///
/// [`HoiclipError::Io`] when it cannot be read; [`HoiclipError::Config`] naming the file and
/// line for a token that is not an integer, or when the file holds no id.
pub fn read_split_ids(path: impl AsRef<Path>) -> Result<Vec<i64>> {
    let path = path.as_ref();
    parse_split_ids(&read_text(path)?, path)
}

/// Parses the text of a split file; `source` names it in error messages.
///
/// # Errors
///
/// As [`read_split_ids`], without the I/O case.
pub fn parse_split_ids(text: &str, source: impl AsRef<Path>) -> Result<Vec<i64>> {
    let source = source.as_ref();
    let mut ids = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for token in line.split_whitespace() {
            let id = token
                .parse::<i64>()
                .ok()
                .or_else(|| {
                    token
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| {
                    HoiclipError::Config(format!(
                        "{}: line {}: `{token}` is not an image id",
                        source.display(),
                        line_no + 1
                    ))
                })?;
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(HoiclipError::Config(format!(
            "{}: the split file holds no image id",
            source.display()
        )));
    }
    Ok(ids)
}

/// An action and its roles, as the evaluation sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcocoAction {
    /// `action_name`.
    pub name: String,
    /// The roles besides the agent (0 to 2), e.g. `["obj", "instr"]` for `eat`.
    pub roles: Vec<String>,
}

/// One ground-truth person of an image (a `gt_classes == 1` entry of `vsrl_eval.py`'s
/// `vcocodb`).
#[derive(Debug, Clone, PartialEq)]
pub struct VcocoGtPerson {
    /// COCO annotation id.
    pub ann_id: i64,
    /// The cleaned box `[x1, y1, x2, y2]` (inclusive pixels, clipped), in float32.
    pub bbox: [f32; 4],
    /// Per action (file order), whether the person does it; `None` when V-COCO does not
    /// annotate the person (detections matched to it are skipped).
    pub actions: Option<Vec<bool>>,
    /// Per action and role slot (`[role 1, role 2]`), the cleaned box of the role object;
    /// `None` when the person does not do the action or the role has no object.
    pub role_boxes: Vec<[Option<[f32; 4]>; 2]>,
}

impl VcocoGtPerson {
    /// Whether the person does action `action` (`false` when unannotated).
    pub fn does(&self, action: usize) -> bool {
        self.actions
            .as_ref()
            .and_then(|a| a.get(action).copied())
            .unwrap_or(false)
    }

    /// The role object's box of action `action`, role slot `slot` (0 or 1).
    pub fn role_box(&self, action: usize, slot: usize) -> Option<[f32; 4]> {
        self.role_boxes
            .get(action)
            .and_then(|r| r.get(slot).copied().flatten())
    }
}

/// The ground truth of one image of the split.
#[derive(Debug, Clone, PartialEq)]
pub struct VcocoGtImage {
    /// COCO image id.
    pub image_id: i64,
    /// Its persons, in the COCO file's annotation order (valid annotations only).
    pub persons: Vec<VcocoGtPerson>,
}

/// Everything the official evaluation needs: the actions and the split's images with their
/// persons (built like `VCOCOeval._get_vcocodb`).
#[derive(Debug, Clone, PartialEq)]
pub struct VcocoGroundTruth {
    actions: Vec<VcocoAction>,
    images: Vec<VcocoGtImage>,
}

impl VcocoGroundTruth {
    /// Reads the three files and builds the ground truth (`split`: `None` takes the vsrl
    /// file's images).
    ///
    /// # Errors
    ///
    /// Those of [`VsrlAnnotations::from_file`], [`CocoInstances::from_file`],
    /// [`read_split_ids`] and [`VcocoGroundTruth::new`].
    pub fn from_files(
        vsrl: impl AsRef<Path>,
        coco: impl AsRef<Path>,
        split: Option<&Path>,
    ) -> Result<Self> {
        let vsrl = VsrlAnnotations::from_file(vsrl)?;
        let coco = CocoInstances::from_file(coco)?;
        let split = split.map(read_split_ids).transpose()?;
        Self::new(&vsrl, &coco, split.as_deref())
    }

    /// Builds the ground truth of the split's images.
    ///
    /// `split`: the split ids; they must equal the sorted, distinct image ids of the first
    /// action (what `vsrl_eval.py` asserts); `None` takes those ids.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] where `vsrl_eval.py` fails an assertion or a look-up: the
    /// split ids differ from the vsrl file's images; a split image is not in the COCO file;
    /// a kept annotation has a category the COCO file does not list; the COCO file lists no
    /// category; a person is labelled twice for one action; a row's first `role_object_id`
    /// is not its `ann_id`; a role object is not a kept annotation of the same image.
    pub fn new(
        vsrl: &VsrlAnnotations,
        coco: &CocoInstances,
        split: Option<&[i64]>,
    ) -> Result<Self> {
        let vfile = vsrl.source.display();
        let cfile = coco.source.display();
        let first = vsrl
            .actions
            .first()
            .ok_or_else(|| HoiclipError::Config(format!("{vfile}: the file lists no action")))?;

        let mut image_ids = first.image_ids.clone();
        image_ids.sort_unstable();
        image_ids.dedup();
        if let Some(split) = split
            && split != image_ids.as_slice()
        {
            let at = split
                .iter()
                .zip(&image_ids)
                .position(|(a, b)| a != b)
                .unwrap_or(split.len().min(image_ids.len()));
            return Err(HoiclipError::Config(format!(
                "the split ({} ids) differs from the sorted distinct image ids of {vfile}'s \
                 first action ({} ids) at position {at} (split: {:?}, vsrl: {:?}); \
                 vsrl_eval.py asserts they are equal",
                split.len(),
                image_ids.len(),
                split.get(at),
                image_ids.get(at)
            )));
        }

        let person_category = coco
            .categories
            .first()
            .map(|c| c.id)
            .ok_or_else(|| HoiclipError::Config(format!("{cfile}: no category is listed")))?;
        let known_categories: HashSet<i64> = coco.categories.iter().map(|c| c.id).collect();
        let images_by_id: HashMap<i64, &CocoImage> =
            coco.images.iter().map(|im| (im.id, im)).collect();
        let mut anns_by_image: HashMap<i64, Vec<&CocoAnnotation>> = HashMap::new();
        for a in &coco.annotations {
            anns_by_image.entry(a.image_id).or_default().push(a);
        }
        let in_vcoco: HashSet<i64> = first.ann_ids.iter().copied().collect();
        // Per action: ann_id -> rows labelled 1.
        let positives: Vec<HashMap<i64, Vec<usize>>> = vsrl
            .actions
            .iter()
            .map(|a| {
                let mut m: HashMap<i64, Vec<usize>> = HashMap::new();
                for (k, (&id, &label)) in a.ann_ids.iter().zip(&a.labels).enumerate() {
                    if label == 1 {
                        m.entry(id).or_default().push(k);
                    }
                }
                m
            })
            .collect();

        let mut images = Vec::with_capacity(image_ids.len());
        for &image_id in &image_ids {
            let image = images_by_id.get(&image_id).ok_or_else(|| {
                HoiclipError::Config(format!(
                    "image {image_id} of {vfile} is not in {cfile}'s `images`"
                ))
            })?;
            let mut kept: Vec<(&CocoAnnotation, [f32; 4])> = Vec::new();
            for a in anns_by_image
                .get(&image_id)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                if a.ignore {
                    continue;
                }
                if let Some(b) = clean_box(&a.bbox, a.area, image.width, image.height) {
                    if !known_categories.contains(&a.category_id) {
                        return Err(HoiclipError::Config(format!(
                            "{cfile}: annotation {} has category_id {}, which `categories` \
                             does not list",
                            a.id, a.category_id
                        )));
                    }
                    kept.push((a, b));
                }
            }
            let mut persons = Vec::new();
            for &(a, bbox) in &kept {
                let (actions, role_boxes) = if in_vcoco.contains(&a.id) {
                    let (labels, roles) = vsrl_data(vsrl, &positives, a.id, image_id, &kept)?;
                    (Some(labels), roles)
                } else {
                    (None, vec![[None, None]; vsrl.actions.len()])
                };
                if a.category_id == person_category {
                    persons.push(VcocoGtPerson {
                        ann_id: a.id,
                        bbox,
                        actions,
                        role_boxes,
                    });
                }
            }
            images.push(VcocoGtImage { image_id, persons });
        }

        let actions = vsrl
            .actions
            .iter()
            .map(|a| VcocoAction {
                name: a.action_name.clone(),
                roles: a.roles().to_vec(),
            })
            .collect();
        Ok(Self { actions, images })
    }

    /// The actions, in the vsrl file's order.
    pub fn actions(&self) -> &[VcocoAction] {
        &self.actions
    }

    /// The split's images, in ascending id order.
    pub fn images(&self) -> &[VcocoGtImage] {
        &self.images
    }
}

/// `_add_gt_annotations`' box cleaning: xywh to inclusive xyxy (`x + max(0, w - 1)`), clipped
/// to the image, in float64; `None` for `area <= 0` or an empty box; stored as float32.
fn clean_box(xywh: &[f64; 4], area: f64, width: f64, height: f64) -> Option<[f32; 4]> {
    let clip = |v: f64, size: f64| (size - 1.0).min(v.max(0.0));
    let [x, y, w, h] = *xywh;
    let x1 = clip(x, width);
    let y1 = clip(y, height);
    let x2 = clip(x + (w - 1.0).max(0.0), width);
    let y2 = clip(y + (h - 1.0).max(0.0), height);
    (area > 0.0 && x2 > x1 && y2 > y1).then_some([x1 as f32, y1 as f32, x2 as f32, y2 as f32])
}

/// `_get_vsrl_data` for one annotated object: per action the label, per action and role slot
/// the role object's box.
type VsrlData = (Vec<bool>, Vec<[Option<[f32; 4]>; 2]>);

fn vsrl_data(
    vsrl: &VsrlAnnotations,
    positives: &[HashMap<i64, Vec<usize>>],
    ann_id: i64,
    image_id: i64,
    kept: &[(&CocoAnnotation, [f32; 4])],
) -> Result<VsrlData> {
    let mut labels = vec![false; vsrl.actions.len()];
    let mut roles = vec![[None, None]; vsrl.actions.len()];
    for (aid, (action, pos)) in vsrl.actions.iter().zip(positives).enumerate() {
        let Some(rows) = pos.get(&ann_id) else {
            continue;
        };
        let loc = Loc {
            file: &vsrl.source,
            item: format!("action {aid} ({})", action.action_name),
        };
        let &[row] = rows.as_slice() else {
            return Err(loc.error(
                "label",
                format!(
                    "ann_id {ann_id} is labelled 1 in {} rows ({rows:?}); vsrl_eval.py asserts one",
                    rows.len()
                ),
            ));
        };
        labels[aid] = true;
        let ids = action
            .role_object_ids
            .get(row)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if ids.first() != Some(&ann_id) {
            return Err(loc.error(
                &format!("role_object_id (row {row})"),
                format!(
                    "the agent entry is {:?}, not the row's ann_id {ann_id}",
                    ids.first()
                ),
            ));
        }
        for (slot, &object) in ids.iter().skip(1).enumerate().take(2) {
            if object == 0 {
                continue;
            }
            let found = kept.iter().find(|(a, _)| a.id == object).ok_or_else(|| {
                loc.error(
                    &format!("role_object_id (row {row}, role {})", slot + 1),
                    format!(
                        "object {object} is not a kept annotation of image {image_id} in \
                         the COCO file (absent, in another image, ignored, or with an empty \
                         box or area)"
                    ),
                )
            })?;
            roles[aid][slot] = Some(found.1);
        }
    }
    Ok((labels, roles))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action() -> Value {
        json!({"action_name": "eat", "role_name": ["agent", "obj", "instr"],
               "image_id": [7, 7], "ann_id": [11, 12], "label": [1, 0],
               "role_object_id": [11, 12, 21, 0, 0, 0], "include": [[], ["pizza"], []]})
    }

    fn coco() -> Value {
        json!({"images": [{"id": 7, "width": 100, "height": 80}],
               "annotations": [
                   {"id": 11, "image_id": 7, "category_id": 1, "bbox": [1, 2, 30, 40],
                    "area": 10.0, "iscrowd": 0},
                   {"id": 12, "image_id": 7, "category_id": 1, "bbox": [50, 2, 30, 40],
                    "area": 10.0, "iscrowd": 0},
                   {"id": 21, "image_id": 7, "category_id": 59, "bbox": [90, 70, 30, 40.5],
                    "area": 10.0, "iscrowd": 0}],
               "categories": [{"id": 1, "name": "person"}, {"id": 59, "name": "pizza"}]})
    }

    fn vsrl_err(v: Value) -> String {
        VsrlAnnotations::from_json_str(&json!([v]).to_string(), "vcoco_test.json")
            .unwrap_err()
            .to_string()
    }

    fn coco_err(v: Value) -> String {
        CocoInstances::from_json_str(&v.to_string(), "instances.json")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_rows_role_major() {
        let v = VsrlAnnotations::from_json_str(&json!([action()]).to_string(), "v.json").unwrap();
        let a = &v.actions[0];
        assert_eq!(a.role_object_ids, vec![vec![11, 21, 0], vec![12, 0, 0]]);
        assert_eq!(a.roles(), ["obj", "instr"]);
        assert_eq!(a.include[1], ["pizza"]);
    }

    #[test]
    fn vsrl_errors_name_file_action_and_field() {
        let mut v = action();
        v["role_object_id"][4] = json!("x");
        let e = vsrl_err(v);
        assert!(e.contains("vcoco_test.json"), "{e}");
        assert!(e.contains("action 0 (eat)"), "{e}");
        assert!(e.contains("`role_object_id[4]`"), "{e}");

        let mut v = action();
        v["role_object_id"] = json!([11, 12, 21]);
        assert!(vsrl_err(v).contains("expected 3 roles x 2 rows"));

        let mut v = action();
        v["label"] = json!([1]);
        let e = vsrl_err(v);
        assert!(e.contains("`label`") && e.contains("1 entries"), "{e}");

        let mut v = action();
        v["role_name"] = json!(["obj", "agent"]);
        assert!(vsrl_err(v).contains("`role_name`: must start with \"agent\""));

        let mut v = action();
        v.as_object_mut().unwrap().remove("ann_id");
        assert!(vsrl_err(v).contains("field `ann_id`: missing"));

        let mut v = action();
        v["action_name"] = json!(3);
        let e = vsrl_err(v);
        assert!(
            e.contains("action 0: field `action_name`: expected a string"),
            "{e}"
        );
    }

    #[test]
    fn coco_errors_name_file_entry_and_field() {
        let mut c = coco();
        c["annotations"][2]["bbox"][3] = json!("tall");
        let e = coco_err(c);
        assert!(e.contains("instances.json"), "{e}");
        assert!(e.contains("annotations[2] (id 21)"), "{e}");
        assert!(e.contains("`bbox[3]`"), "{e}");

        let mut c = coco();
        c["annotations"][0].as_object_mut().unwrap().remove("area");
        assert!(coco_err(c).contains("annotations[0] (id 11): field `area`: missing"));

        let mut c = coco();
        c["images"][0]["width"] = json!(null);
        assert!(coco_err(c).contains("images[0]: field `width`: expected a finite number"));

        let mut c = coco();
        c["annotations"][1]["id"] = json!(11);
        assert!(coco_err(c).contains("annotation id 11 repeats"));

        let mut c = coco();
        c.as_object_mut().unwrap().remove("categories");
        assert!(coco_err(c).contains("top level: field `categories`: missing"));
    }

    #[test]
    fn split_ids_parse_like_loadtxt() {
        assert_eq!(
            parse_split_ids("12\n 13.0 # c\n\n14\n", "s.ids").unwrap(),
            vec![12, 13, 14]
        );
        let e = parse_split_ids("12\nx1\n", "s.ids")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.ids: line 2: `x1`"), "{e}");
        assert!(parse_split_ids("# nothing\n", "s.ids").is_err());
    }

    fn build(vsrl: Value, coco: Value, split: Option<&[i64]>) -> Result<VcocoGroundTruth> {
        let v = VsrlAnnotations::from_json_str(&json!([vsrl]).to_string(), "v.json")?;
        let c = CocoInstances::from_json_str(&coco.to_string(), "c.json")?;
        VcocoGroundTruth::new(&v, &c, split)
    }

    #[test]
    fn ground_truth_boxes_labels_and_roles() {
        let gt = build(action(), coco(), Some(&[7])).unwrap();
        let im = &gt.images()[0];
        assert_eq!(im.persons.len(), 2);
        assert_eq!(im.persons[0].bbox, [1.0, 2.0, 30.0, 41.0]);
        assert!(im.persons[0].does(0) && !im.persons[1].does(0));
        // The pizza box [90, 70, 119, 109.5] is clipped to the 100 x 80 image.
        assert_eq!(im.persons[0].role_box(0, 0), Some([90.0, 70.0, 99.0, 79.0]));
        assert_eq!(im.persons[0].role_box(0, 1), None);
    }

    #[test]
    fn ground_truth_errors() {
        let e = build(action(), coco(), Some(&[8])).unwrap_err().to_string();
        assert!(e.contains("split") && e.contains("position 0"), "{e}");

        let mut v = action();
        v["role_object_id"][2] = json!(99);
        let e = build(v, coco(), None).unwrap_err().to_string();
        assert!(e.contains("v.json: action 0 (eat)"), "{e}");
        assert!(e.contains("role_object_id (row 0, role 1)"), "{e}");
        assert!(e.contains("object 99"), "{e}");

        let mut v = action();
        v["role_object_id"][0] = json!(12);
        let e = build(v, coco(), None).unwrap_err().to_string();
        assert!(e.contains("not the row's ann_id 11"), "{e}");

        let mut c = coco();
        c["annotations"][2]["category_id"] = json!(5);
        let e = build(action(), c, None).unwrap_err().to_string();
        assert!(e.contains("c.json: annotation 21 has category_id 5"), "{e}");
    }
}
