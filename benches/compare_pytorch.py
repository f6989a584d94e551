#!/usr/bin/env python3
"""Side-by-side speed harness: HOICLIP in Rust (`examples/bench_forward.rs`) against the
PyTorch mirror of the authors' model (`tests/fixtures/gen_hoiclip_fixtures.py`), on the same
CPU, the same thread count, the same weights and identical preprocessed inputs.

One command (from the repository root):

    python3 benches/compare_pytorch.py --threads 2

What it does:

1. Uses the full-size random-weight checkpoint in the released format
   (`--full-dir`, default /var/tmp/hoiclip-full: `hoiclip_full.pth` and
   `hoiclip_full_io.safetensors`, written by
   `python3 tests/fixtures/gen_hoiclip_fixtures.py --full-size DIR`). Both sides load that
   same `.pth` (PyTorch: `torch.load` + `load_state_dict`; Rust: `HoiclipModel`), so the
   weights are the same. PyTorch's `hoi_cls` comes from the I/O file (the reference computes
   it at construction); Rust computes it at `.pth` load.
2. Writes the preprocessed inputs once (`--work` dir, `inputs.safetensors`): `single` = the
   fixture's 640×480 image as the reference preprocesses it (800×1066); `pair` = two
   synthetic images, 640×480 and 480×640, padded to 1066×1066 as
   `nested_tensor_from_tensor_list` does. Both sides read those tensors: preprocessing is
   not part of the timed forward.
3. Builds the Rust binary (`cargo build --release --example bench_forward`, plus
   `--features <device>` for a backend other than flex,
   `CARGO_TARGET_DIR` respected, default /var/tmp/hoiclip-target-release) unless
   `--rust-bin` is given, and converts the `.pth` once to the native format.
4. Load times, alternating (`--load-runs` each): PyTorch `torch.load` of the `.pth` (and
   `torch.load` + model construction + `load_state_dict`), Rust `.pth` load (includes
   encoding the 600 HOI prompts with CLIP's text encoder), Rust native load (and the first
   forward after it, as the native format reads tensors lazily).
5. Forward passes: one worker process per side, both alive at once, each idle while the
   other runs; after `--warmup` forwards per batch on each side, `--runs` rounds alternate
   A/B (which side goes first alternates too). Every timed forward includes copying the
   outputs to the host.
6. Peak resident memory (`VmHWM`) of each forward worker (the PyTorch worker loaded the
   `.pth`, the Rust worker the native file) and of each side's `.pth` load process.

Prints a Markdown table (and `--json FILE` writes everything). Thread count: PyTorch
`torch.set_num_threads(n)` (+ OMP/MKL env), Rust `RAYON_NUM_THREADS=n` (flex's and gemm's
pool).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def vm_field(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    return None


def thread_env(threads):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[k] = str(threads)
    return env


# ----------------------------------------------------------------------------
# PyTorch worker (a separate process, so that its peak memory is its own)
# ----------------------------------------------------------------------------
def torch_worker(a):
    import torch

    torch.set_num_threads(a.threads)
    sys.path.insert(0, str(FIXTURES))
    import gen_hoiclip_fixtures as hf
    from safetensors.torch import load_file

    pth = Path(a.full_dir) / "hoiclip_full.pth"
    t0 = time.perf_counter()
    ck = torch.load(pth, map_location="cpu", weights_only=False)
    t_load = time.perf_counter() - t0
    model = hf.HOICLIP(hf.FULL)
    model.load_state_dict({k: v.float() for k, v in ck["model"].items()}, strict=True)
    del ck
    io = load_file(str(Path(a.full_dir) / "hoiclip_full_io.safetensors"))
    model.transformer.hoi_cls = io["hoi_text_embeddings"].float()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    t_model = time.perf_counter() - t0
    info = {"ready": True, "torch_load_s": t_load, "load_s": t_model, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "rss_after_load_mb": vm_field("VmRSS")}
    if a.load_only and a.authors_build:
        # HOICLIP.__init__ (init_classifier_with_CLIP) encodes, with CLIP's text encoder, the
        # 600 HOI prompts, the same 600 again (`text_inputs_del`: all of them unless
        # --del_unseen) and the 81 object prompts, each tokenized to 77 tokens. The mirror
        # above took `hoi_cls` from a file instead; this adds what the authors' build runs.
        # The cost does not depend on the prompts' words (every prompt is 77 tokens).
        tokens_hoi = hf.tokenize(["a photo of a person riding a bicycle"] * 600, 77)
        tokens_obj = hf.tokenize(["a photo of a bicycle"] * 81, 77)
        t1 = time.perf_counter()
        with torch.no_grad():
            for tokens in (tokens_hoi, tokens_hoi, tokens_obj):
                model.clip_model.encode_text(tokens)
        info["authors_text_encoding_s"] = time.perf_counter() - t1
    if a.load_only:
        info["peak_rss_mb"] = vm_field("VmHWM")
        print(json.dumps(info), flush=True)
        return
    inputs = load_file(str(Path(a.work) / "inputs.safetensors"))
    batches = {name: (inputs[f"{name}_images"], inputs[f"{name}_mask"].bool(), inputs[f"{name}_clip"])
               for name in ("single", "pair")}
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["run"]:
            images, mask, clip = batches[words[1]]
            t0 = time.perf_counter()
            with torch.inference_mode():
                out = hf.forward(model, images, mask, clip)
                _ = [out[k].numpy() for k in hf.RAW]
            reply = {"batch": words[1], "seconds": time.perf_counter() - t0}
        elif words[:1] == ["stats"]:
            reply = {"peak_rss_mb": vm_field("VmHWM"), "rss_mb": vm_field("VmRSS")}
        elif words[:1] == ["quit"]:
            break
        else:
            reply = {"error": line.strip()}
        print(json.dumps(reply), flush=True)


# ----------------------------------------------------------------------------
# FLOPs per stage (the profile's fraction of peak)
# ----------------------------------------------------------------------------
STAGES = ("1_backbone", "2_input_proj_pos", "3_encoder", "4_instance_decoder_boxes", "5_clip_visual",
          "6_interaction_decoder", "7_heads")


def stage_flops(a):
    """Multiply-add FLOPs (2 per MAC: convolutions, matrix products, attention) of each stage of
    the forward on the single 800×1066 input, counted by torch's FlopCounterMode on the mirror
    (`gen_hoiclip_fixtures.forward`, split at the stage boundaries `bench_forward --stages`
    uses). Element-wise work (norms, activations, softmax) is not counted."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from safetensors.torch import load_file

    sys.path.insert(0, str(FIXTURES))
    import gen_hoiclip_fixtures as hf

    torch.set_num_threads(a.threads)
    path = Path(a.work) / "inputs.safetensors"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_inputs(a, path)
    inputs = load_file(str(path))
    images, mask, clip = inputs["single_images"], inputs["single_mask"].bool(), inputs["single_clip"]
    model = hf.HOICLIP(hf.FULL).eval()
    model.transformer.hoi_cls = torch.randn(600, hf.FULL["clip_embed_dim"])
    tr = model.transformer
    counts = {}

    def count(name, fn):
        with FlopCounterMode(display=False) as fc:
            out = fn()
        counts[name] = fc.get_total_flops()
        return out

    with torch.no_grad():
        feat, fmask = count("1_backbone", lambda: model.backbone[0](images, mask))

        def proj():
            pos = hf.detfx.sine_position_embedding(fmask, tr.d_model // 2).to(feat.dtype)
            return model.input_proj(feat).flatten(2).permute(2, 0, 1), pos.flatten(2).permute(2, 0, 1)

        src, pos = count("2_input_proj_pos", proj)
        m = fmask.flatten(1)
        memory = count("3_encoder", lambda: tr.encoder(src, m, pos))
        q = model.query_embed_h.weight.shape[0]
        qo = (model.query_embed_o.weight + model.pos_guided_embedd.weight).unsqueeze(1)
        qh = (model.query_embed_h.weight + model.pos_guided_embedd.weight).unsqueeze(1)
        query_pos = torch.cat((qh, qo), dim=0)

        def decoder():
            hs = tr.instance_decoder(torch.zeros_like(query_pos), memory, m, pos, query_pos).transpose(1, 2)
            model.hum_bbox_embed(hs[-1:, :, :q]), model.obj_bbox_embed(hs[-1:, :, q:])
            return hs

        hs = count("4_instance_decoder_boxes", decoder)
        h_hs, o_hs = hs[:, :, :q, :], hs[:, :, q:, :]
        cls, tokens = count("5_clip_visual", lambda: hf.encode_image(model.clip_model, clip))

        def interaction():
            mem = tr.obj_class_ln(tr.obj_class_fc(memory))
            inter = tr.queries2spacial_proj_norm(tr.queries2spacial_proj(((h_hs + o_hs) / 2.0)[-1]))
            return tr.clip_interaction_decoder(inter.permute(1, 0, 2), tokens.permute(1, 0, 2), mem)

        inter_hs = count("6_interaction_decoder", interaction)

        def heads():
            x = (inter_hs[-1:] @ model.clip_model.visual.proj)
            verb = model.inter2verb(x)
            model.visual_projection(x), model.verb_projection(verb) @ model.verb2hoi_proj
            model.obj_visual_projection(model.obj_class_fc(o_hs[-1:]))
            cls @ tr.hoi_cls.T

        count("7_heads", heads)
    return counts


def report_stage_flops(a):
    """`--stage-flops`: FLOPs per stage, and with `--rust-stages FILE` (the JSON of
    `bench_forward --stages`) each stage's rate and fraction of the cores' FMA peak."""
    counts = stage_flops(a)
    rust = {}
    if a.rust_stages:
        report = json.loads(Path(a.rust_stages).read_text())
        rust = report["batches"]["single"]["stages"] if "batches" in report else report["stages"]
    mhz = max(float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz"))
    # Two FMA pipes per core: 2 × 8 lanes × 2 FLOP per cycle at 256 bits (AVX2), 2 × 16 × 2
    # with AVX-512 (the kernels use it when the CPU has it, unless HOICLIP_CPU_AVX512=0).
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "").split()
    avx512 = "avx512f" in flags and os.environ.get("HOICLIP_CPU_AVX512", "1").lower() not in ("0", "false", "off")
    per_cycle = 64 if avx512 else 32
    peak = a.threads * per_cycle * mhz / 1000.0 if a.peak_gflops is None else a.peak_gflops
    lines = [f"FMA peak assumed: {peak:.0f} GFLOP/s ({a.threads} cores × {per_cycle} FLOP/cycle × {mhz:.0f} MHz)"
             if a.peak_gflops is None else f"FMA peak given: {peak:.0f} GFLOP/s", "",
             "| stage | GFLOP | Rust time | GFLOP/s | fraction of peak |", "|---|---|---|---|---|"]
    total_f, total_t = 0.0, 0.0
    for name in STAGES:
        g = counts[name] / 1e9
        t = rust.get(name)
        total_f += g
        if t:
            total_t += t
            lines.append(f"| {name} | {g:.1f} | {t:.3f} s | {g / t:.0f} | {g / t / peak:.0%} |")
        else:
            lines.append(f"| {name} | {g:.1f} | — | — | — |")
    if total_t:
        lines.append(f"| whole forward | {total_f:.1f} | {total_t:.3f} s | {total_f / total_t:.0f} | "
                     f"{total_f / total_t / peak:.0%} |")
    else:
        lines.append(f"| whole forward | {total_f:.1f} | | | |")
    print("\n".join(lines))
    if a.json:
        Path(a.json).write_text(json.dumps({"gflop": {k: v / 1e9 for k, v in counts.items()}, "rust_s": rust,
                                            "peak_gflops": peak}, indent=1))


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------
def write_inputs(a, path):
    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file

    sys.path.insert(0, str(FIXTURES))
    import gen_hoiclip_fixtures as hf

    io = load_file(str(Path(a.full_dir) / "hoiclip_full_io.safetensors"))
    cfg = hf.FULL
    rng = np.random.default_rng(20240714)
    preps = [hf.preprocess(hf.smooth_image(rng, 480, 640), cfg), hf.preprocess(hf.smooth_image(rng, 640, 480), cfg)]
    images, mask, clip, _ = hf.batch(preps)
    t = {
        "single_images": io["detr_images"].float().contiguous(),
        "single_mask": io["padding_mask"].to(torch.uint8).contiguous(),
        "single_clip": io["clip_images"].float().contiguous(),
        "pair_images": images.contiguous(),
        "pair_mask": mask.to(torch.uint8).contiguous(),
        "pair_clip": clip.contiguous(),
    }
    save_file(t, str(path))
    return {k: list(v.shape) for k, v in t.items()}


def rust_binary(a):
    if a.rust_bin:
        return a.rust_bin
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/hoiclip-target-release")
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    # Only the backend measured (flex is the default feature): no wgpu stack to build for a CPU run.
    features = [] if a.device == "flex" else ["--features", a.device]
    subprocess.run(["cargo", "build", "--release", "--example", "bench_forward"] + features,
                   cwd=ROOT, env=env, check=True)
    return str(Path(target) / "release" / "examples" / "bench_forward")


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out[out.index("{"):])


class Worker:
    def __init__(self, name, cmd, env):
        self.name = name
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1)
        self.ready = self.read()

    def read(self):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name} worker exited")
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)

    def ask(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=60)


def work_and_checkpoint(a):
    """`--work` (created) and the full-size random checkpoint in `--full-dir` (exits if it is
    missing, saying how to make it)."""
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    pth = Path(a.full_dir) / "hoiclip_full.pth"
    if not pth.exists():
        sys.exit(f"{pth} missing: run `python3 tests/fixtures/gen_hoiclip_fixtures.py --full-size {a.full_dir}`")
    return work, pth


def finish(a, res, lines):
    """Prints the table `lines`, stores it in `res` and writes `res` to `--json` if given."""
    res["table"] = "\n".join(lines)
    print(res["table"])
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


def med(xs):
    return statistics.median(xs) if xs else None


def machine_info(threads):
    import torch

    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = open("/proc/cpuinfo").read()
    rustc = subprocess.run(["rustc", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "avx512f": "avx512f" in flags, "threads": threads,
            "torch": torch.__version__, "mkldnn": torch.backends.mkldnn.is_available(), "python": platform.python_version(),
            "rustc": rustc, "burn": "0.22.1", "kernel": platform.release()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5, help="timed A/B rounds per batch")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--load-runs", type=int, default=3)
    ap.add_argument("--device", default="flex", help="Rust backend (flex, ndarray, wgpu)")
    ap.add_argument("--full-dir", default="/var/tmp/hoiclip-full")
    ap.add_argument("--work", default="/var/tmp/hoiclip-bench")
    ap.add_argument("--rust-bin", help="prebuilt bench_forward binary (default: build it)")
    ap.add_argument("--skip-pth-load", action="store_true", help="skip the Rust .pth load timing (slow)")
    ap.add_argument("--json", help="write the full results here")
    ap.add_argument("--skip-forward", action="store_true", help="measure the loads only")
    ap.add_argument("--stage-flops", action="store_true",
                    help="count each forward stage's FLOPs on the mirror (single image) and exit; with "
                         "--rust-stages, report each stage's fraction of the FMA peak")
    ap.add_argument("--rust-stages", help="JSON written by `bench_forward --stages` (single batch)")
    ap.add_argument("--peak-gflops", type=float,
                    help="the cores' FMA peak (default: threads × 32 (64 with AVX-512) × cpu MHz)")
    ap.add_argument("--worker", choices=["torch"], help=argparse.SUPPRESS)
    ap.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--authors-build", action="store_true",
                    help="also time the text encoding the authors' HOICLIP.__init__ runs (1281 prompts of 77 "
                         "tokens; about a minute on 2 cores) and compare the Rust .pth load with "
                         "torch.load + that build")
    a = ap.parse_args()
    if a.worker == "torch":
        return torch_worker(a)
    if a.stage_flops:
        return report_stage_flops(a)

    work, pth = work_and_checkpoint(a)
    inputs = work / "inputs.safetensors"
    if not inputs.exists():
        print("writing", inputs, write_inputs(a, inputs), file=sys.stderr)
    rust = rust_binary(a)
    env = thread_env(a.threads)
    native = work / "hoiclip_full.bpk"
    if not native.exists():
        print("converting to", native, file=sys.stderr)
        run_json([rust, "--checkpoint", str(pth), "--device", a.device, "--threads", str(a.threads),
                  "--save-native", str(native), "--runs", "0", "--warmup", "0", "--batch", ""], env)

    res = {"machine": machine_info(a.threads), "loadavg_before": os.getloadavg(), "args": vars(a)}
    me = [sys.executable, str(Path(__file__).resolve()), "--worker", "torch", "--threads", str(a.threads),
          "--full-dir", a.full_dir, "--work", a.work]
    rust_base = [rust, "--device", a.device, "--threads", str(a.threads), "--inputs", str(inputs)]

    # Load times, alternating.
    loads = {"torch_load": [], "torch_model": [], "torch_peak_mb": [], "rust_native": [],
             "rust_native_first_forward": [], "rust_pth": [], "rust_pth_peak_mb": []}
    for i in range(a.load_runs):
        print(f"load round {i + 1}/{a.load_runs}", file=sys.stderr)
        t = run_json(me + ["--load-only"] + (["--authors-build"] if a.authors_build else []), env)
        if "authors_text_encoding_s" in t:
            loads.setdefault("torch_authors_build", []).append(t["load_s"] + t["authors_text_encoding_s"])
        loads["torch_load"].append(t["torch_load_s"])
        loads["torch_model"].append(t["load_s"])
        loads["torch_peak_mb"].append(t["peak_rss_mb"])
        r = run_json(rust_base + ["--checkpoint", str(native), "--batch", "single", "--warmup", "1", "--runs", "0"],
                     env)
        loads["rust_native"].append(r["load_s"])
        loads["rust_native_first_forward"].append(r.get("first_forward_s"))
        if not a.skip_pth_load:
            r = run_json(rust_base + ["--checkpoint", str(pth), "--batch", "", "--warmup", "0", "--runs", "0"], env)
            loads["rust_pth"].append(r["load_s"])
            # `Hoiclip::from_checkpoint` also warms the model up (first detect at full speed).
            loads.setdefault("rust_pth_with_warm_up", []).append(r["load_s"] + r.get("warm_up_s", 0.0))
            loads["rust_pth_peak_mb"].append(r["peak_rss_mb"])
    res["loads"] = loads

    # Forward passes, alternating A/B.
    if a.skip_forward:
        return report_loads_only(a, res, loads)
    workers = {"torch": Worker("torch", me, env),
               "rust": Worker("rust", rust_base + ["--checkpoint", str(native), "--serve"], env)}
    times = {side: {"single": [], "pair": []} for side in workers}
    for name in ("single", "pair"):
        for _ in range(a.warmup):
            for w in workers.values():
                w.ask(f"run {name}")
    for i in range(a.runs):
        order = ["rust", "torch"] if i % 2 == 0 else ["torch", "rust"]
        for name in ("single", "pair"):
            for side in order:
                r = workers[side].ask(f"run {name}")
                times[side][name].append(r["seconds"])
                print(f"round {i + 1}: {side} {name} {r['seconds']:.3f} s", file=sys.stderr)
    stats = {side: w.ask("stats") for side, w in workers.items()}
    for w in workers.values():
        w.close()
    res["forward"] = times
    res["peak_rss_mb"] = {side: s["peak_rss_mb"] for side, s in stats.items()}
    res["loadavg_after"] = os.getloadavg()

    # Table.
    def row(what, rust_s, torch_s, unit="s", goal=None):
        ratio = rust_s / torch_s if rust_s and torch_s else None
        fmt = (lambda v: f"{v:.3f} s") if unit == "s" else (lambda v: f"{v:.0f} MiB")
        cells = [what, fmt(rust_s) if rust_s is not None else "—", fmt(torch_s) if torch_s is not None else "—",
                 f"{ratio:.2f}×" if ratio is not None else "—"]
        if goal is not None and ratio is not None:
            cells.append("met" if ratio <= goal else "not met")
        else:
            cells.append("")
        return "| " + " | ".join(cells) + " |"

    m = res["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores (AVX-512: {m['avx512f']}); {a.threads} threads each side; "
        f"torch {m['torch']} (oneDNN: {m['mkldnn']}), {m['rustc']}, Burn {m['burn']} ({a.device}). "
        f"Load average before/after: {res['loadavg_before'][0]:.2f} / {res['loadavg_after'][0]:.2f}. "
        f"Medians of {a.runs} alternating runs after {a.warmup} warm-up; loads: median of {a.load_runs}.",
        "",
        "| measure | Rust | PyTorch | Rust / PyTorch | goal (≤ 0.5×, memory ≤ 1×) |",
        "|---|---|---|---|---|",
        row("forward, one 800×1066 image", med(times["rust"]["single"]), med(times["torch"]["single"]), goal=0.5),
        row("forward, padded batch of two (1066×1066)", med(times["rust"]["pair"]), med(times["torch"]["pair"]),
            goal=0.5),
        row("peak RSS, forward worker (Rust: native load; PyTorch: .pth load)", res["peak_rss_mb"]["rust"],
            res["peak_rss_mb"]["torch"], unit="MiB", goal=1.0),
        row("load: Rust native vs torch.load(.pth)", med(loads["rust_native"]), med(loads["torch_load"]), goal=0.5),
        row("load: Rust native + first forward vs torch.load + build + load_state_dict",
            med([x for x in loads["rust_native_first_forward"] if x is not None]) + med(loads["rust_native"]),
            med(loads["torch_model"])),
    ]
    if loads["rust_pth"]:
        lines.append(row("load: Rust .pth (incl. 600 text prompts) vs torch.load + build", med(loads["rust_pth"]),
                         med(loads["torch_model"])))
        if loads.get("torch_authors_build"):
            lines.append(row("load: Rust .pth + warm-up (`Hoiclip::from_checkpoint`) vs the authors' build",
                             med(loads["rust_pth_with_warm_up"]), med(loads["torch_authors_build"]), goal=0.5))
            lines.append(row("load: Rust .pth vs the authors' build (torch.load + build + load_state_dict + "
                             "init_classifier_with_CLIP's text encoding)", med(loads["rust_pth"]),
                             med(loads["torch_authors_build"]), goal=0.5))
        lines.append(row("peak RSS, .pth load process", med(loads["rust_pth_peak_mb"]), med(loads["torch_peak_mb"]),
                         unit="MiB"))
    finish(a, res, lines)


def report_loads_only(a, res, loads):
    """The load rows alone (`--skip-forward`)."""
    res["loadavg_after"] = os.getloadavg()
    lines = ["| measure | Rust | PyTorch | Rust / PyTorch |", "|---|---|---|---|"]

    def add(what, rust, torch_):
        if rust and torch_:
            r, t = med(rust), med(torch_)
            lines.append(f"| {what} | {r:.3f} s | {t:.3f} s | {r / t:.2f}× |")

    add("load: Rust native vs torch.load(.pth)", loads["rust_native"], loads["torch_load"])
    add("load: Rust .pth vs torch.load + build (text embeddings from a file)", loads["rust_pth"],
        loads["torch_model"])
    add("load: Rust .pth vs the authors' build (+ init_classifier_with_CLIP's text encoding)",
        loads["rust_pth"], loads.get("torch_authors_build"))
    add("load: Rust .pth + warm-up (Hoiclip::from_checkpoint) vs the authors' build",
        loads.get("rust_pth_with_warm_up"), loads.get("torch_authors_build"))
    finish(a, res, lines)


if __name__ == "__main__":
    main()
