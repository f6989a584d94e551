//! Training-step parity with the authors' code (tests/fixtures/gen_train_step_fixtures.py):
//! the small HOICLIP of `hoiclip_small.pth` (random weights, norms, biases and batch-norm
//! statistics), two images of different sizes with five annotated pairs (one object-less),
//! and the authors' `HungarianMatcherHOI`, `SetCriterionHOI`, `_set_aux_loss_triplet`,
//! `train_one_epoch` loss sum, `clip_grad_norm_` and AdamW param groups, run by the script.
//!
//! Checked, on every compiled backend (`HOICLIP_TEST_BACKENDS`):
//! - the training forward (main and auxiliary level) against the reference outputs;
//! - the matcher's cost matrices and its assignments (identical);
//! - every loss term (main and auxiliary) and the weighted total, relative error ≤ 1e-5;
//! - the gradients of the 31 recorded parameters across the backbone, DETR transformer, interaction
//!   decoder and heads, relative error (max abs error / max abs value) ≤ 1e-4, and the
//!   global gradient norm;
//! - the parameters after two AdamW steps with clipping (lr 1e-4, backbone 1e-5), absolute
//!   error ≤ 1e-5 (the update error is printed as a fraction of the learning rate);
//! - that the trainable set is the reference's (`--fix_clip`, frozen stem/layer1 and norms).
//!
//! The reference ran with dropout 0 (the authors train with 0.1; the step is otherwise
//! random). wgpu tolerances are 5× looser (float sums reordered, docs/testing.md).
#![cfg(feature = "train")]

mod common;

use burn::module::Module;
use burn::tensor::Gradients;
use burn::tensor::{Device, Tensor, TensorData};
use common::{Fixture, backends, values};
use hoiclip::BackendChoice;
use hoiclip::detection::batch::pad_batch;
use hoiclip::model::{HoiclipInput, HoiclipModel};
use hoiclip::train::{
    FreezePolicy, HoiOptimizer, HoiTarget, OptimizerConfig, SetCriterion, TrainStep, parameters,
};

const FIXTURE: &str = "train_step_small_io.safetensors";
const REPORT: &str = "train_step_small.json";

/// The parameters whose gradients and values the fixture records (torch names, from the
/// fixture's report).
fn chosen() -> Vec<String> {
    report()["chosen"]
        .as_array()
        .expect("chosen")
        .iter()
        .map(|e| e[0].as_str().expect("name").to_string())
        .collect()
}

/// One Burn tensor behind a reference parameter, in the reference's layout once read.
enum Part {
    Vector(Tensor<1>),
    Matrix(Tensor<2>),
    /// A Burn `Linear` weight, `[in, out]`: the reference stores its transpose.
    Transposed(Tensor<2>),
    Conv(Tensor<4>),
}

impl Part {
    /// Host values (or, with `grads`, the gradient's) in the reference's layout.
    fn read(&self, grads: Option<&Gradients>) -> Vec<f32> {
        fn get<const D: usize>(t: &Tensor<D>, grads: Option<&Gradients>) -> Tensor<D> {
            match grads {
                None => t.clone(),
                Some(g) => t.grad(g).expect("the parameter has a gradient"),
            }
        }
        match self {
            Part::Vector(t) => values(get(t, grads)),
            Part::Matrix(t) => values(get(t, grads)),
            Part::Transposed(t) => values(get(t, grads).transpose()),
            Part::Conv(t) => values(get(t, grads)),
        }
    }
}

fn linear_weight(l: &hoiclip::nn::Linear) -> Part {
    Part::Transposed(l.weight.val())
}

fn linear_bias(l: &hoiclip::nn::Linear) -> Part {
    Part::Vector(l.bias.as_ref().expect("a bias").val())
}

fn attention(a: &hoiclip::nn::TorchMultiheadAttention, what: &str) -> Vec<Part> {
    match what {
        "in_proj_weight" => vec![
            linear_weight(&a.query),
            linear_weight(&a.key),
            linear_weight(&a.value),
        ],
        "in_proj_bias" => vec![
            linear_bias(&a.query),
            linear_bias(&a.key),
            linear_bias(&a.value),
        ],
        "out_proj.weight" => vec![linear_weight(&a.out_proj)],
        "out_proj.bias" => vec![linear_bias(&a.out_proj)],
        other => panic!("no attention parameter {other}"),
    }
}

fn norm(n: &burn::nn::LayerNorm, what: &str) -> Part {
    match what {
        "weight" => Part::Vector(n.gamma.val()),
        "bias" => Part::Vector(n.beta.as_ref().expect("a bias").val()),
        other => panic!("no norm parameter {other}"),
    }
}

/// The Burn tensors of the reference parameter `name`.
fn parts(m: &HoiclipModel, name: &str) -> Vec<Part> {
    let d = &m.detection;
    let enc = &d.encoder.layers;
    let dec = &d.instance_decoder.layers;
    let fusion = &m.interaction.layers;
    let h = &m.heads;
    match name {
        "backbone.0.body.layer2.0.conv1.weight" => {
            vec![Part::Conv(d.backbone.layer2[0].conv1.weight.val())]
        }
        "backbone.0.body.layer4.0.conv1.weight" => {
            vec![Part::Conv(d.backbone.layer4[0].conv1.weight.val())]
        }
        "input_proj.weight" => vec![Part::Conv(d.input_proj.weight.val())],
        "input_proj.bias" => vec![Part::Vector(
            d.input_proj.bias.as_ref().expect("bias").val(),
        )],
        "transformer.encoder.layers.0.self_attn.in_proj_weight" => {
            attention(&enc[0].self_attn, "in_proj_weight")
        }
        "transformer.encoder.layers.0.self_attn.in_proj_bias" => {
            attention(&enc[0].self_attn, "in_proj_bias")
        }
        "transformer.encoder.layers.0.self_attn.out_proj.bias" => {
            attention(&enc[0].self_attn, "out_proj.bias")
        }
        "transformer.encoder.layers.0.linear1.weight" => vec![linear_weight(&enc[0].linear1)],
        "transformer.encoder.layers.1.norm2.weight" => vec![norm(&enc[1].norm2, "weight")],
        "transformer.instance_decoder.layers.0.multihead_attn.in_proj_weight" => {
            attention(&dec[0].multihead_attn, "in_proj_weight")
        }
        "transformer.instance_decoder.layers.1.multihead_attn.out_proj.weight" => {
            attention(&dec[1].multihead_attn, "out_proj.weight")
        }
        "transformer.instance_decoder.norm.weight" => {
            vec![norm(&d.instance_decoder.norm, "weight")]
        }
        "query_embed_h.weight" => vec![Part::Matrix(d.query_embed_h.val())],
        "query_embed_o.weight" => vec![Part::Matrix(d.query_embed_o.val())],
        "pos_guided_embedd.weight" => vec![Part::Matrix(d.pos_guided_embedd.val())],
        "transformer.clip_interaction_decoder.layers.0.multihead_attn.in_proj_weight" => {
            attention(&fusion[0].layer.multihead_attn, "in_proj_weight")
        }
        "transformer.clip_interaction_decoder.layers.0.linear1.weight" => {
            vec![linear_weight(&fusion[0].layer.linear1)]
        }
        "transformer.clip_interaction_decoder.layers.1.linear2.weight" => {
            vec![linear_weight(&fusion[1].layer.linear2)]
        }
        "transformer.clip_interaction_decoder.norm.bias" => {
            vec![norm(&m.interaction.norm, "bias")]
        }
        "transformer.obj_class_fc.weight" => vec![linear_weight(&m.interaction.obj_class_fc)],
        "transformer.queries2spacial_proj.weight" => {
            vec![linear_weight(&m.interaction.queries2spacial_proj)]
        }
        "hum_bbox_embed.layers.2.weight" => vec![linear_weight(&d.hum_bbox_embed.layers[2])],
        "hum_bbox_embed.layers.2.bias" => vec![linear_bias(&d.hum_bbox_embed.layers[2])],
        "obj_bbox_embed.layers.0.weight" => vec![linear_weight(&d.obj_bbox_embed.layers[0])],
        "obj_bbox_embed.layers.2.weight" => vec![linear_weight(&d.obj_bbox_embed.layers[2])],
        "obj_class_fc.0.weight" => vec![linear_weight(&h.obj_class_fc)],
        "obj_class_fc.1.bias" => vec![norm(&h.obj_class_ln, "bias")],
        "inter2verb.layers.0.weight" => vec![linear_weight(&h.inter2verb.layers[0])],
        "inter2verb.layers.2.bias" => vec![linear_bias(&h.inter2verb.layers[2])],
        "verb_projection.weight" => vec![linear_weight(&h.verb_projection)],
        "logit_scale" => vec![Part::Vector(h.logit_scale.val())],
        "obj_logit_scale" => vec![Part::Vector(h.obj_logit_scale.val())],
        other => panic!("no mapping for {other}"),
    }
}

/// The reference parameter `name` (or its gradient) as host values in the reference layout.
fn read(m: &HoiclipModel, name: &str, grads: Option<&Gradients>) -> Vec<f32> {
    parts(m, name).iter().flat_map(|p| p.read(grads)).collect()
}

/// `max |a − e| / max |e|` (0 when both are 0).
fn relative_error(actual: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    let scale = expected
        .iter()
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let err = actual
        .iter()
        .zip(expected)
        .map(|(a, e)| {
            assert!(a.is_finite(), "non-finite value {a}");
            f64::from((a - e).abs())
        })
        .fold(0.0, f64::max);
    if scale == 0.0 { err } else { err / scale }
}

fn scalar_relative(actual: f64, expected: f64) -> f64 {
    (actual - expected).abs() / expected.abs().max(1e-12)
}

/// The model of the fixture on the autodiff counterpart of `device`, frozen as the authors'
/// script freezes it.
fn training_model(device: &Device) -> HoiclipModel {
    hoiclip::train::training_model(common::hoiclip_small_model(device), FreezePolicy::default())
}

fn input(io: &Fixture, device: &Device) -> HoiclipInput {
    let b = io.shape("detr_images")[0];
    let n = io.shape("clip_images")[2];
    let prepared = common::unpad_fixture_images(
        io,
        "detr_images",
        "padding_mask",
        &(0..b).collect::<Vec<_>>(),
    );
    let original_sizes = prepared
        .iter()
        .map(|p| (p.width as u32, p.height as u32))
        .collect();
    HoiclipInput {
        batch: pad_batch(&prepared, device).expect("pad"),
        clip_images: Tensor::from_data(
            TensorData::new(io.f32("clip_images"), [b, 3, n, n]),
            device,
        ),
        original_sizes,
    }
}

fn targets(io: &Fixture) -> Vec<HoiTarget> {
    let b = io.shape("detr_images")[0];
    (0..b)
        .map(|i| {
            let key = |k: &str| format!("target_{i}_{k}");
            let boxes = |k: &str| -> Vec<[f32; 4]> {
                io.f32(&key(k))
                    .chunks(4)
                    .map(|c| [c[0], c[1], c[2], c[3]])
                    .collect()
            };
            let classes = io.shape(&key("hoi_labels"))[1];
            let hoi = io.f32(&key("hoi_labels"));
            HoiTarget {
                human_boxes: boxes("sub_boxes"),
                object_boxes: boxes("obj_boxes"),
                object_labels: io
                    .i64(&key("obj_labels"))
                    .iter()
                    .map(|&v| v as usize)
                    .collect(),
                hoi_labels: hoi
                    .chunks(classes)
                    .map(|row| (0..classes).filter(|&c| row[c] == 1.0).collect())
                    .collect(),
            }
        })
        .collect()
}

fn report() -> serde_json::Value {
    common::json_fixture(REPORT)
}

fn loss_tolerance(backend: BackendChoice) -> f64 {
    match backend {
        BackendChoice::Wgpu => 5e-5,
        _ => 1e-5,
    }
}

fn grad_tolerance(backend: BackendChoice) -> f64 {
    match backend {
        BackendChoice::Wgpu => 5e-4,
        _ => 1e-4,
    }
}

#[test]
fn the_trainable_set_is_the_authors() {
    let device = first_backend();
    let model = training_model(&device);
    let report = report();
    let count = |key: &str| -> usize {
        report[key]
            .as_array()
            .expect(key)
            .iter()
            .map(|e| {
                e[1].as_array()
                    .expect("shape")
                    .iter()
                    .map(|d| d.as_u64().expect("dim") as usize)
                    .product::<usize>()
            })
            .sum()
    };
    let trainable_ref = count("trainable");
    // The reference's trainable set includes modules the forward never uses (the GEN
    // interaction decoder, `inter_guided_embedd`, `hoi_class_fc`, each fusion layer's
    // `norm4`), which the crate does not build: they get no gradient there, and AdamW skips
    // them, so they do not change the step.
    let unused: usize = report["trainable"]
        .as_array()
        .expect("trainable")
        .iter()
        .filter(|e| {
            let name = e[0].as_str().expect("name");
            report["trainable_without_grad"]
                .as_array()
                .expect("list")
                .iter()
                .any(|u| u.as_str() == Some(name))
        })
        .map(|e| {
            e[1].as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_u64().expect("dim") as usize)
                .product::<usize>()
        })
        .sum();
    let ours = hoiclip::train::params::trainable_count(&model);
    println!("trainable: crate {ours}, reference {trainable_ref} of which {unused} unused");
    assert_eq!(ours, trainable_ref - unused);
    // Nothing of CLIP and no classifier built from its text trains.
    for p in parameters(&model) {
        if p.path.starts_with("clip.")
            || p.path.contains("visual_projection")
            || p.path.starts_with("hoi_text_embeddings")
            || p.path.contains("running_")
            || p.path.starts_with("detection.backbone.layer1")
            || p.path.starts_with("detection.backbone.conv1")
        {
            assert!(!p.trainable, "{} trains", p.path);
        }
    }
}

#[test]
fn training_step_matches_the_authors() {
    let io = Fixture::open(FIXTURE);
    let targets = targets(&io);
    for (backend, device) in backends() {
        let tol = common::tolerance(backend);
        let model = training_model(&device);
        let adevice = device.clone().autodiff();
        let input = input(&io, &adevice);

        // Forward: auxiliary level first, main last.
        let levels = model.forward_levels(&input).expect("forward");
        assert_eq!(levels.len(), 2);
        for (level, name) in levels.iter().zip(["aux_0", "main"]) {
            for (what, t) in [
                ("pred_hoi_logits", level.hoi_logits.clone()),
                ("pred_obj_logits", level.object_logits.clone()),
                ("pred_sub_boxes", level.human_boxes.clone()),
                ("pred_obj_boxes", level.object_boxes.clone()),
            ] {
                common::assert_close(
                    &format!("{backend:?} {name} {what}"),
                    t.detach(),
                    &io.f32(&format!("{name}_{what}")),
                    tol,
                );
            }
        }

        // Matcher: cost matrices and assignments.
        let criterion = SetCriterion::default();
        for (level, name) in levels.iter().zip(["aux_0", "main"]) {
            let assignment = criterion.matcher.assign(level, &targets).expect("assign");
            for (image, a) in assignment.iter().enumerate() {
                let cost = criterion
                    .matcher
                    .cost_matrix(level, &targets, image)
                    .expect("cost");
                let expected = io.f32(&format!("{name}_cost_{image}"));
                let err = common::max_abs_diff(&cost, &expected);
                println!("{backend:?} {name} cost {image}: max abs error {err:.2e}");
                assert!(err <= tol * 10.0, "{name} cost of image {image}: {err}");
                let src: Vec<usize> = io
                    .i64(&format!("{name}_src_{image}"))
                    .iter()
                    .map(|&v| v as usize)
                    .collect();
                let tgt: Vec<usize> = io
                    .i64(&format!("{name}_tgt_{image}"))
                    .iter()
                    .map(|&v| v as usize)
                    .collect();
                assert_eq!(a.queries, src, "{backend:?} {name} image {image}: queries");
                assert_eq!(a.pairs, tgt, "{backend:?} {name} image {image}: pairs");
            }
        }

        // Losses.
        let num = SetCriterion::num_interactions(&targets);
        let output = criterion
            .forward(&levels, &targets, num)
            .expect("criterion");
        let ltol = loss_tolerance(backend);
        for (name, value) in output.values().expect("values") {
            let expected = f64::from(io.f32(&format!("loss.{name}"))[0]);
            let err = scalar_relative(value, expected);
            println!("{backend:?} {name}: {value:.7} vs {expected:.7} (rel {err:.1e})");
            assert!(err <= ltol, "{name}: {value} vs {expected}");
        }
        assert_eq!(output.terms.len(), 12, "six terms on each of two levels");
        let total = values(output.total.clone().detach())[0];
        let expected_total = io.f32("loss_total")[0];
        let err = scalar_relative(f64::from(total), f64::from(expected_total));
        println!("{backend:?} total: {total} vs {expected_total} (rel {err:.1e})");
        assert!(err <= ltol);

        // Gradients.
        let grads = output.total.backward();
        let mut worst = 0.0f64;
        for name in &chosen() {
            let ours = read(&model, name, Some(&grads));
            let expected = io.f32(&format!("grad.{name}"));
            let err = relative_error(&ours, &expected);
            worst = worst.max(err);
            println!("{backend:?} grad {name}: relative error {err:.2e}");
            assert!(err <= grad_tolerance(backend), "gradient of {name}: {err}");
        }
        println!("{backend:?} gradients: worst relative error {worst:.2e}");
        let grads = burn::optim::GradientsParams::from_grads(grads, &model);
        let (norm, bad) = HoiOptimizer::grad_norm(&model, &grads).expect("norm");
        assert!(bad.is_none());
        let expected_norm = f64::from(io.f32("grad_total_norm")[0]);
        let err = scalar_relative(norm, expected_norm);
        println!("{backend:?} gradient norm {norm} vs {expected_norm} (rel {err:.1e})");
        assert!(err <= grad_tolerance(backend));
    }
}

#[test]
fn two_optimizer_steps_match_the_authors() {
    let io = Fixture::open(FIXTURE);
    let targets = targets(&io);
    for (backend, device) in backends() {
        let mut model = training_model(&device);
        let input = input(&io, &device.clone().autodiff());
        for name in &chosen() {
            let err = relative_error(&read(&model, name, None), &io.f32(&format!("init.{name}")));
            assert_eq!(err, 0.0, "{name} starts where the reference starts");
        }
        let mut step = TrainStep {
            criterion: SetCriterion::default(),
            optimizer: HoiOptimizer::new(OptimizerConfig::default()),
        };
        let lr = OptimizerConfig::default().lr;
        for (i, snapshot) in ["step1", "step2"].into_iter().enumerate() {
            let (next, outcome) = step
                .run(model, &input, &targets, 0, i as u64, None)
                .expect("step");
            model = next;
            let key = if i == 0 {
                "grad_total_norm"
            } else {
                "grad_total_norm_step1"
            };
            let expected_norm = f64::from(io.f32(key)[0]);
            let err = scalar_relative(outcome.report.grad_norm, expected_norm);
            println!(
                "{backend:?} {snapshot}: gradient norm rel error {err:.1e}, clip {:.3e}",
                outcome.report.clip_factor
            );
            assert!(err <= grad_tolerance(backend));
            if i == 1 {
                let expected = f64::from(io.f32("loss_total_step1")[0]);
                let err = scalar_relative(outcome.loss, expected);
                println!(
                    "{backend:?} loss at step 2: {} vs {expected} (rel {err:.1e})",
                    outcome.loss
                );
                assert!(err <= loss_tolerance(backend));
            }
            let (mut worst_abs, mut worst_update) = (0.0f32, 0.0f64);
            for name in &chosen() {
                let ours = read(&model, name, None);
                let expected = io.f32(&format!("{snapshot}.{name}"));
                let abs = common::max_abs_diff(&ours, &expected);
                // Both start from the same values, so this is also the error of the updates,
                // here as a fraction of the learning rate (an AdamW update is about lr).
                let update = f64::from(abs) / lr;
                worst_abs = worst_abs.max(abs);
                worst_update = worst_update.max(update);
                assert!(abs <= 1e-5, "{snapshot} {name}: max abs error {abs}");
            }
            println!(
                "{backend:?} {snapshot}: parameters max abs error {worst_abs:.2e}, {:.2}% of lr",
                worst_update * 100.0
            );
        }
    }
}

#[test]
fn the_reference_ran_the_configuration_tested_here() {
    let r = report();
    let args = &r["args"];
    assert_eq!(args["lr"], 1e-4);
    assert_eq!(args["lr_backbone"], 1e-5);
    assert_eq!(args["weight_decay"], 1e-4);
    assert_eq!(args["clip_max_norm"], 0.1);
    assert_eq!(args["fix_clip"], true);
    assert_eq!(r["dropout_used"], 0.0);
    // The fixture is only useful if the assignment is not trivial.
    assert_eq!(r["assignment_differs_main_vs_aux"], true);
}

#[test]
fn a_non_finite_loss_stops_the_step_naming_it() {
    let io = Fixture::open(FIXTURE);
    let targets = targets(&io);
    let device = first_backend();
    let mut model = common::hoiclip_small_model(&device);
    // A NaN object logit scale makes the object logits, and so the object loss, NaN.
    model.heads.obj_logit_scale = burn::module::Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![f32::NAN], [1]),
        &device,
    ));
    let model = hoiclip::train::training_model(model, FreezePolicy::default());
    let before = read(&model, "query_embed_h.weight", None);
    let mut step = TrainStep {
        criterion: SetCriterion::default(),
        optimizer: HoiOptimizer::new(OptimizerConfig::default()),
    };
    let input = input(&io, &device.clone().autodiff());
    // The matcher sees the NaN costs first and refuses to assign.
    let err = step
        .run(model.clone(), &input, &targets, 0, 7, None)
        .expect_err("a NaN must stop the step")
        .to_string();
    assert!(err.contains("non-finite") || err.contains("NaN"), "{err}");
    // Nothing was updated.
    assert_eq!(read(&model, "query_embed_h.weight", None), before);

    // With finite predictions but a NaN loss term (a NaN focal α, which the matcher does not
    // use), the error names the step and the term, and nothing is updated.
    let model = training_model(&device);
    let mut step = TrainStep {
        criterion: SetCriterion::new(
            Default::default(),
            hoiclip::train::CriterionConfig {
                focal_alpha: f64::NAN,
                ..Default::default()
            },
        ),
        optimizer: HoiOptimizer::new(OptimizerConfig::default()),
    };
    let before = read(&model, "query_embed_h.weight", None);
    let err = step
        .run(model.clone(), &input, &targets, 0, 7, None)
        .expect_err("a NaN loss must stop the step");
    match &err {
        hoiclip::HoiclipError::NonFinite { step, what, value } => {
            assert_eq!(*step, 7);
            assert_eq!(what, "loss term loss_hoi_labels");
            assert!(value.is_nan());
        }
        other => panic!("expected NonFinite, got {other}"),
    }
    assert!(err.to_string().contains("step 7"), "{err}");
    assert_eq!(read(&model, "query_embed_h.weight", None), before);
}

#[test]
fn training_dropout_is_random_per_seed_and_absent_in_inference() {
    let io = Fixture::open(FIXTURE);
    let device = first_backend();
    let adevice = device.clone().autodiff();
    let plain = training_model(&device);
    let model = hoiclip::train::set_dropout(plain.clone(), 0.1).expect("dropout");
    let input = input(&io, &adevice);
    let logits = |m: &HoiclipModel| {
        let levels = m.forward_levels(&input).expect("forward");
        values(levels[1].hoi_logits.clone().detach())
    };
    let without = logits(&plain);
    adevice.seed(1);
    let first = logits(&model);
    adevice.seed(1);
    let again = logits(&model);
    adevice.seed(2);
    let other = logits(&model);
    assert_eq!(first, again, "the same seed draws the same masks");
    assert_ne!(first, other, "another seed draws other masks");
    assert!(
        common::max_abs_diff(&first, &without) > 1e-3,
        "dropout changes the outputs"
    );
    // Out of training (plain device) the rate is ignored: the outputs are the reference's.
    let inference = model.valid();
    let input = self::input(&io, &device);
    let levels = inference.forward_levels(&input).expect("forward");
    common::assert_close(
        "inference after set_dropout",
        levels[1].hoi_logits.clone(),
        &io.f32("main_pred_hoi_logits"),
        1e-4,
    );
}

/// A CPU backend for the checks that do not depend on the backend: the first CPU one of
/// `HOICLIP_TEST_BACKENDS` (flex by default), else the first compiled one (a wgpu-only run
/// still checks them on the CPU).
fn first_backend() -> Device {
    let listed = backends()
        .into_iter()
        .find(|(choice, _)| *choice != BackendChoice::Wgpu)
        .map(|(_, device)| device);
    listed.unwrap_or_else(|| {
        let cpu = BackendChoice::compiled()
            .into_iter()
            .find(|choice| *choice != BackendChoice::Wgpu)
            .expect("a CPU backend compiled in");
        cpu.device().expect("compiled CPU backend")
    })
}
