//! A trainable model from a two-branch DETR checkpoint, CLIP weights and verb
//! representations (`hoiclip::train::init`), checked against the whole-model fixture: the
//! DETR file is made of the fixture's detection tensors (plus tensors HOICLIP does not use),
//! the CLIP file of its `clip_model.` tensors, the verb tensor is its `verb_projection.weight`.
#![cfg(feature = "train")]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use hoiclip::HoiclipError;
use hoiclip::model::{Checkpoint, HoiclipConfig, HoiclipModel, ZeroShotType};
use hoiclip::train::init::{
    InitOptions, InitReport, InitRule, InitSources, VerbSource, init_for_training, object_prompts,
    read_verb_file,
};

type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

fn device() -> Device {
    hoiclip::BackendChoice::Flex.device().expect("flex")
}

/// Every float parameter of a module by path: shape and values.
#[derive(Default)]
struct Collect {
    stack: Vec<String>,
    out: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        self.out
            .insert(self.stack.join("."), (t.dims().to_vec(), common::values(t)));
    }
}

fn params<M: Module>(module: &M) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut c = Collect::default();
    module.visit(&mut c);
    c.out
}

fn host<const D: usize>(param: &Param<Tensor<D>>) -> Vec<f32> {
    common::values(param.val())
}

/// `[rows, cols]` row-major → `[cols, rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

fn write_safetensors(path: &Path, tensors: &Tensors) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            (
                name.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                    .expect("tensor view"),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).expect("write safetensors");
}

/// A tensor of a fixture checkpoint.
fn tensor(checkpoint: &Checkpoint, name: &str) -> (String, Vec<usize>, Vec<f32>) {
    let w = &checkpoint.weights;
    (
        name.to_string(),
        w.shape(name).expect("tensor in the fixture").to_vec(),
        w.read_f32(name).expect("readable"),
    )
}

/// What `tools/convert_parameters.py` would give for the fixture's detector: the detection
/// tensors, GEN-VLKT's interaction decoder (a copy of the instance decoder) and the DETR
/// tensors HOICLIP does not have (`query_embed`, `obj_class_embed`, `class_embed`,
/// `bbox_embed`), under `model.` as in a `torch.save` checkpoint.
fn detr_tensors(checkpoint: &Checkpoint) -> Tensors {
    const DETECTION: [&str; 6] = [
        "backbone.0.body.",
        "input_proj.",
        "transformer.encoder.",
        "transformer.instance_decoder.",
        "hum_bbox_embed.",
        "obj_bbox_embed.",
    ];
    let w = &checkpoint.weights;
    let mut out: Tensors = w
        .names()
        .filter(|n| DETECTION.iter().any(|p| n.starts_with(p)))
        .map(|n| tensor(checkpoint, n))
        .collect();
    for (name, shape, values) in out.clone() {
        if let Some(rest) = name.strip_prefix("transformer.instance_decoder.") {
            out.push((
                format!("transformer.interaction_decoder.{rest}"),
                shape.clone(),
                values.clone(),
            ));
        }
        if let Some(rest) = name.strip_prefix("hum_bbox_embed.") {
            out.push((format!("bbox_embed.{rest}"), shape, values));
        }
    }
    let d = w.shape("input_proj.weight").expect("input_proj")[0];
    let q = w.shape("query_embed_h.weight").expect("queries")[0];
    let fill = |n: usize, k: f32| (0..n).map(|i| (i as f32 * k).sin()).collect::<Vec<f32>>();
    out.push(("query_embed.weight".into(), vec![q, d], fill(q * d, 0.3)));
    out.push((
        "obj_class_embed.weight".into(),
        vec![81, d],
        fill(81 * d, 0.7),
    ));
    out.push(("obj_class_embed.bias".into(), vec![81], fill(81, 0.9)));
    out.push(("class_embed.weight".into(), vec![92, d], fill(92 * d, 1.1)));
    out.push(("class_embed.bias".into(), vec![92], fill(92, 1.3)));
    out.into_iter()
        .map(|(n, s, v)| (format!("model.{n}"), s, v))
        .collect()
}

/// The fixture's `clip_model.` tensors as an OpenAI-layout CLIP file.
fn clip_tensors(checkpoint: &Checkpoint) -> Tensors {
    checkpoint
        .weights
        .names()
        .filter_map(|n| {
            n.strip_prefix("clip_model.").map(|rest| {
                let (_, shape, values) = tensor(checkpoint, n);
                (rest.to_string(), shape, values)
            })
        })
        .collect()
}

/// The DETR and CLIP files of a fixture checkpoint, written into a temporary directory.
struct Files {
    dir: tempfile::TempDir,
    detr: PathBuf,
    clip: PathBuf,
    verbs: (Vec<usize>, Vec<f32>),
}

impl Files {
    fn new(checkpoint: &Checkpoint) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let detr = dir.path().join("detr_two_branch.safetensors");
        let clip = dir.path().join("clip.safetensors");
        write_safetensors(&detr, &detr_tensors(checkpoint));
        write_safetensors(&clip, &clip_tensors(checkpoint));
        let (_, shape, values) = tensor(checkpoint, "verb_projection.weight");
        Files {
            dir,
            detr,
            clip,
            verbs: (shape, values),
        }
    }

    fn verb_source(&self) -> VerbSource {
        VerbSource::Values {
            shape: [self.verbs.0[0], self.verbs.0[1]],
            values: self.verbs.1.clone(),
        }
    }

    fn sources(&self) -> InitSources {
        InitSources::from_files(&self.detr, &self.clip, self.verb_source()).expect("files open")
    }

    /// A DETR file made of `tensors`.
    fn detr_variant(&self, name: &str, tensors: &Tensors) -> InitSources {
        let path = self.dir.path().join(name);
        write_safetensors(&path, tensors);
        InitSources::from_files(&path, &self.clip, self.verb_source()).expect("files open")
    }
}

fn init(
    config: &HoiclipConfig,
    sources: &InitSources,
    seed: u64,
) -> hoiclip::Result<(HoiclipModel, InitReport)> {
    let options = InitOptions {
        seed,
        ..InitOptions::default()
    };
    init_for_training(config, sources, &options, &device())
}

/// All values within ±`bound`, and (for enough of them) filling the range as a uniform does.
fn assert_uniform(what: &str, values: &[f32], bound: f64) {
    let bound = bound as f32;
    let max = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        max <= bound * (1.0 + 1e-6),
        "{what}: |value| {max} beyond the bound {bound}"
    );
    if values.len() >= 64 {
        assert!(
            max >= 0.8 * bound,
            "{what}: max |value| {max} of bound {bound}"
        );
    }
    if values.len() >= 1000 {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let expected = f64::from(bound).powi(2) / 3.0;
        assert!(
            (var / expected - 1.0).abs() < 0.1 && mean.abs() < 0.05 * f64::from(bound),
            "{what}: mean {mean}, variance {var}, expected {expected}"
        );
    }
}

fn assert_all(what: &str, values: &[f32], expected: f32) {
    assert!(
        values.iter().all(|&v| v == expected),
        "{what}: not all {expected}"
    );
}

#[test]
fn loads_the_detector_clip_and_verbs_and_builds_the_classifiers_from_clip_text() {
    let device = device();
    let checkpoint = common::hoiclip_small_checkpoint();
    let config = common::hoiclip_small_config(&checkpoint);
    let reference = common::hoiclip_small_model(&device);
    let files = Files::new(&checkpoint);
    let (model, report) = init(&config, &files.sources(), 42).expect("initialised");
    println!("{report}");

    // The detection branch is the checkpoint's, bit for bit.
    let (m, r) = (&model.detection, &reference.detection);
    assert_eq!(params(&m.backbone), params(&r.backbone), "backbone");
    assert_eq!(params(&m.input_proj), params(&r.input_proj), "input_proj");
    assert_eq!(params(&m.encoder), params(&r.encoder), "encoder");
    assert_eq!(
        params(&m.instance_decoder),
        params(&r.instance_decoder),
        "instance decoder"
    );
    assert_eq!(
        params(&m.hum_bbox_embed),
        params(&r.hum_bbox_embed),
        "hum_bbox_embed"
    );
    assert_eq!(
        params(&m.obj_bbox_embed),
        params(&r.obj_bbox_embed),
        "obj_bbox_embed"
    );
    // CLIP is the CLIP file's; verb_projection the verb tensor.
    assert_eq!(params(&model.clip), params(&reference.clip), "CLIP");
    assert_eq!(
        host(&model.heads.verb_projection.weight),
        host(&reference.heads.verb_projection.weight),
        "verb_projection"
    );

    // Classifiers: normalised CLIP text embeddings (stored [embed, classes] in Burn).
    let e = config.heads.clip_embed_dim;
    let hoi_text = common::values(
        reference
            .encode_text(&reference.vocabulary.prompts())
            .expect("text"),
    );
    let classes = reference.vocabulary.classes.len();
    let tol = 1e-6;
    common::assert_close(
        "visual_projection.weight",
        model.heads.visual_projection.weight.val(),
        &transpose(&hoi_text, classes, e),
        tol,
    );
    let objects = object_prompts(config.dataset);
    let refs: Vec<&str> = objects.iter().map(String::as_str).collect();
    let object_text = common::values(reference.encode_text(&refs).expect("text"));
    common::assert_close(
        "obj_visual_projection.weight",
        model.heads.obj_visual_projection.weight.val(),
        &transpose(&object_text, objects.len(), e),
        tol,
    );
    common::assert_close(
        "hoi_text_embeddings",
        model.hoi_text_embeddings.val(),
        &host(&reference.hoi_text_embeddings),
        tol,
    );
    // The rows are unit vectors.
    let norms = common::values(
        model
            .heads
            .visual_projection
            .weight
            .val()
            .square()
            .sum_dim(0)
            .sqrt(),
    );
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "unit rows");
    // The verb → HOI map is the authors' (the fixture's was built by their code).
    assert_eq!(
        host(&model.heads.verb2hoi),
        host(&reference.heads.verb2hoi),
        "verb2hoi_proj"
    );
    assert!(model.heads.eval_visual_projection.is_none());
    let scale = (1.0f64 / 0.07).ln() as f32;
    assert_eq!(host(&model.heads.logit_scale), vec![scale]);
    assert_eq!(host(&model.heads.obj_logit_scale), vec![scale]);
    assert_eq!(model.config, config);
    assert_eq!(model.vocabulary, reference.vocabulary);
    assert_eq!(model.heads.verb_weight, reference.heads.verb_weight);

    // And the model runs; with the reference's query embeddings (HOICLIP's own, not in a
    // DETR checkpoint) its detection outputs are the reference's.
    let [batch, queries] = [2usize, config.detection.num_queries];
    let images = hoiclip::detection::batch::pad_batch(
        &[
            hoiclip::detection::batch::PreparedImage {
                values: (0..3 * 40 * 56)
                    .map(|i| ((i % 17) as f32 - 8.0) / 8.0)
                    .collect(),
                height: 40,
                width: 56,
            },
            hoiclip::detection::batch::PreparedImage {
                values: (0..3 * 48 * 32)
                    .map(|i| ((i % 13) as f32 - 6.0) / 6.0)
                    .collect(),
                height: 48,
                width: 32,
            },
        ],
        &device,
    )
    .expect("batch");
    let n_px = config.clip.vision.image_resolution;
    let input = hoiclip::model::HoiclipInput {
        batch: images,
        clip_images: Tensor::from_data(
            TensorData::new(
                (0..batch * 3 * n_px * n_px)
                    .map(|i| ((i % 7) as f32 - 3.0) / 3.0)
                    .collect::<Vec<f32>>(),
                [batch, 3, n_px, n_px],
            ),
            &device,
        ),
        original_sizes: vec![(56, 40), (32, 48)],
    };
    let out = model.forward(&input).expect("forward");
    assert_eq!(out.hoi_logits.dims(), [batch, queries, classes]);
    let scores = common::values(out.hoi_logits);
    assert!(scores.iter().all(|v| v.is_finite()));
    let mut model = model;
    model.detection.query_embed_h = reference.detection.query_embed_h.clone();
    model.detection.query_embed_o = reference.detection.query_embed_o.clone();
    model.detection.pos_guided_embedd = reference.detection.pos_guided_embedd.clone();
    let out = model.forward(&input).expect("forward");
    let expected = reference.forward(&input).expect("forward");
    assert_eq!(
        common::values(out.human_boxes),
        common::values(expected.human_boxes)
    );
    assert_eq!(
        common::values(out.object_boxes),
        common::values(expected.object_boxes)
    );
}

#[test]
fn what_the_checkpoint_lacks_starts_as_the_authors_initialise_it() {
    let checkpoint = common::hoiclip_small_checkpoint();
    let config = common::hoiclip_small_config(&checkpoint);
    let files = Files::new(&checkpoint);
    let (model, report) = init(&config, &files.sources(), 7).expect("initialised");
    let d = config.detection.hidden_dim;
    let c = config.interaction.clip_dim;
    let ffn = config.interaction.dim_feedforward;
    let e = config.heads.clip_embed_dim;
    let xavier = |fan_in: usize, fan_out: usize| (6.0 / (fan_in + fan_out) as f64).sqrt();
    let default = |fan_in: usize| 1.0 / (fan_in as f64).sqrt();

    // nn.Embedding: N(0, 1); pos_guided_embedd: U(0, 1).
    let det = &model.detection;
    let mut normal = host(&det.query_embed_h);
    normal.extend(host(&det.query_embed_o));
    let n = normal.len() as f64;
    let mean = normal.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = normal
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(
        mean.abs() < 0.2 && (var - 1.0).abs() < 0.25,
        "N(0,1): {mean} {var}"
    );
    assert_ne!(host(&det.query_embed_h), host(&det.query_embed_o));
    let guided = host(&det.pos_guided_embedd);
    assert!(guided.iter().all(|v| (0.0..1.0).contains(v)), "U(0,1)");
    let mean = guided.iter().sum::<f32>() / guided.len() as f32;
    assert!((mean - 0.5).abs() < 0.1, "U(0,1) mean {mean}");

    // The GEN transformer: xavier matrices, zero attention biases, default linear biases,
    // LayerNorms at one / zero.
    let inter = &model.interaction;
    assert_uniform(
        "queries2spacial_proj.weight",
        &host(&inter.queries2spacial_proj.weight),
        xavier(d, c),
    );
    let bias = |l: &hoiclip::nn::Linear| host(l.bias.as_ref().expect("bias"));
    assert_uniform(
        "queries2spacial_proj.bias",
        &bias(&inter.queries2spacial_proj),
        default(d),
    );
    assert_uniform(
        "obj_class_fc.weight",
        &host(&inter.obj_class_fc.weight),
        xavier(d, c),
    );
    assert_uniform("obj_class_fc.bias", &bias(&inter.obj_class_fc), default(d));
    for norm in [
        &inter.queries2spacial_proj_norm,
        &inter.obj_class_ln,
        &inter.norm,
    ] {
        assert_all("LayerNorm weight", &host(&norm.gamma), 1.0);
        assert_all(
            "LayerNorm bias",
            &host(norm.beta.as_ref().expect("beta")),
            0.0,
        );
    }
    for (i, layer) in inter.layers.iter().enumerate() {
        let l = &layer.layer;
        for (which, attn) in [
            ("self_attn", &l.self_attn),
            ("multihead_attn", &l.multihead_attn),
        ] {
            // in_proj_weight [3c, c] is one matrix: fan_in c, fan_out 3c.
            let mut in_proj = host(&attn.query.weight);
            in_proj.extend(host(&attn.key.weight));
            in_proj.extend(host(&attn.value.weight));
            assert_uniform(
                &format!("{i}.{which}.in_proj_weight"),
                &in_proj,
                xavier(c, 3 * c),
            );
            assert_uniform(
                &format!("{i}.{which}.out_proj.weight"),
                &host(&attn.out_proj.weight),
                xavier(c, c),
            );
            for p in [&attn.query, &attn.key, &attn.value, &attn.out_proj] {
                assert_all(&format!("{i}.{which} bias"), &bias(p), 0.0);
            }
        }
        assert_uniform(
            &format!("{i}.linear1.weight"),
            &host(&l.linear1.weight),
            xavier(c, ffn),
        );
        assert_uniform(&format!("{i}.linear1.bias"), &bias(&l.linear1), default(c));
        assert_uniform(
            &format!("{i}.linear2.weight"),
            &host(&l.linear2.weight),
            xavier(ffn, c),
        );
        assert_uniform(
            &format!("{i}.linear2.bias"),
            &bias(&l.linear2),
            default(ffn),
        );
        for norm in [&l.norm1, &l.norm2, &l.norm3] {
            assert_all("LayerNorm weight", &host(&norm.gamma), 1.0);
            assert_all(
                "LayerNorm bias",
                &host(norm.beta.as_ref().expect("beta")),
                0.0,
            );
        }
    }

    // HOICLIP's own layers: PyTorch's nn.Linear default for weight and bias.
    let heads = &model.heads;
    for (i, layer) in heads.inter2verb.layers.iter().enumerate() {
        let fan_in = layer.weight.dims()[0];
        assert_uniform(
            &format!("inter2verb.{i}.weight"),
            &host(&layer.weight),
            default(fan_in),
        );
        assert_uniform(
            &format!("inter2verb.{i}.bias"),
            &bias(layer),
            default(fan_in),
        );
    }
    assert_eq!(heads.inter2verb.layers[0].weight.dims(), [e, e / 2]);
    assert_uniform(
        "obj_class_fc.0.weight",
        &host(&heads.obj_class_fc.weight),
        default(d),
    );
    assert_uniform(
        "obj_class_fc.0.bias",
        &bias(&heads.obj_class_fc),
        default(d),
    );
    assert_all(
        "obj_class_fc.1.weight",
        &host(&heads.obj_class_ln.gamma),
        1.0,
    );
    assert_uniform(
        "visual_projection.bias",
        &bias(&heads.visual_projection),
        default(e),
    );
    assert_uniform(
        "obj_visual_projection.bias",
        &bias(&heads.obj_visual_projection),
        default(e),
    );

    // The report names the rule of each.
    let fusion = "transformer.clip_interaction_decoder.layers.0";
    assert_eq!(
        report.rule(&format!("{fusion}.self_attn.in_proj_weight")),
        Some(&InitRule::XavierUniform {
            fan_in: c,
            fan_out: 3 * c
        })
    );
    assert_eq!(
        report.rule(&format!("{fusion}.self_attn.in_proj_bias")),
        Some(&InitRule::Zeros)
    );
    assert_eq!(
        report.rule(&format!("{fusion}.linear1.bias")),
        Some(&InitRule::TorchDefault { fan_in: c })
    );
    assert_eq!(
        report.rule("query_embed_h.weight"),
        Some(&InitRule::StandardNormal)
    );
    assert_eq!(
        report.rule("pos_guided_embedd.weight"),
        Some(&InitRule::UniformUnit)
    );
    assert_eq!(
        report.rule("visual_projection.weight"),
        Some(&InitRule::HoiText)
    );
    assert_eq!(
        report.rule("obj_visual_projection.weight"),
        Some(&InitRule::ObjectText)
    );
    assert_eq!(
        report.rule("verb_projection.weight"),
        Some(&InitRule::VerbRepresentations)
    );
    assert_eq!(report.rule("verb2hoi_proj"), Some(&InitRule::VerbToHoi));
    assert_eq!(
        report.rule("inter2verb.layers.0.weight"),
        Some(&InitRule::TorchDefault { fan_in: e })
    );
    assert_eq!(
        report.rule("logit_scale"),
        Some(&InitRule::Constant((1.0f64 / 0.07).ln()))
    );
    assert_eq!(report.rule("obj_class_fc.1.weight"), Some(&InitRule::Ones));
}

#[test]
fn the_seed_decides_the_random_parts_and_nothing_else() {
    let checkpoint = common::hoiclip_small_checkpoint();
    let config = common::hoiclip_small_config(&checkpoint);
    let files = Files::new(&checkpoint);
    let sources = files.sources();
    let (a, report_a) = init(&config, &sources, 5).expect("seed 5");
    let (b, report_b) = init(&config, &sources, 5).expect("seed 5 again");
    let (c, _) = init(&config, &sources, 6).expect("seed 6");
    assert_eq!(params(&a), params(&b), "same seed, same model");
    assert_eq!(report_a, report_b);
    let (pa, pc) = (params(&a), params(&c));
    let random = [
        "detection.query_embed_h",
        "detection.pos_guided_embedd",
        "interaction.queries2spacial_proj.weight",
        "interaction.layers.0.layer.linear1.weight",
        "heads.inter2verb.layers.0.bias",
        "heads.visual_projection.bias",
    ];
    for name in random {
        assert!(pa.contains_key(name), "{name} is a parameter");
        assert_ne!(
            pa[name], pc[name],
            "{name}: another seed draws other values"
        );
    }
    for (name, value) in &pa {
        if !random.contains(&name.as_str())
            && !name.starts_with("interaction.")
            && !name.starts_with("heads.inter2verb")
            && !name.starts_with("heads.obj_class_fc")
            && !name.starts_with("heads.visual_projection.bias")
            && !name.starts_with("heads.obj_visual_projection.bias")
            && !name.starts_with("detection.query_embed")
        {
            assert_eq!(value, &pc[name], "{name} does not depend on the seed");
        }
    }
}

#[test]
fn the_report_lists_what_was_loaded_initialised_and_ignored() {
    let checkpoint = common::hoiclip_small_checkpoint();
    let config = common::hoiclip_small_config(&checkpoint);
    let files = Files::new(&checkpoint);
    let (_, report) = init(&config, &files.sources(), 1).expect("initialised");
    assert!(report.detr_source.contains("detr_two_branch.safetensors"));
    assert!(
        report.detr_source.contains("model."),
        "{}",
        report.detr_source
    );
    for name in [
        "backbone.0.body.conv1.weight",
        "backbone.0.body.layer4.0.downsample.1.running_var",
        "input_proj.weight",
        "transformer.encoder.layers.0.self_attn.in_proj_weight",
        "transformer.instance_decoder.norm.bias",
        "hum_bbox_embed.layers.2.bias",
        "obj_bbox_embed.layers.0.weight",
    ] {
        assert!(report.is_loaded(name), "{name} loaded");
        assert!(report.rule(name).is_none(), "{name} not initialised");
    }
    for name in [
        "query_embed.weight",
        "obj_class_embed.weight",
        "obj_class_embed.bias",
        "class_embed.weight",
        "bbox_embed.layers.0.weight",
        "transformer.interaction_decoder.layers.0.linear1.weight",
    ] {
        assert!(report.is_ignored(name), "{name} ignored");
        assert!(!report.is_loaded(name), "{name} not loaded");
    }
    for name in [
        "query_embed_h.weight",
        "query_embed_o.weight",
        "pos_guided_embedd.weight",
        "transformer.queries2spacial_proj.weight",
        "transformer.clip_interaction_decoder.norm.weight",
        "visual_projection.bias",
        "obj_class_fc.0.weight",
        "obj_logit_scale",
        "transformer.hoi_cls",
    ] {
        assert!(report.rule(name).is_some(), "{name} initialised");
    }
    // Every tensor of the file is either loaded or ignored, never both.
    let file_tensors = detr_tensors(&checkpoint).len();
    assert_eq!(report.loaded.len() + report.ignored.len(), file_tensors);
    assert!(report.loaded.iter().all(|n| !report.is_ignored(n)));
    assert!(
        report
            .initialised
            .iter()
            .all(|t| !report.is_loaded(&t.name))
    );
    // CLIP: every tensor of the CLIP file.
    assert_eq!(report.clip_loaded.len(), clip_tensors(&checkpoint).len());
    assert!(
        report
            .clip_loaded
            .contains(&"clip_model.visual.conv1.weight".to_string())
    );
    assert_eq!(report.verb_source, "host values");
    let text = report.to_string();
    assert!(text.contains("ignored query_embed.weight"), "{text}");
    assert!(text.contains("init    pos_guided_embedd.weight"), "{text}");
}

#[test]
fn a_checkpoint_that_does_not_fit_is_refused_naming_the_tensor_and_file() {
    let checkpoint = common::hoiclip_small_checkpoint();
    let config = common::hoiclip_small_config(&checkpoint);
    let files = Files::new(&checkpoint);
    let base = detr_tensors(&checkpoint);
    let message = |r: hoiclip::Result<(HoiclipModel, InitReport)>| match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    };

    // A tensor of the wrong shape.
    let key = "transformer.encoder.layers.0.linear1.weight";
    let mut wrong = base.clone();
    for (name, shape, values) in &mut wrong {
        if name == &format!("model.{key}") {
            shape[0] += 1;
            values.extend(vec![0.0; shape[1]]);
        }
    }
    let err = message(init(
        &config,
        &files.detr_variant("wrong.safetensors", &wrong),
        1,
    ));
    assert!(matches!(err, HoiclipError::ShapeMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(key) && text.contains("wrong.safetensors"),
        "{text}"
    );

    // A backbone of the wrong shape.
    let key = "backbone.0.body.layer1.0.conv1.weight";
    let mut wrong = base.clone();
    for (name, shape, values) in &mut wrong {
        if name == &format!("model.{key}") {
            shape[0] *= 2;
            *values = values.repeat(2);
        }
    }
    let err = message(init(
        &config,
        &files.detr_variant("backbone.safetensors", &wrong),
        1,
    ));
    let text = err.to_string();
    assert!(
        text.contains(key) && text.contains("backbone.safetensors"),
        "{text}"
    );

    // A missing part of the detection branch: refused by default, initialised on request.
    let gone = "transformer.instance_decoder.layers.1.linear2.weight";
    let partial: Tensors = base
        .iter()
        .filter(|(n, _, _)| n != &format!("model.{gone}"))
        .cloned()
        .collect();
    let sources = files.detr_variant("partial.safetensors", &partial);
    let text = message(init(&config, &sources, 1)).to_string();
    assert!(
        text.contains(gone) && text.contains("partial.safetensors"),
        "{text}"
    );
    assert!(text.contains("require_detection"), "{text}");
    let options = InitOptions {
        require_detection: false,
        ..InitOptions::default()
    };
    let (_, report) = init_for_training(&config, &sources, &options, &device()).expect("lenient");
    let ffn = config.detection.dim_feedforward;
    let d = config.detection.hidden_dim;
    assert_eq!(
        report.rule(gone),
        Some(&InitRule::XavierUniform {
            fan_in: ffn,
            fan_out: d
        })
    );

    // No backbone at all.
    let headless: Tensors = base
        .iter()
        .filter(|(n, _, _)| !n.starts_with("model.backbone."))
        .cloned()
        .collect();
    let text = message(init(
        &config,
        &files.detr_variant("headless.safetensors", &headless),
        1,
    ))
    .to_string();
    assert!(text.contains("backbone.0.body.conv1.weight"), "{text}");

    // More encoder layers than the configuration has.
    let mut deeper = base.clone();
    let last = config.detection.enc_layers - 1;
    for (name, shape, values) in &base {
        if let Some(rest) = name.strip_prefix(&format!("model.transformer.encoder.layers.{last}."))
        {
            deeper.push((
                format!("model.transformer.encoder.layers.{}.{rest}", last + 1),
                shape.clone(),
                values.clone(),
            ));
        }
    }
    let err = message(init(
        &config,
        &files.detr_variant("deeper.safetensors", &deeper),
        1,
    ));
    assert!(
        matches!(err, HoiclipError::UnexpectedTensors { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("transformer.encoder.layers.{}", last + 1)),
        "{err}"
    );

    // A plain DETR that was not converted.
    let plain: Tensors = base
        .iter()
        .filter(|(n, _, _)| !n.contains("interaction_decoder"))
        .map(|(n, s, v)| {
            (
                n.replace("instance_decoder", "decoder"),
                s.clone(),
                v.clone(),
            )
        })
        .collect();
    let err = message(init(
        &config,
        &files.detr_variant("plain.safetensors", &plain),
        1,
    ));
    assert!(matches!(err, HoiclipError::WrongCheckpoint { .. }), "{err}");
    assert!(err.to_string().contains("convert_parameters"), "{err}");

    // Verb representations of the wrong shape.
    let (shape, values) = &files.verbs;
    let sources = InitSources {
        verbs: VerbSource::Values {
            shape: [shape[0] - 1, shape[1]],
            values: values[shape[1]..].to_vec(),
        },
        ..files.sources()
    };
    let err = message(init(&config, &sources, 1));
    assert!(matches!(err, HoiclipError::ShapeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("verb_projection.weight"), "{err}");
}

/// A `torch.save(tensor)` file as PyTorch writes it (zip: `archive/data.pkl`,
/// `archive/data/0`, `archive/version`) for a float storage seen with `size` and `stride`.
fn write_torch_tensor(path: &Path, storage: &[f32], size: [usize; 2], stride: [usize; 2]) {
    let int = |v: usize| {
        let mut b = vec![b'J'];
        b.extend((v as i32).to_le_bytes());
        b
    };
    let mut pickle = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00((X\x07\x00\x00\x00storageq\x01ctorch\nFloatStorage\nq\x02X\x01\x00\x00\x000q\x03X\x03\x00\x00\x00cpuq\x04".to_vec();
    pickle.extend(int(storage.len()));
    pickle.extend(b"tq\x05QK\x00");
    pickle.extend(int(size[0]));
    pickle.extend(int(size[1]));
    pickle.extend(b"\x86q\x06");
    pickle.extend(int(stride[0]));
    pickle.extend(int(stride[1]));
    pickle.extend(b"\x86q\x07\x89ccollections\nOrderedDict\nq\x08)Rq\ttq\nRq\x0b.");
    let file = std::fs::File::create(path).expect("create");
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let bytes: Vec<u8> = storage.iter().flat_map(|v| v.to_le_bytes()).collect();
    for (name, data) in [
        ("archive/data.pkl", pickle.as_slice()),
        ("archive/data/0", bytes.as_slice()),
        ("archive/version", b"3\n".as_slice()),
    ] {
        zip.start_file(name, options).expect("entry");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("finish zip");
}

#[test]
fn verb_representations_are_read_from_the_authors_verb_pth_and_other_files() {
    let checkpoint = common::hoiclip_small_checkpoint();
    let config = common::hoiclip_small_config(&checkpoint);
    let files = Files::new(&checkpoint);
    let (shape, values) = files.verbs.clone();
    let (rows, cols) = (shape[0], shape[1]);

    // torch.save(tensor), contiguous.
    let pth = files.dir.path().join("verb.pth");
    write_torch_tensor(&pth, &values, [rows, cols], [cols, 1]);
    assert_eq!(
        read_verb_file(&pth).expect("verb.pth"),
        (shape.clone(), values.clone())
    );
    // torch.save(t.T) of a transposed view: the storage is read through the strides.
    let transposed = files.dir.path().join("verb_t.pth");
    write_torch_tensor(
        &transposed,
        &transpose(&values, rows, cols),
        [rows, cols],
        [1, rows],
    );
    assert_eq!(
        read_verb_file(&transposed).expect("strided"),
        (shape.clone(), values.clone())
    );
    // A dictionary file with `verb_projection.weight` under a prefix.
    let st = files.dir.path().join("verbs.safetensors");
    write_safetensors(
        &st,
        &vec![
            (
                "model.verb_projection.weight".into(),
                shape.clone(),
                values.clone(),
            ),
            ("model.other".into(), vec![2], vec![1.0, 2.0]),
        ],
    );
    assert_eq!(
        read_verb_file(&st).expect("safetensors"),
        (shape.clone(), values.clone())
    );

    // The file source ends in verb_projection.
    let sources = InitSources::from_files(&files.detr, &files.clip, VerbSource::File(pth.clone()))
        .expect("files");
    let (model, report) = init(&config, &sources, 3).expect("initialised");
    assert_eq!(report.verb_source, pth.display().to_string());
    assert_eq!(
        host(&model.heads.verb_projection.weight),
        transpose(&values, rows, cols),
        "verb_projection.weight (stored [embed, verbs])"
    );
    // A tensor argument works the same.
    let t = Tensor::<2>::from_data(TensorData::new(values.clone(), [rows, cols]), &device());
    let sources = InitSources {
        verbs: VerbSource::Tensor(t),
        ..files.sources()
    };
    let (model_t, _) = init(&config, &sources, 3).expect("initialised");
    assert_eq!(params(&model_t), params(&model));
}

#[test]
fn a_zero_shot_split_trains_on_the_seen_classes_and_evaluates_on_all() {
    let device = device();
    let checkpoint = common::hoiclip_small_checkpoint();
    let mut config = common::hoiclip_small_config(&checkpoint);
    config.zero_shot_type = ZeroShotType::RareFirst;
    config.heads.hoi_classes = 480;
    config.heads.eval_hoi_classes = Some(600);
    config.validate().expect("a zero-shot configuration");
    let reference = common::hoiclip_small_model(&device);
    let files = Files::new(&checkpoint);
    let (model, report) = init(&config, &files.sources(), 9).expect("initialised");

    let unseen: Vec<usize> = ZeroShotType::RareFirst
        .unseen_hois()
        .iter()
        .map(|&i| usize::from(i))
        .collect();
    let seen: Vec<usize> = (0..600).filter(|i| !unseen.contains(i)).collect();
    let e = config.heads.clip_embed_dim;
    let text = common::values(
        reference
            .encode_text(&reference.vocabulary.prompts())
            .expect("text"),
    );
    let seen_text: Vec<f32> = seen
        .iter()
        .flat_map(|&r| text[r * e..(r + 1) * e].iter().copied())
        .collect();
    common::assert_close(
        "visual_projection.weight (seen classes)",
        model.heads.visual_projection.weight.val(),
        &transpose(&seen_text, seen.len(), e),
        1e-6,
    );
    let eval = model
        .heads
        .eval_visual_projection
        .as_ref()
        .expect("eval head");
    assert!(eval.bias.is_none());
    common::assert_close(
        "eval_visual_projection.weight",
        eval.weight.val(),
        &transpose(&text, 600, e),
        1e-6,
    );
    // verb2hoi_proj: the full map's seen columns; verb2hoi_proj_eval: the full map.
    let full = host(&reference.heads.verb2hoi);
    let verbs = config.heads.verbs;
    let seen_map: Vec<f32> = (0..verbs)
        .flat_map(|v| seen.iter().map(move |&c| (v, c)))
        .map(|(v, c)| full[v * 600 + c])
        .collect();
    assert_eq!(host(&model.heads.verb2hoi), seen_map);
    assert_eq!(
        host(model.heads.verb2hoi_eval.as_ref().expect("eval map")),
        full
    );
    assert_eq!(
        report.rule("eval_visual_projection.weight"),
        Some(&InitRule::HoiText)
    );
    assert_eq!(model.hoi_text_embeddings.dims(), [600, e]);
}

#[test]
fn vcoco_uses_its_prompts_and_the_authors_verb_to_hoi_map() {
    let device = device();
    let checkpoint = Checkpoint::open(&common::fixture("hoiclip_vcoco_small.pth")).expect("opens");
    let reference = common::hoiclip_vcoco_small_model(&device);
    let config = reference.config.clone();
    let files = Files::new(&checkpoint);
    let (model, _) = init(&config, &files.sources(), 2).expect("initialised");
    assert_eq!(
        params(&model.detection.backbone),
        params(&reference.detection.backbone)
    );
    // The fixture's map was built by the authors' code (column = the class's object).
    assert_eq!(host(&model.heads.verb2hoi), host(&reference.heads.verb2hoi));
    let objects = object_prompts(config.dataset);
    assert_eq!(objects.len(), 82);
    let refs: Vec<&str> = objects.iter().map(String::as_str).collect();
    let e = config.heads.clip_embed_dim;
    let text = common::values(reference.encode_text(&refs).expect("text"));
    common::assert_close(
        "obj_visual_projection.weight",
        model.heads.obj_visual_projection.weight.val(),
        &transpose(&text, 82, e),
        1e-6,
    );
    assert_eq!(model.vocabulary, reference.vocabulary);
}
