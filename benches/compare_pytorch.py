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
3. Builds the Rust binary (`cargo build --release --all-features --example bench_forward`,
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
    subprocess.run(["cargo", "build", "--release", "--all-features", "--example", "bench_forward"],
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
    ap.add_argument("--worker", choices=["torch"], help=argparse.SUPPRESS)
    ap.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker == "torch":
        return torch_worker(a)

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    pth = Path(a.full_dir) / "hoiclip_full.pth"
    if not pth.exists():
        sys.exit(f"{pth} missing: run `python3 tests/fixtures/gen_hoiclip_fixtures.py --full-size {a.full_dir}`")
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
        t = run_json(me + ["--load-only"], env)
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
            loads["rust_pth_peak_mb"].append(r["peak_rss_mb"])
    res["loads"] = loads

    # Forward passes, alternating A/B.
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
        lines.append(row("peak RSS, .pth load process", med(loads["rust_pth_peak_mb"]), med(loads["torch_peak_mb"]),
                         unit="MiB"))
    table = "\n".join(lines)
    res["table"] = table
    print(table)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
