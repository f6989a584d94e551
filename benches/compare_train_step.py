#!/usr/bin/env python3
"""Side-by-side training step at full size: the crate (`examples/bench_train_step.rs`) against
the authors' training step in PyTorch, on the same CPU, the same thread count, the same
weights, the same preprocessed batch and the same targets.

One command (from the repository root; needs what tests/fixtures/gen_train_step_fixtures.py
needs, including the HOICLIP reference repository):

    python3 benches/compare_train_step.py --threads 2

What it does:

1. The full-size random HOICLIP in the released checkpoint layout (ResNet-50, 6 + 3 DETR
   layers, 64 pair queries, CLIP ViT-B/32, 3 fusion layers, 600 classes), built by
   gen_hoiclip_fixtures.py's mirror (`build_model(FULL)`) and written once to
   `--work/hoiclip_full_train.pth`.
2. A batch of two images (480x640 and 640x480 synthetic photos, the reference's test
   transform: 800x1066 and 1066x800, padded to 1066x1066) with the training fixture's
   targets (five pairs, one object-less), written to `--work/train_inputs.safetensors`.
3. PyTorch, in its own process: the checkpoint loaded into the mirror, `--fix_clip` freezing
   as main.py, dropout 0 (so the first step is comparable; the authors train with 0.1), the
   authors' own `SetCriterionHOI` / `HungarianMatcherHOI` / aux pairing (imported from a scratch
   copy of their repository by gen_train_step_fixtures.py), `train_one_epoch`'s loss sum,
   `clip_grad_norm_(0.1)` and AdamW with the backbone group. `--warmup` untimed steps, then
   `--steps` timed ones.
4. Rust, in its own process: `cargo run [--release] --features train --example
   bench_train_step` on the same files (`--rust-bin` to give a built binary; CARGO_TARGET_DIR
   defaults to the tests' /var/tmp/hoiclip-target).
5. Peak resident memory of the steps on each side: the high-water mark is reset
   (`/proc/self/clear_refs`) after loading, so it counts the training steps, not the load.

Prints a Markdown table (first-step loss terms side by side, time per step, peak memory) and
writes everything to `--json`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(FIXTURES))


def vm_field(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    return None


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def prepare(work, repo):
    import numpy as np
    import torch
    from safetensors.torch import save_file
    import gen_hoiclip_fixtures as hf
    import gen_train_step_fixtures as tf
    import gen_detection_fixtures as detfx

    ckpt = work / "hoiclip_full_train.pth"
    inputs = work / "train_inputs.safetensors"
    if ckpt.exists() and inputs.exists():
        return ckpt, inputs
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model, facts = hf.build_model(hf.FULL, hf.Path(repo))
    args = hf.make_args(facts, hf.FULL)
    opt, sched = hf.make_training_state(model, args, epoch=0)
    hf.write_checkpoint(str(ckpt), model, args, opt, sched, epoch=0)
    rng = np.random.default_rng(20261207)
    raws = [hf.smooth_image(rng, 480, 640), hf.smooth_image(rng, 640, 480)]
    preps = [hf.preprocess(r, hf.FULL) for r in raws]
    images, mask, clip_images, _ = hf.batch(preps)
    targets = tf.make_targets(tf.SEED0, facts, clip_images)
    io = {"detr_images": images.contiguous(), "padding_mask": mask.to(torch.uint8).contiguous(),
          "clip_images": clip_images.contiguous()}
    for i, t in enumerate(targets):
        for k in ("sub_boxes", "obj_boxes", "obj_labels", "hoi_labels"):
            io[f"target_{i}_{k}"] = t[k].contiguous()
    save_file(detfx.sorted_dict(io), str(inputs), metadata={"format": "pt"})
    return ckpt, inputs


def torch_worker(ckpt, inputs, repo, threads, warmup, steps, out):
    """Runs in its own process: the authors' training step, timed."""
    import copy
    import torch
    from safetensors.torch import load_file
    import gen_hoiclip_fixtures as hf
    import gen_train_step_fixtures as tf

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model, facts = hf.build_model(hf.FULL, hf.Path(repo))
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    model.load_state_dict({k: v.float() for k, v in ck["model"].items()}, strict=True)
    hf.set_hoi_text_embeddings(model, facts["prompts"])
    tf.freeze_like_main_py_(model)
    tf.set_train_mode_(model)
    args = copy.copy(ck["args"])
    load_s = time.perf_counter() - t0
    io = load_file(inputs)
    images, mask, clip_images = io["detr_images"], io["padding_mask"].bool(), io["clip_images"]
    targets = []
    for i in range(images.shape[0]):
        t = {k: io[f"target_{i}_{k}"] for k in ("sub_boxes", "obj_boxes", "obj_labels", "hoi_labels")}
        t["verb_labels"] = torch.zeros(t["hoi_labels"].shape[0], hf.NUM_VERBS)
        t["clip_inputs"] = clip_images[i]
        targets.append(t)
    with tempfile.TemporaryDirectory(prefix="hoiclip_train_bench_", dir="/tmp") as scratch:
        ref = tf.import_reference(hf.Path(repo), scratch)
        criterion = tf.build_criterion(ref, args)
        criterion.train()
        params = dict(model.named_parameters())
        names = tf.param_groups(model)
        opt = torch.optim.AdamW([{"params": [params[n] for n in names[0]]},
                                 {"params": [params[n] for n in names[1]], "lr": args.lr_backbone}],
                                lr=args.lr, weight_decay=args.weight_decay)
        rss_after_load = vm_field("VmRSS")
        peak_reset = reset_peak()
        times, cpu, first, losses = [], [], None, []
        for i in range(warmup + steps):
            t0, c0 = time.perf_counter(), time.process_time()
            o = tf.train_forward(model, images, mask, clip_images, ref.ext._set_aux_loss_triplet, args.dec_layers)
            loss_dict = criterion(o, targets)
            total = tf.losses_total(ref, loss_dict, criterion.weight_dict)
            total.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_max_norm)
            opt.step()
            opt.zero_grad()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            print(f"torch step {i}: {dt:.2f} s, loss {total.item():.4f}", file=sys.stderr, flush=True)
            losses.append(total.item())
            if i == 0:
                first = dict(loss=total.item(), grad_norm=norm.item(),
                             terms={k: float(v.detach()) for k, v in loss_dict.items() if k.startswith("loss_")})
            if i >= warmup:
                times.append(dt)
                cpu.append(dc)
    res = dict(torch=torch.__version__, threads=torch.get_num_threads(), load_s=load_s,
               rss_after_load_mb=rss_after_load, peak_reset=peak_reset, step_s=times,
               step_median_s=statistics.median(times), step_cpu_s=cpu, peak_rss_mb=vm_field("VmHWM"),
               first_step=first, losses=losses)
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


def run_rust(args, ckpt, inputs):
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    # The shared target directory of the tests and CI (the README test build: flex + train).
    env.setdefault("CARGO_TARGET_DIR", "/var/tmp/hoiclip-target")
    if args.rust_bin:
        cmd = [args.rust_bin]
    else:
        cmd = ["cargo", "run", "-q", "--features", "train", "--example", "bench_train_step"]
        if args.release:
            cmd.insert(2, "--release")
        cmd.append("--")
    cmd += ["--checkpoint", str(ckpt), "--inputs", str(inputs), "--threads", str(args.threads),
            "--warmup", str(args.warmup), "--steps", str(args.steps), "--device", "flex"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--work", default="/var/tmp/hoiclip-train-bench")
    ap.add_argument("--hoiclip-repo", default="/work/.mirror/Artanic30+HOICLIP/repo")
    ap.add_argument("--rust-bin", help="a built bench_train_step binary (default: cargo run)")
    ap.add_argument("--release", action="store_true", help="cargo run --release (default: the dev profile)")
    ap.add_argument("--json", help="write everything here")
    ap.add_argument("--reuse-torch", action="store_true",
                    help="reuse the PyTorch result of an earlier run (--work/torch_train_step.json)")
    ap.add_argument("--torch-worker", nargs=2, metavar=("INPUTS", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--checkpoint", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_worker:
        torch_worker(a.checkpoint, a.torch_worker[0], a.hoiclip_repo, a.threads, a.warmup, a.steps,
                     a.torch_worker[1])
        return
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    ckpt, inputs = prepare(work, a.hoiclip_repo)
    out = work / "torch_train_step.json"
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    if not (a.reuse_torch and out.exists()):
        subprocess.run([sys.executable, __file__, "--torch-worker", str(inputs), str(out), "--checkpoint",
                        str(ckpt), "--threads", str(a.threads), "--warmup", str(a.warmup), "--steps",
                        str(a.steps), "--hoiclip-repo", a.hoiclip_repo], check=True, env=env)
    pt = json.loads(out.read_text())
    rs = run_rust(a, ckpt, inputs)
    terms = sorted(pt["first_step"]["terms"])
    rows = ["| term | PyTorch | Rust | rel. diff |", "|---|---|---|---|"]
    worst = 0.0
    for k in terms:
        p, r = pt["first_step"]["terms"][k], rs["first_step"]["terms"].get(k, float("nan"))
        d = abs(p - r) / max(abs(p), 1e-12)
        worst = max(worst, d)
        rows.append(f"| {k} | {p:.6g} | {r:.6g} | {d:.1e} |")
    for k in ("loss", "grad_norm"):
        p, r = pt["first_step"][k], rs["first_step"][k]
        rows.append(f"| {k} | {p:.6g} | {r:.6g} | {abs(p - r) / max(abs(p), 1e-12):.1e} |")
    for i, (p, r) in enumerate(zip(pt["losses"], rs["losses"])):
        rows.append(f"| total loss at step {i + 1} | {p:.6g} | {r:.6g} | {abs(p - r) / max(abs(p), 1e-12):.1e} |")
    print("\n".join(rows))
    print()
    print("| measure | PyTorch | Rust | Rust / PyTorch |")
    print("|---|---|---|---|")
    print(f"| training step, median of {a.steps} (s) | {pt['step_median_s']:.2f} | {rs['step_median_s']:.2f} | "
          f"{rs['step_median_s'] / pt['step_median_s']:.2f}x |")
    print(f"| peak RSS during the steps (MB) | {pt['peak_rss_mb']:.0f} | {rs['peak_rss_mb']:.0f} | "
          f"{rs['peak_rss_mb'] / pt['peak_rss_mb']:.2f}x |")
    print(f"\nworst relative loss-term difference: {worst:.1e}; threads {a.threads}; "
          f"Rust profile: {'release' if a.release else (a.rust_bin or 'dev (dependencies at opt-level 3)')}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(torch=pt, rust=rs, args=vars(a)), f, indent=1)


if __name__ == "__main__":
    main()
