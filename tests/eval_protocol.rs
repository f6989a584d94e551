//! HICO-DET evaluation protocol: hand-computed APs for the official (ho-rcnn MATLAB) and the
//! proxy (HOICLIP Python) evaluators, Known Object, zero-shot groups, the +1 pixel IoU, the
//! rounding of the 11 recall points, and a large synthetic set.

use std::time::Instant;

use hoiclip::eval::{
    ClassResult, EvalReport, Evaluator, GtBox, GtHoi, HicoAnnotations, ImageAnnotation,
    ImagePredictions, MATLAB_LOOP_RECALL_POINTS, NUMPY_RECALL_POINTS, OfficialMode,
    OfficialOptions, PredBox, PredHoi, Predictions, ProxyOptions, RareSplit, ZeroShotSplit,
    eleven_point_ap,
    iou::{iou_matlab, iou_python},
};
use hoiclip::labels::hico::{HICO_HOIS, HICO_RARE_HOIS};
use hoiclip::postprocess::TripletNmsParams;

// ---------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------

/// A ground-truth pair: (human box, object box, HOI class).
type Pair = ([f64; 4], [f64; 4], usize);

/// An image whose interactions each get their own two boxes.
fn gt_image(name: &str, pairs: &[Pair]) -> ImageAnnotation {
    let mut boxes = Vec::new();
    let mut hois = Vec::new();
    for &(h, o, hoi) in pairs {
        let c = HICO_HOIS[hoi];
        boxes.push(GtBox { bbox: h, object: 0 });
        boxes.push(GtBox {
            bbox: o,
            object: c.object as usize,
        });
        hois.push(GtHoi {
            subject: boxes.len() - 2,
            object: boxes.len() - 1,
            verb: c.verb as usize,
            hoi,
        });
    }
    ImageAnnotation {
        file_name: name.to_string(),
        boxes,
        hois,
    }
}

/// A detection: (human box, object box, HOI class, score).
type Det = ([f32; 4], [f32; 4], usize, f32);

fn pred_image(name: &str, dets: &[Det]) -> ImagePredictions {
    let mut predictions = Vec::new();
    let mut hoi_prediction = Vec::new();
    for &(h, o, hoi, score) in dets {
        predictions.push(PredBox {
            bbox: h,
            category_id: None,
        });
        predictions.push(PredBox {
            bbox: o,
            category_id: None,
        });
        hoi_prediction.push(PredHoi {
            subject_id: predictions.len() - 2,
            object_id: predictions.len() - 1,
            category_id: hoi,
            score,
        });
    }
    ImagePredictions {
        filename: name.to_string(),
        predictions,
        hoi_prediction,
    }
}

fn f32b(b: [f64; 4]) -> [f32; 4] {
    b.map(|x| x as f32)
}

/// `b - 1` on every coordinate: the official protocol adds 1 back (`det_bb + 1`).
fn minus_one(b: [f64; 4]) -> [f32; 4] {
    b.map(|x| (x - 1.0) as f32)
}

fn class(report: &EvalReport, hoi: usize) -> &ClassResult {
    &report.classes[hoi]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// `ap = ap + p/11` eleven times with `p = 1`, as both references sum it.
const ELEVEN_ELEVENTHS: f64 = 1.000_000_000_000_000_2;

fn near_one(v: Option<f64>) -> bool {
    v.is_some_and(|v| close(v, 1.0))
}

// Boxes of the hand-computed set.
const H1: [f64; 4] = [0.0, 0.0, 9.0, 9.0];
const O1: [f64; 4] = [20.0, 20.0, 29.0, 29.0];
const H2: [f64; 4] = [100.0, 100.0, 109.0, 109.0];
const O2: [f64; 4] = [120.0, 120.0, 129.0, 129.0];
const FAR: [f64; 4] = [300.0, 300.0, 309.0, 309.0];

/// Class 0 is "board airplane"; class 1 another airplane class; class 152 "race motorcycle".
const C0: usize = 0;
const C_AIRPLANE: usize = 1;
const C_MOTO: usize = 152;

/// Four images:
/// * A: two pairs of class 0 (P1 = H1/O1, P2 = H2/O2);
/// * B: one pair of class 0 (P3 = H1/O1);
/// * C: one pair of class 152 (race motorcycle): no airplane;
/// * D: one pair of class 1 (an airplane class other than 0): has an airplane.
fn hand_set() -> HicoAnnotations {
    assert_eq!(HICO_HOIS[C0].object, 4, "class 0 is an airplane class");
    assert_eq!(HICO_HOIS[C_AIRPLANE].object, 4);
    assert_ne!(HICO_HOIS[C_MOTO].object, 4);
    HicoAnnotations::from_images(vec![
        gt_image("A.jpg", &[(H1, O1, C0), (H2, O2, C0)]),
        gt_image("B.jpg", &[(H1, O1, C0)]),
        gt_image("C.jpg", &[(H1, O1, C_MOTO)]),
        gt_image("D.jpg", &[(H1, O1, C_AIRPLANE)]),
    ])
    .unwrap()
}

/// Class-0 detections (official boxes are written 1 lower, as 0-based detections):
/// d1 A on P1 0.9 (TP) · d2 C 0.8 (FP, no class-0 truth) · d3 A on P1 again 0.7 (FP,
/// duplicate) · d4 B on P3 0.6 (TP) · d6 D 0.55 (FP) · d5 A far away 0.5 (FP).
fn hand_predictions(shift: fn([f64; 4]) -> [f32; 4]) -> Predictions {
    Predictions::from_images(vec![
        pred_image(
            "A.jpg",
            &[
                (shift(H1), shift(O1), C0, 0.9),
                (shift(H1), shift(O1), C0, 0.7),
                (shift(FAR), shift(FAR), C0, 0.5),
            ],
        ),
        pred_image("B.jpg", &[(shift(H1), shift(O1), C0, 0.6)]),
        pred_image("C.jpg", &[(shift(H1), shift(O1), C0, 0.8)]),
        pred_image("D.jpg", &[(shift(H1), shift(O1), C0, 0.55)]),
    ])
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// Official protocol
// ---------------------------------------------------------------------------------------

#[test]
fn official_default_hand_computed() {
    // Ranked: d1 TP, d2 FP, d3 FP, d4 TP, d6 FP, d5 FP; npos = 3.
    //   cum tp 1 1 1 2 2 2, cum fp 0 1 2 2 3 4
    //   rec  1/3 1/3 1/3 2/3 2/3 2/3
    //   prec 1   1/2 1/3 1/2 2/5 1/3
    // t = 0, .1, .2, .3      : max prec over rec >= t = 1      (4 points)
    // t = .4, .5, .6         : max(1/2, 2/5, 1/3) = 1/2         (3 points)
    // t = .7 .. 1            : no recall that high              (0)
    // AP = (4 * 1 + 3 * 0.5) / 11 = 0.5; recall = 2/3.
    let gt = hand_set();
    let report =
        Evaluator::official(&gt, OfficialMode::Default).evaluate(&hand_predictions(minus_one));
    let c = class(&report, C0);
    assert!(close(c.ap, 0.5), "AP {}", c.ap);
    assert!(close(c.recall, 2.0 / 3.0));
    assert_eq!((c.num_gt, c.num_detections, c.num_tp), (3, 6, 2));
    // Classes 1 and 152 have ground truth but no detection: AP 0. The mean is over all 600.
    assert_eq!(class(&report, C_MOTO).ap, 0.0);
    assert_eq!(report.summary.full.num_classes, 600);
    assert!(close(report.summary.full.map.unwrap(), 0.5 / 600.0));
    assert_eq!(report.protocol, "official-default");
}

#[test]
fn official_known_object_drops_images_without_the_object() {
    // Known Object keeps, for class 0 (airplane), images A, B and D (D's truth has an
    // airplane through class 1) and drops C (only a motorcycle): d2 goes.
    //   ranked d1 TP, d3 FP, d4 TP, d6 FP, d5 FP
    //   rec  1/3 1/3 2/3 2/3 2/3 ; prec 1 1/2 2/3 1/2 2/5
    // t <= .3: 1 (4 points); t = .4 .5 .6: max(2/3, 1/2, 2/5) = 2/3 (3 points)
    // AP = (4 + 3 * 2/3) / 11 = 6/11.
    let gt = hand_set();
    let report =
        Evaluator::official(&gt, OfficialMode::KnownObject).evaluate(&hand_predictions(minus_one));
    let c = class(&report, C0);
    assert!(close(c.ap, 6.0 / 11.0), "AP {}", c.ap);
    assert_eq!((c.num_gt, c.num_detections, c.num_tp), (3, 5, 2));
    assert_eq!(report.protocol, "official-known-object");
}

#[test]
fn official_duplicates_are_false_positives() {
    // One pair in A, one in B. a1 hits A's pair (0.9), a2 hits it again (0.8), b hits B's
    // pair (0.7): TP, FP, TP.
    //   rec .5 .5 1 ; prec 1 .5 2/3
    // t = 0 .. .5: 1 (6 points); t = .6 .. 1: 2/3 (5 points) -> AP = (6 + 10/3) / 11 = 28/33.
    // Without the duplicate the AP would be 1.
    let gt = HicoAnnotations::from_images(vec![
        gt_image("A.jpg", &[(H1, O1, C0)]),
        gt_image("B.jpg", &[(H1, O1, C0)]),
    ])
    .unwrap();
    let preds = Predictions::from_images(vec![
        pred_image(
            "A.jpg",
            &[
                (minus_one(H1), minus_one(O1), C0, 0.9),
                (minus_one(H1), minus_one(O1), C0, 0.8),
            ],
        ),
        pred_image("B.jpg", &[(minus_one(H1), minus_one(O1), C0, 0.7)]),
    ])
    .unwrap();
    for mode in [OfficialMode::Default, OfficialMode::KnownObject] {
        let c = Evaluator::official(&gt, mode).evaluate(&preds).classes[C0].clone();
        assert!(close(c.ap, 28.0 / 33.0), "{mode:?}: AP {}", c.ap);
        assert_eq!(c.num_tp, 1 + 1);
        assert_eq!(c.num_detections, 3);
    }
    let p = Evaluator::proxy(&gt, ProxyOptions::default()).evaluate(&preds);
    assert!(close(p.classes[C0].ap, 28.0 / 33.0));
}

#[test]
fn official_needs_both_boxes_and_the_best_pair_only() {
    // The detection overlaps the human of P1 perfectly but the object not at all: FP.
    // A detection whose best pair is already taken is a FP even if another pair fits too.
    let gt = HicoAnnotations::from_images(vec![gt_image(
        "A.jpg",
        &[(H1, O1, C0), ([0.0, 0.0, 9.0, 11.0], O1, C0)],
    )])
    .unwrap();
    let preds = Predictions::from_images(vec![pred_image(
        "A.jpg",
        &[
            (minus_one(H1), minus_one(FAR), C0, 0.9),
            (minus_one(H1), minus_one(O1), C0, 0.8), // best: P1 (IoU 1) -> TP
            (minus_one(H1), minus_one(O1), C0, 0.7), // best again P1 -> FP, P2 not tried
        ],
    )])
    .unwrap();
    let c = Evaluator::official(&gt, OfficialMode::Default)
        .evaluate(&preds)
        .classes[C0]
        .clone();
    assert_eq!(c.num_tp, 1);
    assert!(close(c.recall, 0.5));
}

#[test]
fn perfect_predictions_score_one() {
    // One image per class, predictions equal to the ground truth (also after the official
    // +1 shift: a 10x10 box moved by one pixel keeps IoU 81/119 >= 0.5).
    let gt = all_classes_set();
    let preds = perfect_predictions(&gt, |_| true);
    for mode in [OfficialMode::Default, OfficialMode::KnownObject] {
        let r = Evaluator::official(&gt, mode).evaluate(&preds);
        // Eleven terms of 1/11 sum to 1.0000000000000002 in MATLAB and numpy alike.
        assert_eq!(r.classes[0].ap, ELEVEN_ELEVENTHS);
        assert!(near_one(r.summary.full.map), "{mode:?}");
        assert!(near_one(r.summary.rare.map));
        assert!(near_one(r.summary.non_rare.map));
        assert_eq!(r.summary.full.mean_recall, Some(1.0));
        assert_eq!(r.summary.rare.num_classes, 138);
        assert_eq!(r.summary.non_rare.num_classes, 462);
    }
    let r = Evaluator::proxy(&gt, ProxyOptions::reference_scripts()).evaluate(&preds);
    assert!(near_one(r.summary.full.map));
    assert_eq!(r.summary.full.num_classes, 600);
}

/// 600 images, image `c` holding one pair of class `c` (boxes 10x10 wide).
fn all_classes_set() -> HicoAnnotations {
    HicoAnnotations::from_images(
        (0..600)
            .map(|c| gt_image(&format!("img{c:03}.jpg"), &[(H1, O1, c)]))
            .collect(),
    )
    .unwrap()
}

fn perfect_predictions(gt: &HicoAnnotations, keep: impl Fn(usize) -> bool) -> Predictions {
    Predictions::from_images(
        gt.images()
            .iter()
            .map(|img| {
                let dets: Vec<Det> = img
                    .hois
                    .iter()
                    .filter(|h| keep(h.hoi))
                    .map(|h| {
                        (
                            f32b(img.boxes[h.subject].bbox),
                            f32b(img.boxes[h.object].bbox),
                            h.hoi,
                            1.0,
                        )
                    })
                    .collect();
                pred_image(&img.file_name, &dets)
            })
            .collect(),
    )
    .unwrap()
}

#[test]
fn zero_shot_unseen_seen_full() {
    // Perfect on seen classes, nothing on unseen: Unseen 0, Seen 1, Full = seen / 600.
    let gt = all_classes_set();
    for split in [
        ZeroShotSplit::RareFirst,
        ZeroShotSplit::UnseenObject,
        ZeroShotSplit::Uc(3),
    ] {
        let unseen = split.unseen_mask();
        let n_unseen = unseen.iter().filter(|&&u| u).count();
        let preds = perfect_predictions(&gt, |h| !unseen[h]);
        let r = Evaluator::official(&gt, OfficialMode::Default)
            .with_zero_shot(Some(split))
            .evaluate(&preds);
        let u = r.summary.unseen.unwrap();
        let s = r.summary.seen.unwrap();
        assert_eq!((u.map, u.num_classes), (Some(0.0), n_unseen), "{split}");
        assert!(near_one(s.map) && s.num_classes == 600 - n_unseen);
        assert!(close(
            r.summary.full.map.unwrap(),
            (600 - n_unseen) as f64 / 600.0
        ));
        assert_eq!(r.zero_shot.as_deref(), Some(split.name().as_str()));
        assert!(r.classes.iter().all(|c| c.unseen == Some(unseen[c.hoi_id])));

        let p = Evaluator::proxy(&gt, ProxyOptions::default())
            .with_zero_shot(Some(split))
            .evaluate(&preds);
        // The proxy leaves classes without any detection out of its groups (the reference's
        // `triplet in self.rare_triplets` compares an index with tuples): no Unseen mean,
        // as the reference prints NaN. They still count in Full.
        assert_eq!(p.summary.unseen.unwrap().num_classes, 0);
        assert_eq!(p.summary.unseen.unwrap().map, None);
        assert!(near_one(p.summary.seen.unwrap().map));
        assert!(close(
            p.summary.full.map.unwrap(),
            (600 - n_unseen) as f64 / 600.0
        ));
    }
    assert_eq!(ZeroShotSplit::RareFirst.unseen_hois().len(), 120);
    assert_eq!(ZeroShotSplit::UnseenVerb.unseen_hois().len(), 84);
    assert_eq!(
        "uc4".parse::<ZeroShotSplit>().unwrap(),
        ZeroShotSplit::Uc(4)
    );
    assert!("uc5".parse::<ZeroShotSplit>().is_err());
    // No split: no Unseen / Seen groups.
    let r = Evaluator::official(&gt, OfficialMode::Default)
        .evaluate(&perfect_predictions(&gt, |_| true));
    assert!(r.summary.unseen.is_none() && r.summary.seen.is_none());
}

#[test]
fn rare_groups_follow_the_split() {
    // Perfect predictions on rare classes only: Rare 1, Non-rare 0, Full 138/600.
    let gt = all_classes_set();
    let rare = RareSplit::known();
    let preds = perfect_predictions(&gt, |h| rare.is_rare(h));
    let r = Evaluator::official(&gt, OfficialMode::Default).evaluate(&preds);
    assert!(near_one(r.summary.rare.map));
    assert_eq!(r.summary.non_rare.map, Some(0.0));
    assert!(close(r.summary.full.map.unwrap(), 138.0 / 600.0));
    for &h in &HICO_RARE_HOIS {
        assert!(r.classes[h as usize].rare);
    }
}

// ---------------------------------------------------------------------------------------
// IoU and AP details
// ---------------------------------------------------------------------------------------

#[test]
fn plus_one_pixel_iou() {
    // [0,0,9,9] covers 10x10 pixels. Half of it, [0,0,4,9], covers 5x10: IoU 50/100 = 0.5
    // with +1 (a true positive); without +1 it would be 36/81 = 0.44.
    let a = [0.0, 0.0, 9.0, 9.0];
    let half = [0.0, 0.0, 4.0, 9.0];
    assert_eq!(iou_matlab(&a, &half), 0.5);
    assert_eq!(iou_python(&a, &half), 0.5);
    // Shifted by 5: intersection 5x10 = 50, union 100 + 100 - 50: 1/3.
    assert!(close(iou_matlab(&a, &[5.0, 0.0, 14.0, 9.0]), 1.0 / 3.0));
    // Boxes sharing one pixel column overlap in MATLAB (iw = 1) but not in Python.
    let b = [9.0, 0.0, 18.0, 9.0];
    assert!(close(iou_matlab(&a, &b), 10.0 / 190.0));
    assert_eq!(iou_python(&a, &b), 0.0);
    // Disjoint.
    assert_eq!(iou_matlab(&a, &[20.0, 20.0, 29.0, 29.0]), 0.0);

    // Through the evaluator: a detection covering exactly half of both boxes is a TP
    // (official adds 1 to detections: write them 1 lower).
    let gt = HicoAnnotations::from_images(vec![gt_image("A.jpg", &[(a, a, C0)])]).unwrap();
    let preds = Predictions::from_images(vec![pred_image(
        "A.jpg",
        &[(minus_one(half), minus_one(half), C0, 1.0)],
    )])
    .unwrap();
    let r = Evaluator::official(&gt, OfficialMode::Default).evaluate(&preds);
    assert_eq!(r.classes[C0].num_tp, 1);
    assert_eq!(r.classes[C0].ap, ELEVEN_ELEVENTHS);
    // Without the +1 shift of the detection the half box becomes [-1,-1,3,8] and misses.
    let opts = OfficialOptions {
        detection_shift: 0.0,
        ..OfficialOptions::default()
    };
    let r = Evaluator::official_with(&gt, opts).evaluate(&preds);
    assert_eq!(r.classes[C0].num_tp, 0);
}

#[test]
fn eleven_recall_points_are_the_loop_values_k_times_0_1() {
    // `for t = 0:0.1:1` in Octave and numpy's arange both give k * 0.1 (checked against
    // Octave's run of the real code in tests/eval_official_octave.rs).
    for (k, (&m, &p)) in MATLAB_LOOP_RECALL_POINTS
        .iter()
        .zip(&NUMPY_RECALL_POINTS)
        .enumerate()
    {
        assert_eq!(m, k as f64 * 0.1, "loop point {k}");
        assert_eq!(p, k as f64 * 0.1, "numpy point {k}");
    }
    assert_ne!(MATLAB_LOOP_RECALL_POINTS[3], 0.3);
    assert_ne!(MATLAB_LOOP_RECALL_POINTS[6], 0.6);
    assert_ne!(MATLAB_LOOP_RECALL_POINTS[7], 0.7);
    // The symmetric colon-vector values (exact 0.6 and 0.7), which the official protocol
    // does NOT use.
    let mut exact = MATLAB_LOOP_RECALL_POINTS;
    exact[6] = 0.6;
    exact[7] = 0.7;

    // Recall ending exactly at 3/5 with precision 1 (3 TPs, 5 ground truths): the loop
    // reaches t = 0 .. 0.5 (6 points) and misses 0.6000000000000001; exact 0.6 would add one.
    let tp = [true, true, true];
    assert!(close(
        eleven_point_ap(&tp, 5, &MATLAB_LOOP_RECALL_POINTS).ap,
        6.0 / 11.0
    ));
    assert!(close(eleven_point_ap(&tp, 5, &exact).ap, 7.0 / 11.0));
    // 7/10: 7 points on the loop values, 8 with exact 0.7.
    let tp = [true; 7];
    assert!(close(
        eleven_point_ap(&tp, 10, &MATLAB_LOOP_RECALL_POINTS).ap,
        7.0 / 11.0
    ));
    assert!(close(eleven_point_ap(&tp, 10, &exact).ap, 8.0 / 11.0));
    // 3/10 is below 0.30000000000000004.
    let tp = [true; 3];
    assert!(close(
        eleven_point_ap(&tp, 10, &MATLAB_LOOP_RECALL_POINTS).ap,
        3.0 / 11.0
    ));
    // No ground truth: AP 0, recall 0 (MATLAB's 0/0 recall reaches no point).
    let r = eleven_point_ap(&[false, false], 0, &MATLAB_LOOP_RECALL_POINTS);
    assert_eq!((r.ap, r.recall), (0.0, 0.0));
    // No detections.
    assert_eq!(eleven_point_ap(&[], 4, &MATLAB_LOOP_RECALL_POINTS).ap, 0.0);

    // The same ranked list through both evaluators: 5 pairs of class 0, 3 found.
    let pairs: Vec<Pair> = (0..5)
        .map(|k| {
            let d = 50.0 * k as f64;
            ([d, 0.0, d + 9.0, 9.0], [d, 20.0, d + 9.0, 29.0], C0)
        })
        .collect();
    let gt = HicoAnnotations::from_images(vec![gt_image("A.jpg", &pairs)]).unwrap();
    let dets: Vec<Det> = pairs[..3]
        .iter()
        .map(|&(h, o, c)| (f32b(h), f32b(o), c, 1.0))
        .collect();
    let preds = Predictions::from_images(vec![pred_image("A.jpg", &dets)]).unwrap();
    let official = Evaluator::official(&gt, OfficialMode::Default).evaluate(&preds);
    let proxy = Evaluator::proxy(&gt, ProxyOptions::default()).evaluate(&preds);
    // Same points, same AP: 6/11 in both.
    assert!(close(official.classes[C0].ap, 6.0 / 11.0));
    assert!(close(proxy.classes[C0].ap, 6.0 / 11.0));
    assert!(close(official.classes[C0].recall, 0.6) && close(proxy.classes[C0].recall, 0.6));
}

// ---------------------------------------------------------------------------------------
// Proxy evaluator
// ---------------------------------------------------------------------------------------

#[test]
fn proxy_hand_computed_and_mean_over_present_classes() {
    // Same ranked list as the official Default case (boxes exact, no shift): AP 0.5.
    // The proxy averages over the 3 classes present in the test truth (0, 1, 152), so
    // Full = (0.5 + 0 + 0) / 3; the official mean is over 600.
    let gt = hand_set();
    let r = Evaluator::proxy(&gt, ProxyOptions::default()).evaluate(&hand_predictions(f32b));
    let c = class(&r, C0);
    assert!(close(c.ap, 0.5), "AP {}", c.ap);
    assert!(close(c.recall, 2.0 / 3.0));
    assert_eq!((c.num_gt, c.num_detections, c.num_tp), (3, 6, 2));
    assert_eq!(r.summary.full.num_classes, 3);
    assert!(close(r.summary.full.map.unwrap(), 0.5 / 3.0));
    assert!(r.classes.iter().filter(|c| c.in_mean).count() == 3);
    // Detections of a class absent from the test truth are not recorded at all.
    let extra =
        Predictions::from_images(vec![pred_image("A.jpg", &[(f32b(H1), f32b(O1), 7, 1.0)])])
            .unwrap();
    let r = Evaluator::proxy(&gt, ProxyOptions::default()).evaluate(&extra);
    assert_eq!(r.classes[7].num_detections, 0);
    assert!(!r.classes[7].in_mean);
}

#[test]
fn proxy_keeps_the_top_100_per_image() {
    // 100 wrong detections score above the one right one: the proxy cuts it (AP 0), the
    // official protocol keeps every detection (recall 1, precision 1/101 -> AP 1/101).
    let gt = HicoAnnotations::from_images(vec![gt_image("A.jpg", &[(H1, O1, C0)])]).unwrap();
    let mut dets: Vec<Det> = (0..100)
        .map(|k| (f32b(FAR), f32b(FAR), C0, 2.0 - k as f32 * 0.01))
        .collect();
    dets.push((f32b(H1), f32b(O1), C0, 0.5));
    let preds = Predictions::from_images(vec![pred_image("A.jpg", &dets)]).unwrap();
    let p = Evaluator::proxy(&gt, ProxyOptions::default()).evaluate(&preds);
    assert_eq!((p.classes[C0].num_detections, p.classes[C0].ap), (100, 0.0));
    let wide = ProxyOptions {
        max_hois: 101,
        ..ProxyOptions::default()
    };
    let p = Evaluator::proxy(&gt, wide).evaluate(&preds);
    assert_eq!(p.classes[C0].recall, 1.0);
    let o = Evaluator::official_with(
        &gt,
        OfficialOptions {
            detection_shift: 0.0,
            ..OfficialOptions::default()
        },
    )
    .evaluate(&preds);
    assert_eq!(o.classes[C0].recall, 1.0);
    assert!(close(o.classes[C0].ap, 1.0 / 101.0));
}

#[test]
fn proxy_triplet_nms_removes_near_duplicates() {
    // Two almost identical detections of one pair: without NMS the second is a FP, with
    // the reference's NMS (thres 0.7, alpha 1, beta 0.5) it is suppressed.
    let gt = HicoAnnotations::from_images(vec![gt_image("A.jpg", &[(H1, O1, C0)])]).unwrap();
    let preds = Predictions::from_images(vec![pred_image(
        "A.jpg",
        &[
            (f32b(H1), f32b(O1), C0, 0.9),
            ([0.0, 0.0, 9.0, 10.0], f32b(O1), C0, 0.8),
        ],
    )])
    .unwrap();
    let plain = Evaluator::proxy(&gt, ProxyOptions::default()).evaluate(&preds);
    assert_eq!(
        (plain.classes[C0].num_detections, plain.classes[C0].num_tp),
        (2, 1)
    );
    let nms = ProxyOptions {
        nms: Some(TripletNmsParams::default()),
        ..ProxyOptions::default()
    };
    let with_nms = Evaluator::proxy(&gt, nms).evaluate(&preds);
    assert_eq!(
        (
            with_nms.classes[C0].num_detections,
            with_nms.classes[C0].num_tp
        ),
        (1, 1)
    );
}

#[test]
fn identical_ground_truth_entries_are_matched_once() {
    // The truth lists the same (subject, object, class) twice. Both evaluators send every
    // detection to the FIRST best-overlapping entry (MATLAB: `min_ov > ov_max`; Python:
    // `min_overlap_gt > max_overlap`, and its `vis_tag` is indexed by value through
    // `gt_hois.index`), so the second entry can never be recalled: 1 TP, recall 1/2.
    let img = ImageAnnotation {
        file_name: "A.jpg".into(),
        boxes: vec![
            GtBox {
                bbox: H1,
                object: 0,
            },
            GtBox {
                bbox: O1,
                object: HICO_HOIS[C0].object as usize,
            },
        ],
        hois: vec![
            GtHoi {
                subject: 0,
                object: 1,
                verb: HICO_HOIS[C0].verb as usize,
                hoi: C0,
            };
            2
        ],
    };
    let gt = HicoAnnotations::from_images(vec![img]).unwrap();
    let preds = Predictions::from_images(vec![pred_image(
        "A.jpg",
        &[(f32b(H1), f32b(O1), C0, 0.9), (f32b(H1), f32b(O1), C0, 0.8)],
    )])
    .unwrap();
    let p = Evaluator::proxy(&gt, ProxyOptions::default()).evaluate(&preds);
    assert_eq!((p.classes[C0].num_tp, p.classes[C0].recall), (1, 0.5));
    let o = Evaluator::official(&gt, OfficialMode::Default).evaluate(&preds);
    assert_eq!((o.classes[C0].num_tp, o.classes[C0].recall), (1, 0.5));
}

#[test]
fn proxy_rare_groups_from_training_counts() {
    // A counted split puts classes never seen in training in neither group (only Full).
    let gt = hand_set();
    let mut counts = vec![0usize; 600];
    counts[C0] = 50; // non-rare
    counts[C_MOTO] = 3; // rare
    // class 1: 0 training instances -> neither group in the proxy, rare in the official.
    let rare = RareSplit::from_counts(counts);
    let preds = hand_predictions(f32b);
    let p = Evaluator::proxy(&gt, ProxyOptions::default())
        .with_rare_split(rare.clone())
        .evaluate(&preds);
    assert_eq!(p.summary.full.num_classes, 3);
    // Class 152 is rare but has no detection: the reference leaves it out of the group.
    assert_eq!(p.summary.rare.num_classes, 0);
    assert_eq!(p.summary.non_rare.num_classes, 1);
    assert_eq!(p.rare_split, "training-counts");
    // With correct detections of class 152 in C and of class 1 in D, 152 joins Rare
    // (AP 1); class 1 stays in no group (0 training instances), only in Full.
    let mut images: Vec<ImagePredictions> = preds.images().to_vec();
    for (img, hoi) in [(2, C_MOTO), (3, C_AIRPLANE)] {
        let first = images[img].hoi_prediction[0];
        images[img].hoi_prediction.push(PredHoi {
            category_id: hoi,
            score: 0.1,
            ..first
        });
    }
    let p = Evaluator::proxy(&gt, ProxyOptions::default())
        .with_rare_split(rare.clone())
        .evaluate(&Predictions::from_images(images).unwrap());
    assert_eq!(p.classes[C_MOTO].num_detections, 1);
    assert_eq!(p.summary.rare.num_classes, 1);
    assert!(near_one(p.summary.rare.map));
    assert_eq!(p.classes[C_AIRPLANE].num_tp, 1);
    assert_eq!(p.summary.non_rare.num_classes, 1);
    assert_eq!(p.summary.full.num_classes, 3);
    let o = Evaluator::official(&gt, OfficialMode::Default)
        .with_rare_split(rare)
        .evaluate(&hand_predictions(minus_one));
    assert_eq!(o.summary.rare.num_classes, 599);
    assert_eq!(o.summary.non_rare.num_classes, 1);
    assert!(close(o.summary.non_rare.map.unwrap(), 0.5));
}

#[test]
fn unknown_prediction_images_are_reported_and_ignored() {
    let gt = hand_set();
    let preds = Predictions::from_images(vec![
        pred_image("A.jpg", &[(f32b(H1), f32b(O1), C0, 0.9)]),
        pred_image("Z.jpg", &[(f32b(H1), f32b(O1), C0, 0.9)]),
    ])
    .unwrap();
    for r in [
        Evaluator::official(&gt, OfficialMode::Default).evaluate(&preds),
        Evaluator::proxy(&gt, ProxyOptions::default()).evaluate(&preds),
    ] {
        assert_eq!(r.unknown_prediction_images, vec!["Z.jpg".to_string()]);
        assert_eq!(r.num_images_with_predictions, 1);
        assert_eq!(r.classes[C0].num_detections, 1);
        assert!(r.summary_table().contains("not in the annotations"));
    }
}

#[test]
fn report_serialises_every_class() {
    let gt = hand_set();
    let r = Evaluator::official(&gt, OfficialMode::Default).evaluate(&hand_predictions(minus_one));
    let json = serde_json::to_string(&r).unwrap();
    let back: EvalReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.classes.len(), 600);
    assert_eq!(back.summary.full.num_classes, 600);
    assert!(close(back.classes[C0].ap, 0.5));
    assert_eq!(back.classes[C0].num_tp, 2);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in [
        "ap",
        "recall",
        "num_gt",
        "num_detections",
        "num_tp",
        "rare",
        "name",
    ] {
        assert!(v["classes"][0].get(key).is_some(), "{key}");
    }
    assert_eq!(back.classes[C0].name, "board airplane");
    let table = r.summary_table();
    assert!(
        table.contains("Full") && table.contains("Non-rare"),
        "{table}"
    );
}

// ---------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------

/// xorshift, deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn large_synthetic_set_scores_in_seconds() {
    // 5000 images, 1-4 ground-truth pairs each, 100 detections per image (500k in all):
    // every image's true pairs jittered, plus random pairs of random classes.
    const IMAGES: usize = 5000;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut gts = Vec::with_capacity(IMAGES);
    let mut preds = Vec::with_capacity(IMAGES);
    let rand_box = |rng: &mut Rng| {
        let x = 600.0 * rng.unit();
        let y = 400.0 * rng.unit();
        [
            x,
            y,
            x + 20.0 + 200.0 * rng.unit(),
            y + 20.0 + 200.0 * rng.unit(),
        ]
    };
    for i in 0..IMAGES {
        let pairs: Vec<Pair> = (0..1 + rng.below(4))
            .map(|_| (rand_box(&mut rng), rand_box(&mut rng), rng.below(600)))
            .collect();
        let mut dets: Vec<Det> = Vec::with_capacity(100);
        for &(h, o, c) in &pairs {
            let jit = |b: [f64; 4], rng: &mut Rng| b.map(|x| (x + 6.0 * rng.unit() - 3.0) as f32);
            dets.push((
                jit(h, &mut rng),
                jit(o, &mut rng),
                c,
                rng.unit() as f32 + 1.0,
            ));
        }
        while dets.len() < 100 {
            let h = f32b(rand_box(&mut rng));
            let o = f32b(rand_box(&mut rng));
            dets.push((h, o, rng.below(600), rng.unit() as f32 * 1.5));
        }
        let name = format!("HICO_test2015_{i:08}.jpg");
        gts.push(gt_image(&name, &pairs));
        preds.push(pred_image(&name, &dets));
    }
    let gt = HicoAnnotations::from_images(gts).unwrap();
    let preds = Predictions::from_images(preds).unwrap();

    let start = Instant::now();
    let def = Evaluator::official(&gt, OfficialMode::Default).evaluate(&preds);
    let ko = Evaluator::official(&gt, OfficialMode::KnownObject).evaluate(&preds);
    let proxy = Evaluator::proxy(&gt, ProxyOptions::reference_scripts()).evaluate(&preds);
    let elapsed = start.elapsed();
    eprintln!(
        "5000 images, 500k detections: official def + ko + proxy(nms) in {elapsed:?}; \
         mAP def {:.4} ko {:.4} proxy {:.4}",
        def.summary.full.map.unwrap(),
        ko.summary.full.map.unwrap(),
        proxy.summary.full.map.unwrap()
    );
    assert!(elapsed.as_secs_f64() < 10.0, "took {elapsed:?}");
    // Sanity: most true pairs are found; Known Object never lowers an AP.
    assert!(def.summary.full.mean_recall.unwrap() > 0.8);
    for (d, k) in def.classes.iter().zip(&ko.classes) {
        assert!(
            k.ap >= d.ap - 1e-12,
            "class {}: ko {} < def {}",
            d.hoi_id,
            k.ap,
            d.ap
        );
        assert_eq!(d.num_gt, k.num_gt);
    }
}
