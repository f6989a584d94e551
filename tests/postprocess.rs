//! Host-side post-processing: triplet scores, CLIP enhancement, top-k and pair-wise triplet NMS.

use hoiclip::HoiclipError;
use hoiclip::postprocess::{
    Triplet, TripletNmsParams, enhancement_scores, hoi_scores, pairwise_nms, sigmoid, top_k_hois,
    top_k_indices, top_k_indices_reference, triplet_nms,
};

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "length: got {got:?}, want {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "[{i}]: got {g}, want {w} (all: {got:?})"
        );
    }
}

const LN3: f32 = 1.098_612_3; // sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4

// 2 pairs x 3 HOI classes; objects_plus_one = 3 (objects 0 and 1, column 2 = "no object").
// hoi_to_object = [0, 1, 0].
// hoi logits  pair0 [0, ln3, -ln3] -> sigmoid [0.5, 0.75, 0.25]
//             pair1 [0, 0, 0]      -> sigmoid [0.5, 0.5, 0.5]
// obj logits  pair0 [0, ln3, 5]    -> sigmoid^2 obj0 = 0.25,   obj1 = 0.5625 (col 2 unused)
//             pair1 [-ln3, 0, 9]   -> sigmoid^2 obj0 = 0.0625, obj1 = 0.25
// score = sigmoid(hoi) + sigmoid(obj of the HOI's own object)^2:
//   pair0: c0 0.5+0.25 = 0.75,   c1 0.75+0.5625 = 1.3125, c2 0.25+0.25   = 0.5
//   pair1: c0 0.5+0.0625 = 0.5625, c1 0.5+0.25 = 0.75,    c2 0.5+0.0625 = 0.5625
const HOI: [f32; 6] = [0.0, LN3, -LN3, 0.0, 0.0, 0.0];
const OBJ: [f32; 6] = [0.0, LN3, 5.0, -LN3, 0.0, 9.0];
const H2O: [usize; 3] = [0, 1, 0];

#[test]
fn score_formula_two_pairs_three_classes() {
    let s = hoi_scores(&HOI, &OBJ, &H2O, 2, 3, 3, None).unwrap();
    assert_close(&s, &[0.75, 1.3125, 0.5, 0.5625, 0.75, 0.5625], 1e-6);
}

#[test]
fn score_formula_with_enhancement_adds_per_class() {
    // enhancement [0.1, 0.2, 0.3] is added to every pair's class column.
    let e = [0.1, 0.2, 0.3];
    let s = hoi_scores(&HOI, &OBJ, &H2O, 2, 3, 3, Some(&e)).unwrap();
    assert_close(&s, &[0.85, 1.5125, 0.8, 0.6625, 0.95, 0.8625], 1e-6);
}

#[test]
fn score_shape_errors() {
    let bad = |r: Result<Vec<f32>, HoiclipError>| {
        assert!(matches!(r, Err(HoiclipError::InputShape { .. })), "{r:?}")
    };
    bad(hoi_scores(&HOI[..5], &OBJ, &H2O, 2, 3, 3, None));
    bad(hoi_scores(&HOI, &OBJ[..4], &H2O, 2, 3, 3, None));
    bad(hoi_scores(&HOI, &OBJ, &H2O[..2], 2, 3, 3, None));
    bad(hoi_scores(&HOI, &OBJ, &[0, 3, 0], 2, 3, 3, None)); // object 3 out of range
    bad(hoi_scores(&HOI, &OBJ, &H2O, 2, 3, 3, Some(&[0.0; 2])));
    assert!(top_k_hois(&[0.0; 5], 3, 2).is_err());
    assert!(top_k_hois(&[], 3, 2).unwrap().is_empty());
}

#[test]
fn enhancement_masks_all_but_top_k_then_sigmoid() {
    // [2, -1, 3, 0.5], top 2 = indices 2 (3.0) and 0 (2.0); the rest *= 0 -> [2, -0, 3, 0]
    // sigmoid: [1/(1+e^-2) = 0.880797, 0.5, 1/(1+e^-3) = 0.952574, 0.5]
    let e = enhancement_scores(&[2.0, -1.0, 3.0, 0.5], Some(2));
    assert_close(&e, &[0.880_797, 0.5, 0.952_574, 0.5], 1e-6);
    // No mask, or k >= len: plain sigmoid.
    let all = [sigmoid(2.0), sigmoid(-1.0), sigmoid(3.0), sigmoid(0.5)];
    assert_close(&enhancement_scores(&[2.0, -1.0, 3.0, 0.5], None), &all, 0.0);
    assert_close(
        &enhancement_scores(&[2.0, -1.0, 3.0, 0.5], Some(4)),
        &all,
        0.0,
    );
    // k = 0 zeroes everything -> 0.5 everywhere.
    assert_close(&enhancement_scores(&[2.0, -1.0], Some(0)), &[0.5, 0.5], 0.0);
    // Tie at the cut: [1, 1, 0], k = 1 keeps the lower index.
    assert_close(
        &enhancement_scores(&[1.0, 1.0, 0.0], Some(1)),
        &[sigmoid(1.0), 0.5, 0.5],
        0.0,
    );
}

#[test]
fn top_k_order_and_reference_tie_quirk() {
    let s = [0.1, 0.9, 0.5, 0.9, -2.0];
    assert_eq!(top_k_indices(&s, 3), vec![1, 3, 2]);
    assert_eq!(top_k_indices(&s, 10), vec![1, 3, 2, 0, 4]);
    assert_eq!(top_k_indices(&[0.3, 0.7, 0.5], 2), vec![1, 2]);
    // The evaluator maps each top value to its FIRST index: the tie repeats index 1.
    assert_eq!(top_k_indices_reference(&s, 3), vec![1, 1, 2]);
    // Cells of the 2-pair x 3-class example: 1.3125 (p0,c1), 0.75 (p0,c0), 0.75 -> p0,c0 again.
    let sc = hoi_scores(&HOI, &OBJ, &H2O, 2, 3, 3, None).unwrap();
    let top = top_k_hois(&sc, 3, 3).unwrap();
    let cells: Vec<(usize, usize)> = top.iter().map(|c| (c.pair, c.hoi)).collect();
    assert_eq!(cells, vec![(0, 1), (0, 0), (0, 0)]);
}

fn t(subject: [f32; 4], object: [f32; 4], hoi: usize, score: f32) -> Triplet {
    Triplet {
        subject,
        object,
        hoi,
        score,
    }
}

// Areas use +1: [0,0,9,9] is 10x10 = 100, [0,0,9,4] is 10x5 = 50, [0,0,9,3] is 10x4 = 40.
const A: [f32; 4] = [0.0, 0.0, 9.0, 9.0];
const HALF: [f32; 4] = [0.0, 0.0, 9.0, 4.0]; // IoU with A: 50 / (100 + 50 - 50) = 0.5
const FOUR: [f32; 4] = [0.0, 0.0, 9.0, 3.0]; // IoU with A: 40 / 100 = 0.4
const FAR: [f32; 4] = [100.0, 100.0, 120.0, 120.0];

#[test]
fn default_params() {
    let p = TripletNmsParams::default();
    assert_eq!((p.thres_nms, p.alpha, p.beta), (0.7, 1.0, 0.5));
}

#[test]
fn nms_alpha_beta_weighted_overlap() {
    let p = TripletNmsParams::default();
    // Same subject (IoU 1), object IoU 0.5: ovr = 1^1 * 0.5^0.5 = 0.7071 > 0.7 -> suppressed.
    assert_eq!(
        pairwise_nms(&[t(A, A, 0, 0.9), t(A, HALF, 0, 0.8)], &p),
        vec![0]
    );
    // Subject IoU 0.5, same object: ovr = 0.5^1 * 1 = 0.5 <= 0.7 -> kept.
    assert_eq!(
        pairwise_nms(&[t(A, A, 0, 0.9), t(HALF, A, 0, 0.8)], &p),
        vec![0, 1]
    );
    // Same subject, object IoU 0.4: ovr = sqrt(0.4) = 0.632 <= 0.7 -> kept.
    assert_eq!(
        pairwise_nms(&[t(A, A, 0, 0.9), t(A, FOUR, 0, 0.8)], &p),
        vec![0, 1]
    );
    // Both 0.5: 0.5 * 0.7071 = 0.354 -> kept. Disjoint object: 0 -> kept.
    assert_eq!(
        pairwise_nms(&[t(A, A, 0, 0.9), t(HALF, HALF, 0, 0.8)], &p),
        vec![0, 1]
    );
    assert_eq!(
        pairwise_nms(&[t(A, A, 0, 0.9), t(A, FAR, 0, 0.8)], &p),
        vec![0, 1]
    );
    // Lower score first in the input: order is by score, the 0.9 one (index 1) is kept.
    assert_eq!(
        pairwise_nms(&[t(A, HALF, 0, 0.8), t(A, A, 0, 0.9)], &p),
        vec![1]
    );
}

#[test]
fn nms_threshold_is_inclusive_and_uses_plus_one() {
    // alpha = beta = 1, thres 0.5: subject IoU 0.5 exactly, object 1 -> ovr 0.5 <= 0.5 -> kept.
    let p = TripletNmsParams {
        thres_nms: 0.5,
        alpha: 1.0,
        beta: 1.0,
    };
    assert_eq!(
        pairwise_nms(&[t(A, A, 0, 0.9), t(HALF, A, 0, 0.8)], &p),
        vec![0, 1]
    );
    // alpha = 0, beta = 1, thres 0.3: ovr = object IoU.
    // [0,0,9,9] vs [5,0,14,9] with +1: inter 5*10 = 50, union 100+100-50 = 150 -> 1/3 > 0.3,
    // suppressed (without +1 it would be 4*9 / (81+81-36) = 0.2857 and kept).
    let p = TripletNmsParams {
        thres_nms: 0.3,
        alpha: 0.0,
        beta: 1.0,
    };
    let shifted = [5.0, 0.0, 14.0, 9.0];
    assert_eq!(
        pairwise_nms(&[t(A, A, 0, 0.9), t(FAR, shifted, 0, 0.8)], &p),
        vec![0]
    );
}

#[test]
fn different_hoi_classes_never_suppress_and_group_order() {
    let p = TripletNmsParams::default();
    // Identical boxes, different classes: both kept.
    assert_eq!(
        triplet_nms(&[t(A, A, 0, 0.9), t(A, A, 1, 0.8)], &p),
        vec![0, 1]
    );
    // Groups in first-appearance order (class 5 first, then 3); by score inside a group.
    // class 5: idx 0 (0.2) and idx 2 (0.8), identical boxes -> keep 2, drop 0.
    // class 3: idx 1 (0.9) and idx 3 (0.1, disjoint) -> keep 1 then 3.
    let d = [
        t(A, A, 5, 0.2),
        t(A, A, 3, 0.9),
        t(A, A, 5, 0.8),
        t(FAR, FAR, 3, 0.1),
    ];
    assert_eq!(triplet_nms(&d, &p), vec![2, 1, 3]);
    assert!(triplet_nms(&[], &p).is_empty());
}

#[test]
fn nms_ties_keep_higher_index() {
    // numpy: np.array([0.5, 0.5]).argsort()[::-1] == [1, 0]: the later detection wins a tie.
    let p = TripletNmsParams::default();
    assert_eq!(
        pairwise_nms(&[t(A, A, 0, 0.5), t(A, A, 0, 0.5)], &p),
        vec![1]
    );
    assert_eq!(
        triplet_nms(&[t(A, A, 2, 0.5), t(FAR, FAR, 2, 0.7), t(A, A, 2, 0.5)], &p),
        vec![1, 2]
    );
}

/// Expected values from a numpy mirror of the reference, run by hand:
/// `python3 mirror.py` (numpy 2.4.6, `np.random.default_rng(7)`; 3 pairs x 4 HOIs, 3 object
/// columns, hoi_to_object [0, 1, 1, 0], enhancement top-k 2, evaluator top-5; 8 triplets around
/// one box for the NMS with the default 0.7 / 1 / 0.5). The script is not part of the crate.
#[test]
#[allow(clippy::excessive_precision)] // numpy's printed f32 values, kept verbatim
fn random_case_matches_numpy_mirror() {
    let hoi = [
        0.001_230_153_4,
        0.298_745_54,
        -0.274_137_85,
        -0.890_591_86,
        -0.454_670_79,
        -0.991_646_5,
        0.060_143_6,
        1.340_215_2,
        -0.492_206_51,
        -0.620_474_9,
        0.489_842_06,
        0.356_887_01,
    ];
    let obj = [
        0.105_414_25,
        -0.930_468_02,
        -0.029_251_823,
        0.695_303_2,
        -1.344_214_6,
        -0.457_615_76,
        -1.901_222_7,
        -1.289_537_8,
        -1.841_735,
    ];
    let img = [-0.235_091_13, -1.267_446_5, 0.271_264_34, 0.156_751_08];
    let enh = enhancement_scores(&img, Some(2));
    assert_close(&enh, &[0.5, 0.5, 0.567_403_26, 0.539_107_74], 1e-6);
    let s = hoi_scores(&hoi, &obj, &[0, 1, 1, 0], 3, 4, 3, Some(&enh)).unwrap();
    let want = [
        1.277_329_9,
        1.154_128_4,
        1.079_287_4,
        1.107_117_8,
        1.333_334_2,
        0.813_360_6,
        1.125_208_3,
        1.776_716_5,
        0.896_266_2,
        0.896_299_7,
        1.234_098_8,
        1.144_286_6,
    ];
    assert_close(&s, &want, 2e-6);
    assert_eq!(top_k_indices_reference(&s, 5), vec![7, 4, 0, 10, 1]);

    let subs = [
        [7.0, 10.0, 43.0, 60.0],
        [12.0, 13.0, 42.0, 61.0],
        [10.0, 10.0, 38.0, 60.0],
        [9.0, 8.0, 43.0, 57.0],
        [7.0, 8.0, 43.0, 61.0],
        [13.0, 8.0, 42.0, 59.0],
        [10.0, 7.0, 41.0, 62.0],
        [11.0, 8.0, 40.0, 58.0],
    ];
    let objs = [
        [34.0, 33.0, 57.0, 80.0],
        [34.0, 33.0, 62.0, 81.0],
        [26.0, 32.0, 60.0, 76.0],
        [28.0, 30.0, 62.0, 80.0],
        [31.0, 33.0, 62.0, 79.0],
        [31.0, 31.0, 56.0, 76.0],
        [31.0, 29.0, 61.0, 78.0],
        [28.0, 27.0, 59.0, 83.0],
    ];
    let hois = [0, 0, 1, 1, 0, 1, 0, 1];
    let scores = [
        0.637_996_55,
        0.676_450_25,
        0.150_788_02,
        0.440_313_46,
        0.239_563_96,
        0.402_498_3,
        0.096_704_096,
        0.967_828_04,
    ];
    let d: Vec<Triplet> = (0..8)
        .map(|i| t(subs[i], objs[i], hois[i], scores[i]))
        .collect();
    assert_eq!(
        triplet_nms(&d, &TripletNmsParams::default()),
        vec![1, 0, 6, 7, 5]
    );
}
