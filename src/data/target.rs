//! [`HoiTarget`]: the annotated pairs of one training image, as the authors' datasets hand
//! them to the criterion (`datasets/datasets_gen/hico.py`, training branch of `__getitem__`).

use crate::error::{HoiclipError, Result};

/// The ground truth of one image: `pairs` human-object pairs, each with its boxes, its
/// object class and its (one or more) HOI classes.
///
/// Boxes are normalised `(cx, cy, w, h)` in `[0, 1]` of the augmented, unpadded image, as
/// the DETR transforms leave them. An object-less pair (V-COCO's "person only" pairs) has an
/// all-zero object box; the object box losses skip it, as the authors' code does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HoiTarget {
    /// `sub_boxes`: the human of each pair, `[pairs][4]`.
    pub human_boxes: Vec<[f32; 4]>,
    /// `obj_boxes`: the object of each pair (all zero: no object), `[pairs][4]`.
    pub object_boxes: Vec<[f32; 4]>,
    /// `obj_labels`: the object class of each pair (an object classifier column), `[pairs]`.
    /// The last column ("no object") is accepted, as the reference accepts it: the matched
    /// query is then trained towards "no object" with the `eos_coef` weight. V-COCO's
    /// object-less pairs use their own "person only" column (80) instead.
    pub object_labels: Vec<usize>,
    /// `hoi_labels` as class indices: the HOI classes of each pair (the multi-hot rows of the
    /// reference), `[pairs][classes of the pair]`.
    pub hoi_labels: Vec<Vec<usize>>,
}

impl HoiTarget {
    /// The number of annotated pairs.
    pub fn len(&self) -> usize {
        self.human_boxes.len()
    }

    /// Whether the image has no annotated pair.
    pub fn is_empty(&self) -> bool {
        self.human_boxes.is_empty()
    }

    /// Whether pair `pair` has an object box (the reference's `(obj_boxes != 0).any(dim=1)`).
    pub fn has_object_box(&self, pair: usize) -> bool {
        self.object_boxes[pair].iter().any(|&v| v != 0.0)
    }

    /// The multi-hot HOI row of `pair` over `hoi_classes` columns.
    pub fn hoi_row(&self, pair: usize, hoi_classes: usize) -> Vec<f32> {
        let mut row = vec![0.0; hoi_classes];
        for &c in &self.hoi_labels[pair] {
            row[c] = 1.0;
        }
        row
    }

    /// Checks that the per-pair lists (`object_boxes`, `object_labels`, `hoi_labels`) have
    /// one entry per human box.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Target`] naming `image` and the list whose length differs.
    pub fn check_lengths(&self, image: &str) -> Result<()> {
        let n = self.human_boxes.len();
        for (field, len) in [
            ("object_boxes", self.object_boxes.len()),
            ("object_labels", self.object_labels.len()),
            ("hoi_labels", self.hoi_labels.len()),
        ] {
            if len != n {
                return Err(HoiclipError::Target {
                    image: image.to_string(),
                    reason: format!(
                        "{field} has {len} entries, human_boxes has {n} (one per pair)"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Check the target against a model with `hoi_classes` HOI columns and `object_columns`
    /// object columns (the last being "no object"). `image` names the image in errors.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Target`] naming the pair and field at fault: lengths that differ, a
    /// class index out of range, a pair with no HOI class, a box
    /// that is not finite or has a negative size.
    pub fn validate(&self, image: &str, hoi_classes: usize, object_columns: usize) -> Result<()> {
        let bad = |reason: String| HoiclipError::Target {
            image: image.to_string(),
            reason,
        };
        self.check_lengths(image)?;
        for pair in 0..self.human_boxes.len() {
            for (field, b) in [
                ("human box", self.human_boxes[pair]),
                ("object box", self.object_boxes[pair]),
            ] {
                if b.iter().any(|v| !v.is_finite()) || b[2] < 0.0 || b[3] < 0.0 {
                    return Err(bad(format!(
                        "pair {pair}: {field} {b:?} is not a finite (cx, cy, w, h) with w, h >= 0"
                    )));
                }
            }
            let label = self.object_labels[pair];
            if label >= object_columns {
                return Err(bad(format!(
                    "pair {pair}: object label {label} is out of range (the model has \
                     {object_columns} object columns, the last being \"no object\")"
                )));
            }
            if self.hoi_labels[pair].is_empty() {
                return Err(bad(format!("pair {pair} has no HOI class")));
            }
            if let Some(&c) = self.hoi_labels[pair].iter().find(|&&c| c >= hoi_classes) {
                return Err(bad(format!(
                    "pair {pair}: HOI class {c} is out of range (the model scores {hoi_classes})"
                )));
            }
        }
        Ok(())
    }
}
