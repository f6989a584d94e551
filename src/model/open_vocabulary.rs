//! Open vocabulary: replacing the HOI classes at run time with user prompts.
//!
//! HOICLIP's HOI classifier is initialised from CLIP text embeddings of the class prompts
//! (`visual_projection.weight = normalize(encode_text(prompts))`), so a prompt's text
//! embedding can stand in for a class the model was never trained on. For each requested
//! class:
//!
//! - **HOI classifier row**: a class whose (verb, object) names match a class the model
//!   already scores keeps its trained row and bias; any other class gets the L2-normalised
//!   CLIP text embedding of its prompt and bias 0.
//! - **Verb adapter**: its verb branch contributes when the verb is one of the trained verbs,
//!   or a new verb given a representation ([`HoiclipModel::set_vocabulary_with_verbs`], e.g.
//!   built from a few annotated images by
//!   [`crate::interaction::build_verb_representations`]); a new verb without one adds
//!   nothing.
//! - **Object classifier**: a trained object keeps its column; a new object gets the
//!   normalised text embedding of the authors' object prompt form for the model's dataset
//!   (HICO-DET `"a photo of a {object}"`, V-COCO `"a photo of a person and a {object}"`) and
//!   bias 0. The object `none` marks object-less classes: a V-COCO model has a trained column
//!   for it ("a photo of a person only"); elsewhere it gets the text embedding of that prompt.
//!   The background ("no object") column stays last.
//! - **Training-free enhancement**: uses the new prompts' text embeddings.
//!
//! Limits: new classes are scored by the text embedding alone, without the fine-tuning and
//! the verb knowledge trained classes have, so their scores are lower and less reliable; the
//! detection branch proposes pairs as trained (a person and an object HICO-DET's detector
//! learned to localise). Zero-shot checkpoints use their evaluation classifier as the source
//! of trained rows.

use crate::nn::Linear;
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::config::HoiDataset;
use super::hoiclip::HoiclipModel;
use super::vocabulary::{HoiClassEntry, HoiVocabulary, NO_OBJECT};
use crate::error::{HoiclipError, Result};

/// One requested HOI class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomHoiClass {
    /// Verb name, e.g. `ride` (matched against the trained verbs; spaces and underscores are
    /// the same, case ignored).
    pub verb: String,
    /// Object name, e.g. `bicycle`; `none` for a verb without an object.
    pub object: String,
    /// The CLIP prompt, e.g. `a photo of a person riding a bicycle`.
    pub prompt: String,
}

impl CustomHoiClass {
    /// A class from its verb, object and prompt.
    pub fn new(verb: &str, object: &str, prompt: &str) -> Self {
        Self {
            verb: verb.into(),
            object: object.into(),
            prompt: prompt.into(),
        }
    }
}

/// A verb the model was not trained on, with its verb-adapter representation (a
/// `[clip_embed_dim]` row, L2-normalised as the authors' `verb.pth` rows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewVerb {
    /// The verb name, as the classes spell it.
    pub name: String,
    /// Its representation.
    pub representation: Vec<f32>,
}

/// The authors' object prompt for a new object: `vcoco_obj_text_label`'s form for V-COCO,
/// `hico_obj_text_label`'s for HICO-DET; [`NO_OBJECT`] is V-COCO's "a photo of a person only".
fn object_prompt(dataset: HoiDataset, object: &str) -> String {
    let object = object.trim().replace('_', " ");
    if key(&object) == key(NO_OBJECT) {
        return "a photo of a person only".into();
    }
    match dataset {
        HoiDataset::HicoDet => format!("a photo of a {object}"),
        HoiDataset::Vcoco => format!("a photo of a person and a {object}"),
    }
}

/// Names compare lowercase with spaces as underscores.
fn key(name: &str) -> String {
    name.trim().to_lowercase().replace(' ', "_")
}

fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| HoiclipError::Config(format!("reading classifier weights: {e:?}")))
}

/// A `[rows, cols]` row-major matrix's column `c`.
fn column(values: &[f32], rows: usize, cols: usize, c: usize) -> Vec<f32> {
    (0..rows).map(|r| values[r * cols + c]).collect()
}

/// Columns (each `rows` long) → a `[rows, cols.len()]` row-major matrix.
fn from_columns(columns: &[Vec<f32>], rows: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * columns.len()];
    for (c, col) in columns.iter().enumerate() {
        for (r, v) in col.iter().enumerate() {
            out[r * columns.len() + c] = *v;
        }
    }
    out
}

impl HoiclipModel {
    /// Replace the scored HOI classes (see the [module docs](self) for how each classifier
    /// is rebuilt and the limits). The detector then reports ids into the new vocabulary.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] for an empty class list or an empty name or prompt;
    /// tokenizer errors for prompts.
    pub fn set_vocabulary(&mut self, classes: &[CustomHoiClass]) -> Result<()> {
        self.set_vocabulary_with_verbs(classes, &[])
    }

    /// As [`Self::set_vocabulary`], with verb-adapter representations for verbs the model was
    /// not trained on (`new_verbs`, e.g. from
    /// [`crate::interaction::build_verb_representations`] over a few annotated images of the
    /// new interactions): each becomes a `verb_projection` column, and the classes of that
    /// verb get its verb → HOI entry, so the verb adapter contributes to them as it does to
    /// trained verbs. A name that is a trained verb is ignored (the trained representation
    /// stays). Verbs added by an earlier call stay with their current (possibly fine-tuned)
    /// columns unless `new_verbs` names them again (then the given representation replaces
    /// it); a verb that none of `classes` uses is dropped.
    ///
    /// # Errors
    ///
    /// As [`Self::set_vocabulary`]; [`HoiclipError::Config`] for a representation whose
    /// length is not the model's CLIP embedding width, a non-finite value, or a verb named
    /// twice.
    pub fn set_vocabulary_with_verbs(
        &mut self,
        classes: &[CustomHoiClass],
        new_verbs: &[NewVerb],
    ) -> Result<()> {
        if classes.is_empty() {
            return Err(HoiclipError::Config("no HOI classes given".into()));
        }
        if let Some(c) = classes.iter().find(|c| {
            c.verb.trim().is_empty() || c.object.trim().is_empty() || c.prompt.trim().is_empty()
        }) {
            return Err(HoiclipError::Config(format!(
                "HOI class {c:?} has an empty verb, object or prompt"
            )));
        }
        let device = self.hoi_text_embeddings.val().device();
        let embed = self.config.heads.clip_embed_dim;
        let trained_verbs = HoiVocabulary::for_dataset(self.config.dataset).verbs;
        let current = self.vocabulary.clone();

        // The classifier currently in use: weight [E, H], bias [H], verb map [V, H].
        let eval = self.config.uses_eval_heads();
        let (classifier, verb2hoi) = match (
            eval,
            &self.heads.eval_visual_projection,
            &self.heads.verb2hoi_eval,
        ) {
            (true, Some(c), Some(v)) => (c, v.val()),
            _ => (&self.heads.visual_projection, self.heads.verb2hoi.val()),
        };
        let h = current.classes.len();
        let weight = host(classifier.weight.val())?;
        let bias = match &classifier.bias {
            Some(b) => host(b.val())?,
            None => vec![0.0; h],
        };
        let verbs = trained_verbs.len();
        // The map may hold rows of verbs added by an earlier call (after the trained ones):
        // each is named by the current classes that use it.
        let verb_rows = verb2hoi.dims()[0];
        let verb_map = host(verb2hoi)?;
        let projection = host(self.heads.verb_projection.weight.val())?;
        let projection_cols = projection.len() / embed.max(1);
        let previous_extra: Vec<(String, Vec<f32>)> = (verbs..verb_rows.min(projection_cols))
            .filter_map(|r| {
                let t = (0..h).find(|&t| verb_map[r * h + t] != 0.0)?;
                let name = current.verbs.get(current.classes.get(t)?.verb)?.clone();
                Some((name, column(&projection, embed, projection_cols, r)))
            })
            .collect();

        // Verbs the model was not trained on, with representations: columns after the
        // trained ones. A representation given now replaces an earlier one; an earlier one
        // not given again is kept (with its fine-tuned values); only verbs the new classes
        // use are kept.
        let mut given: Vec<&NewVerb> = Vec::new();
        for v in new_verbs {
            if v.representation.len() != embed || v.representation.iter().any(|x| !x.is_finite()) {
                return Err(HoiclipError::Config(format!(
                    "the representation of new verb {:?} must be {embed} finite values \
                     (the CLIP embedding width), got {}",
                    v.name,
                    v.representation.len()
                )));
            }
            if given.iter().any(|e| key(&e.name) == key(&v.name)) {
                return Err(HoiclipError::Config(format!(
                    "new verb {:?} is given twice",
                    v.name
                )));
            }
            given.push(v);
        }
        let used = |name: &str| classes.iter().any(|c| key(&c.verb) == key(name));
        let trained_verb = |name: &str| trained_verbs.iter().any(|t| key(t) == key(name));
        let mut extra_verbs: Vec<(String, Vec<f32>)> = Vec::new();
        for (name, column) in &previous_extra {
            if used(name) && !given.iter().any(|g| key(&g.name) == key(name)) {
                extra_verbs.push((name.clone(), column.clone()));
            }
        }
        for g in &given {
            if used(&g.name) && !trained_verb(&g.name) {
                extra_verbs.push((g.name.trim().to_string(), g.representation.clone()));
            }
        }
        let extra_index = |name: &str| extra_verbs.iter().position(|(e, _)| key(e) == key(name));
        let total_verbs = verbs + extra_verbs.len();

        let prompts: Vec<&str> = classes.iter().map(|c| c.prompt.as_str()).collect();
        let text = host(self.encode_text(&prompts)?)?;

        // Objects: the trained ones (V-COCO's `none` included), then new ones (`none` too,
        // where the model has no column for it); one column each, the background last.
        let old_object_columns = self.config.heads.object_classes;
        let trained_objects: Vec<String> = current.objects.clone();
        let mut objects = trained_objects.clone();
        for c in classes {
            let k = key(&c.object);
            if !objects.iter().any(|o| key(o) == k) {
                let name = if k == key(NO_OBJECT) {
                    NO_OBJECT.to_string()
                } else {
                    c.object.trim().to_string()
                };
                objects.push(name);
            }
        }
        let new_objects: Vec<String> = objects[trained_objects.len()..].to_vec();
        let object_index = |name: &str| -> usize {
            let k = key(name);
            objects.iter().position(|o| key(o) == k).unwrap_or(0)
        };

        // Verbs: the user's, in order of first appearance.
        let mut verb_names: Vec<String> = Vec::new();
        for c in classes {
            if !verb_names.iter().any(|v| key(v) == key(&c.verb)) {
                verb_names.push(c.verb.trim().to_string());
            }
        }

        let mut hoi_columns = Vec::with_capacity(classes.len());
        let mut hoi_bias = Vec::with_capacity(classes.len());
        let mut verb_columns = Vec::with_capacity(classes.len());
        let mut entries = Vec::with_capacity(classes.len());
        for (j, c) in classes.iter().enumerate() {
            let trained = current.classes.iter().position(|t| {
                key(&current.verbs[t.verb]) == key(&c.verb)
                    && key(&current.objects[t.object]) == key(&c.object)
            });
            match trained {
                Some(t) => {
                    hoi_columns.push(column(&weight, embed, h, t));
                    hoi_bias.push(bias[t]);
                    // Trained verbs keep their rows; earlier extra verbs move to their new row.
                    let old = column(&verb_map, verb_rows, h, t);
                    let mut v = vec![0.0; total_verbs];
                    v[..verbs].copy_from_slice(&old[..verbs]);
                    for (r, &value) in old.iter().enumerate().skip(verbs) {
                        if value == 0.0 {
                            continue;
                        }
                        let name = previous_extra
                            .iter()
                            .zip(verbs..)
                            .find(|(_, row)| *row == r)
                            .map(|((name, _), _)| name.as_str());
                        if let Some(i) = name.and_then(extra_index) {
                            v[verbs + i] = value;
                        }
                    }
                    verb_columns.push(v);
                }
                None => {
                    hoi_columns.push(text[j * embed..(j + 1) * embed].to_vec());
                    hoi_bias.push(0.0);
                    let mut v = vec![0.0; total_verbs];
                    if let Some(i) = trained_verbs.iter().position(|t| key(t) == key(&c.verb)) {
                        v[i] = 1.0;
                    } else if let Some(i) = extra_index(&c.verb) {
                        v[verbs + i] = 1.0;
                    }
                    verb_columns.push(v);
                }
            }
            entries.push(HoiClassEntry {
                verb: verb_names
                    .iter()
                    .position(|v| key(v) == key(&c.verb))
                    .unwrap_or(0),
                object: object_index(&c.object),
                prompt: c.prompt.clone(),
            });
        }

        // Object classifier: trained real-object columns, new objects, no-object last.
        let obj_weight = host(self.heads.obj_visual_projection.weight.val())?;
        let obj_bias = match &self.heads.obj_visual_projection.bias {
            Some(b) => host(b.val())?,
            None => vec![0.0; old_object_columns],
        };
        let dataset = self.config.dataset;
        let object_prompts: Vec<String> = new_objects
            .iter()
            .map(|o| object_prompt(dataset, o))
            .collect();
        let object_prompts: Vec<&str> = object_prompts.iter().map(String::as_str).collect();
        let object_text = if object_prompts.is_empty() {
            Vec::new()
        } else {
            host(self.encode_text(&object_prompts)?)?
        };
        let mut obj_columns = Vec::new();
        let mut obj_bias_new = Vec::new();
        for (t, &b) in obj_bias.iter().enumerate().take(trained_objects.len()) {
            obj_columns.push(column(&obj_weight, embed, old_object_columns, t));
            obj_bias_new.push(b);
        }
        for n in 0..new_objects.len() {
            obj_columns.push(object_text[n * embed..(n + 1) * embed].to_vec());
            obj_bias_new.push(0.0);
        }
        obj_columns.push(column(
            &obj_weight,
            embed,
            old_object_columns,
            old_object_columns - 1,
        ));
        obj_bias_new.push(obj_bias[old_object_columns - 1]);

        let n = classes.len();
        let o = obj_columns.len();
        let linear = |w: Vec<f32>, b: Vec<f32>, cols: usize| {
            Linear::from_params(
                Param::from_tensor(Tensor::from_data(
                    TensorData::new(w, [embed, cols]),
                    &device,
                )),
                Some(Param::from_tensor(Tensor::from_data(
                    TensorData::new(b, [cols]),
                    &device,
                ))),
            )
        };
        self.heads.visual_projection = linear(from_columns(&hoi_columns, embed), hoi_bias, n);
        self.heads.verb2hoi = Param::from_tensor(Tensor::from_data(
            TensorData::new(from_columns(&verb_columns, total_verbs), [total_verbs, n]),
            &device,
        ));
        // verb_projection [E, verbs]: the trained columns, then the extra verbs'.
        let mut projection_columns: Vec<Vec<f32>> = (0..verbs)
            .map(|v| column(&projection, embed, projection_cols, v))
            .collect();
        projection_columns.extend(extra_verbs.iter().map(|(_, c)| c.clone()));
        self.heads.verb_projection = Linear::from_params(
            Param::from_tensor(Tensor::from_data(
                TensorData::new(
                    from_columns(&projection_columns, embed),
                    [embed, total_verbs],
                ),
                &device,
            )),
            None,
        );
        self.config.heads.verbs = total_verbs;
        self.heads.eval_visual_projection = None;
        self.heads.verb2hoi_eval = None;
        self.heads.obj_visual_projection =
            linear(from_columns(&obj_columns, embed), obj_bias_new, o);
        self.config.heads.hoi_classes = n;
        self.config.heads.eval_hoi_classes = None;
        self.config.heads.visual_bias = true;
        self.config.heads.object_classes = o;
        self.config.heads.object_bias = true;
        self.vocabulary = HoiVocabulary {
            verbs: verb_names,
            objects,
            classes: entries,
        };
        self.hoi_text_embeddings = Param::from_tensor(Tensor::from_data(
            TensorData::new(text, [n, embed]),
            &device,
        ));
        Ok(())
    }
}
