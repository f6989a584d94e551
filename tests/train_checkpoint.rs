//! Checkpoints: a resumed run takes the identical next step, and a process killed in the
//! middle of writing a checkpoint keeps the last good one (the kill is real: a child process
//! aborts inside the save, see `HOICLIP_CHECKPOINT_CRASH_AFTER`).
#![cfg(feature = "train")]

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use hoiclip::data::AugmentConfig;
use hoiclip::model::{HoiclipModel, ResizeConfig};
use hoiclip::train::checkpoint::{self, CRASH_ENV};
use hoiclip::train::{
    InMemorySet, StepEvent, StopReason, SyntheticClass, TrainConfig, TrainHooks, Trainer,
    synthetic_set,
};

const RUN_DIR_ENV: &str = "HOICLIP_TEST_CHILD_RUN_DIR";

/// The runs train with the authors' augmentation (small sizes) and dropout (0.1), whose masks come from the backend's
/// random generator, seeded by the trainer before each step. The generator is shared by the
/// process, so the tests of this file train one at a time.
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn data(model: &HoiclipModel) -> InMemorySet {
    let classes: Vec<SyntheticClass> = [3usize, 150]
        .iter()
        .map(|&hoi| SyntheticClass {
            hoi,
            object: model.vocabulary.classes[hoi].object,
        })
        .collect();
    synthetic_set(4, &classes, 64, 48, 11).expect("synthetic set")
}

fn config(max_steps: u64) -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 2,
        resize: ResizeConfig {
            shorter: 48,
            max_size: Some(80),
        },
        checkpoint_every: 1,
        keep_checkpoints: 3,
        max_steps: Some(max_steps),
        // The authors' augmentation at a small scale (their sizes are 480-800): resuming must
        // redraw the same flips, jitters and crops.
        augmentation: Some(AugmentConfig {
            scales: vec![32, 40, 48],
            max_size: Some(80),
            crop_scales: vec![40, 48],
            crop_min: 24,
            crop_max: 40,
            ..AugmentConfig::authors()
        }),
        ..TrainConfig::hico_default()
    }
}

#[derive(Default)]
struct Losses(Vec<(u64, f64)>);
impl TrainHooks for Losses {
    fn on_step(&mut self, event: &StepEvent) {
        self.0.push((event.global_step, event.outcome.loss));
    }
}

fn device() -> burn::tensor::Device {
    hoiclip::BackendChoice::Flex.device().expect("flex")
}

/// Parameters that every part of the step touches, as host values.
fn probe(trainer: &Trainer) -> Vec<Vec<f32>> {
    let m = trainer.inference_model();
    let v = |t: burn::tensor::Tensor<2>| common::values(t);
    vec![
        v(m.detection.query_embed_h.val()),
        v(m.heads.verb_projection.weight.val()),
        v(m.interaction.obj_class_fc.weight.val()),
        common::values(m.heads.logit_scale.val()),
    ]
}

fn run(dir: &Path, max_steps: u64, resume: bool) -> (Trainer, Vec<(u64, f64)>) {
    let device = device();
    let model = common::hoiclip_small_model(&device);
    let set = data(&model);
    let mut trainer = if resume {
        let mut t = Trainer::resume(dir, &device).expect("resume");
        t.config.max_steps = Some(max_steps);
        t
    } else {
        Trainer::new(model, config(max_steps), dir).expect("trainer")
    };
    let mut losses = Losses::default();
    let reason = trainer
        .run(&set, &mut losses, &AtomicBool::new(false))
        .expect("run");
    assert_eq!(reason, StopReason::StepLimit);
    (trainer, losses.0)
}

#[test]
fn a_resumed_run_takes_the_identical_next_steps() {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        config(1).dropout > 0.0,
        "the runs use dropout: resuming must redraw its masks"
    );
    let straight = tempfile::tempdir().unwrap();
    let (reference, ref_losses) = run(straight.path(), 4, false);
    assert_eq!(ref_losses.len(), 4);

    let split = tempfile::tempdir().unwrap();
    let (_, first) = run(split.path(), 2, false);
    assert_eq!(first, ref_losses[..2]);
    let (resumed, second) = run(split.path(), 4, true);
    // Steps 3 and 4 cross an epoch boundary (2 batches per epoch): the sampler, the
    // optimiser moments, the step counter and the dropout masks all resumed.
    assert_eq!(second, ref_losses[2..], "losses after resuming");
    assert_eq!(
        probe(&resumed),
        probe(&reference),
        "parameters after resuming"
    );
    assert_eq!(resumed.state().global_step, 4);
}

/// Runs only as the child of `a_kill_mid_save_keeps_the_last_good_checkpoint`.
#[test]
#[ignore = "spawned by a_kill_mid_save_keeps_the_last_good_checkpoint"]
fn child_training_run() {
    let Ok(dir) = std::env::var(RUN_DIR_ENV) else {
        return;
    };
    run(Path::new(&dir), 3, false);
}

#[test]
fn a_kill_mid_save_keeps_the_last_good_checkpoint() {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let straight = tempfile::tempdir().unwrap();
    let (reference, ref_losses) = run(straight.path(), 3, false);

    for stage in ["model", "optimizer", "state", "rename"] {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_training_run",
                "--ignored",
                "--test-threads",
                "1",
            ])
            .env(RUN_DIR_ENV, dir.path())
            .env(CRASH_ENV, format!("{stage}@2"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("child starts");
        assert!(
            !status.success(),
            "the child was to abort while saving step 2 ({stage})"
        );
        let latest = checkpoint::latest(dir.path())
            .unwrap()
            .expect("a checkpoint survives");
        // Even when killed after step 2's directory was complete ("rename"), LATEST still
        // names step 1 until it is replaced.
        let expected = checkpoint::checkpoint_name(1);
        assert_eq!(
            latest.file_name().unwrap().to_str().unwrap(),
            expected,
            "{stage}"
        );

        let (resumed, losses) = run(dir.path(), 3, true);
        assert_eq!(losses, ref_losses[1..], "{stage}: losses after the crash");
        assert_eq!(probe(&resumed), probe(&reference), "{stage}: parameters");
        // The next save cleaned up what the killed one left.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "{stage}: partial checkpoints left");
    }
}

/// Raises the stop flag (what the Ctrl-C handler does) after `after` steps.
struct StopAfter<'a> {
    after: u64,
    flag: &'a AtomicBool,
    losses: Vec<(u64, f64)>,
}

impl TrainHooks for StopAfter<'_> {
    fn on_step(&mut self, event: &StepEvent) {
        self.losses.push((event.global_step, event.outcome.loss));
        if event.global_step >= self.after {
            self.flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[test]
fn a_stop_request_saves_and_the_run_resumes_where_it_stopped() {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let straight = tempfile::tempdir().unwrap();
    let (reference, ref_losses) = run(straight.path(), 4, false);

    let dir = tempfile::tempdir().unwrap();
    let device = device();
    let model = common::hoiclip_small_model(&device);
    let set = data(&model);
    let mut trainer = Trainer::new(model, config(4), dir.path()).expect("trainer");
    let flag = AtomicBool::new(false);
    let mut hooks = StopAfter {
        after: 3,
        flag: &flag,
        losses: Vec::new(),
    };
    let reason = trainer.run(&set, &mut hooks, &flag).expect("run");
    assert_eq!(reason, StopReason::Interrupted);
    assert_eq!(hooks.losses, ref_losses[..3]);
    // The stop saved the position after step 3.
    let latest = checkpoint::latest(dir.path())
        .unwrap()
        .expect("a checkpoint");
    assert_eq!(
        latest.file_name().unwrap().to_str().unwrap(),
        checkpoint::checkpoint_name(3)
    );
    let (resumed, rest) = run(dir.path(), 4, true);
    assert_eq!(rest, ref_losses[3..], "losses after the stop");
    assert_eq!(probe(&resumed), probe(&reference), "parameters");
}

const INTERRUPT_DIR_ENV: &str = "HOICLIP_TEST_INTERRUPT_RUN_DIR";

/// Prints `step N` after every step (for the parent to know training is under way).
struct Announce;
impl TrainHooks for Announce {
    fn on_step(&mut self, event: &StepEvent) {
        println!("step {}", event.global_step);
    }
}

/// Runs only as the child of `ctrl_c_stops_cleanly_and_saves`: trains (far longer than the
/// test waits) with the Ctrl-C flag, and exits 0 only if the run returned `Interrupted`.
#[test]
#[ignore = "spawned by ctrl_c_stops_cleanly_and_saves"]
fn child_training_run_until_interrupted() {
    let Ok(dir) = std::env::var(INTERRUPT_DIR_ENV) else {
        return;
    };
    let device = device();
    let model = common::hoiclip_small_model(&device);
    let set = data(&model);
    let mut config = config(100_000);
    config.epochs = 100_000;
    let mut trainer = Trainer::new(model, config, Path::new(&dir)).expect("trainer");
    let flag = hoiclip::train::ctrl_c_flag().expect("handler");
    let reason = trainer.run(&set, &mut Announce, &flag).expect("run");
    assert_eq!(reason, StopReason::Interrupted);
}

#[test]
fn ctrl_c_stops_cleanly_and_saves() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_training_run_until_interrupted",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env(INTERRUPT_DIR_ENV, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("stdout");
    // Wait for the second step, then send SIGINT (what Ctrl-C sends).
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut seen = 0;
    for line in lines.by_ref() {
        if line.expect("line").starts_with("step ") {
            seen += 1;
            if seen == 2 {
                break;
            }
        }
    }
    assert_eq!(seen, 2, "the child trained");
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    for _ in lines {} // keep reading until the child exits (it prints after the signal too)
    let status = child.wait().expect("child exits");
    assert!(
        status.success(),
        "the child stopped cleanly (Interrupted) after SIGINT"
    );
    // It saved the step it had reached: the second or a later one (the step under way when
    // the signal came is finished first).
    let latest = checkpoint::latest(dir.path())
        .unwrap()
        .expect("a checkpoint");
    let name = latest.file_name().unwrap().to_str().unwrap().to_string();
    let reached = (2..50)
        .find(|&n| checkpoint::checkpoint_name(n) == name)
        .expect("a checkpoint at step 2 or later");
    let resumed = Trainer::resume(dir.path(), &device()).expect("resumes");
    assert_eq!(resumed.state().global_step, reached);
}
