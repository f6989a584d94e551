//! The label side of a detector: verb and object names and the HOI classes (verb, object,
//! CLIP prompt) that the classifiers score.

use serde::{Deserialize, Serialize};

use crate::error::{HoiclipError, Result};
use crate::labels::hico::{HICO_HOIS, HICO_OBJECTS, HICO_VERBS, HoiClass};
use crate::labels::vcoco::{VCOCO_HOIS, VCOCO_NO_OBJECT, VCOCO_VERBS};

use super::config::HoiDataset;

/// One HOI class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoiClassEntry {
    /// Index into [`HoiVocabulary::verbs`].
    pub verb: usize,
    /// Index into [`HoiVocabulary::objects`].
    pub object: usize,
    /// The CLIP prompt whose text embedding is this class's classifier row.
    pub prompt: String,
}

impl From<&HoiClass> for HoiClassEntry {
    fn from(class: &HoiClass) -> Self {
        Self {
            verb: usize::from(class.verb),
            object: usize::from(class.object),
            prompt: class.prompt.to_string(),
        }
    }
}

/// The object name of object-less classes (V-COCO's `stand`, `smile`, an instrument-less
/// `cut`, ...): its classifier column is what the authors call "a photo of a person only".
pub const NO_OBJECT: &str = "none";

/// Verb names, object names and HOI classes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoiVocabulary {
    /// Verb names (`ride`, ...).
    pub verbs: Vec<String>,
    /// Object names; the object classifier's column `i` scores `objects[i]`, and the
    /// classifier has one more column, its last: "no object" (background, what unmatched
    /// pair queries learn). [`NO_OBJECT`] (`none`), where present, is the object of
    /// object-less classes — a real column, not the background.
    pub objects: Vec<String>,
    /// The HOI classes, in classifier order.
    pub classes: Vec<HoiClassEntry>,
}

impl HoiVocabulary {
    /// HICO-DET: 117 verbs, 80 objects (underscored COCO names), the 600 classes with the
    /// authors' prompts.
    pub fn hico() -> Self {
        Self {
            verbs: HICO_VERBS.iter().map(|s| s.to_string()).collect(),
            objects: HICO_OBJECTS.iter().map(|s| s.to_string()).collect(),
            classes: HICO_HOIS.iter().map(HoiClassEntry::from).collect(),
        }
    }

    /// V-COCO: 29 verbs, the 80 objects plus [`NO_OBJECT`] at index 80 (the authors'
    /// "a photo of a person only" column, what object-less pairs are trained on), the
    /// authors' 263 classes. The classifier's 82nd column (81, "a photo of nothing") is the
    /// background.
    pub fn vcoco() -> Self {
        let mut objects: Vec<String> = HICO_OBJECTS.iter().map(|s| s.to_string()).collect();
        debug_assert_eq!(objects.len(), usize::from(VCOCO_NO_OBJECT));
        objects.push(NO_OBJECT.into());
        Self {
            verbs: VCOCO_VERBS.iter().map(|s| s.to_string()).collect(),
            objects,
            classes: VCOCO_HOIS.iter().map(HoiClassEntry::from).collect(),
        }
    }

    /// The built-in vocabulary of a dataset.
    pub fn for_dataset(dataset: HoiDataset) -> Self {
        match dataset {
            HoiDataset::HicoDet => Self::hico(),
            HoiDataset::Vcoco => Self::vcoco(),
        }
    }

    /// The index of [`NO_OBJECT`] in [`Self::objects`], if the vocabulary has object-less
    /// classes.
    pub fn no_object_index(&self) -> Option<usize> {
        self.objects.iter().position(|o| o == NO_OBJECT)
    }

    /// The prompts in class order.
    pub fn prompts(&self) -> Vec<&str> {
        self.classes.iter().map(|c| c.prompt.as_str()).collect()
    }

    /// Each class's object index (`hoi_obj_list`).
    pub fn class_objects(&self) -> Vec<usize> {
        self.classes.iter().map(|c| c.object).collect()
    }

    /// Check every class's verb and object index.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] naming the first class whose verb or object is out of range.
    pub fn validate(&self) -> Result<()> {
        for (i, c) in self.classes.iter().enumerate() {
            if c.verb >= self.verbs.len() || c.object >= self.objects.len() {
                return Err(HoiclipError::Config(format!(
                    "HOI class {i} ({:?}) has verb {} / object {} but the vocabulary has {} \
                     verbs and {} objects",
                    c.prompt,
                    c.verb,
                    c.object,
                    self.verbs.len(),
                    self.objects.len()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_vocabularies_are_consistent() {
        let hico = HoiVocabulary::hico();
        assert_eq!(
            (hico.verbs.len(), hico.objects.len(), hico.classes.len()),
            (117, 80, 600)
        );
        hico.validate().expect("HICO-DET vocabulary");
        let vcoco = HoiVocabulary::vcoco();
        assert_eq!(
            (vcoco.verbs.len(), vcoco.objects.len(), vcoco.classes.len()),
            (29, 81, 263)
        );
        assert_eq!(vcoco.objects[80], "none");
        assert_eq!(vcoco.no_object_index(), Some(80));
        assert_eq!(hico.no_object_index(), None);
        vcoco.validate().expect("V-COCO vocabulary");
        // V-COCO's object-less classes point at the "person only" column (80).
        assert!(vcoco.classes.iter().any(|c| c.object == 80));
    }

    #[test]
    fn out_of_range_classes_are_refused() {
        let mut v = HoiVocabulary::hico();
        v.classes[3].verb = 117;
        let err = v.validate().expect_err("verb 117 does not exist");
        assert!(err.to_string().contains("HOI class 3"), "{err}");
    }
}
