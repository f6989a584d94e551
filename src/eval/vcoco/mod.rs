//! V-COCO evaluation: the HOICLIP authors' proxy (`vcoco_eval.py`: mAP_all / mAP_thesis) and
//! the official role AP of s-gupta/v-coco's `vsrl_eval.py` (Scenario 1 and 2, agent AP).

pub mod official;
pub mod pairs;

pub mod annotations;
pub mod correct_mat;
pub mod proxy;

pub use annotations::{VcocoAnnotations, VcocoBox, VcocoHoi, VcocoImage};
pub use correct_mat::VcocoCorrectMat;
pub use proxy::{
    NumpyPromotion, VcocoImagePredictions, VcocoPairScores, VcocoPredBox, VcocoPredHoi,
    VcocoPredictions, VcocoProxyOptions, VcocoProxyReport, VcocoVerbResult,
};
