#!/usr/bin/env python3
"""Images per second: the authors' HICO-DET evaluation loop (PyTorch) against our pipelined
runner (`examples/detect.rs --batch-size`), same CPU, same thread count, same weights.

One command (from the repository root):

    python3 benches/compare_throughput.py --threads 2 [--images 16] [--rounds 1] [--json out.json]

Test set (`--work`, default /var/tmp/hoiclip-throughput, written once per `--images`): seeded
synthetic JPEGs (gradient + noise + a few shapes, quality 90) in the HICO-DET layout
(`images/test2015`, `annotations/test_hico.json` with one human box, one object box and one
HOI per image; `trainval_hico.json` = the same file, read only for the rare/non-rare split;
`corre_hico.npy` all ones). Size mix (width x height), typical of HICO-DET test photos, rounded
to whole images by largest remainder, seeded shuffle: 640x480 40 %, 640x427 25 %,
500x375 10 %, 480x640 15 %, 427x640 10 %.

PyTorch side (a worker process; `torch.set_num_threads(n)`, OMP/MKL_NUM_THREADS=n). Nothing of
the authors' code is copied here: their files are copied at run time (`git show`) from the
reference repository (`--repo`) into a scratch dir and imported from there, as the fixture
generators do. What runs:
  * `datasets/datasets_gen/hico.py` `build('val', args)` (HICODetection 'val' with their val
    transforms: RandomResize([800], max_size=1333), ToTensor, Normalize; CLIP input =
    `clip_preprocess(img_0)`); `clip.load` is replaced by a function returning only
    openai-clip's `_transform(224)` (ViT-B/32 input), the one thing the dataset keeps of it.
  * `DataLoader(batch_size=2, SequentialSampler, drop_last=False, collate_fn=util.misc.collate_fn,
    num_workers=2)` as main.py builds the val loader (main.py's defaults for batch size and
    workers, not train_hico.sh's 8 / 8).
  * engine.py's `evaluate_hoi` itself (extracted with `ast`, run as written, with args as
    train_hico.sh sets them except `training_free_enhancement_path` = '' (main.py's default:
    no enhancement sweep). Per batch: NestedTensor `.to(cpu)`, stack of the targets'
    clip_inputs, model(...), `PostProcessHOITriplet` (the authors' class, extracted from
    models/models_hoiclip/hoiclip.py), `all_gather` + deepcopy of targets; then the id dedup.
  * The model: the PyTorch mirror `gen_hoiclip_fixtures.HOICLIP(FULL)` loaded from
    `hoiclip_full.pth` as compare_pytorch.py does (eval mode, no grads), called through
    `gen_hoiclip_fixtures.forward(model, samples.tensors, samples.mask, clip_input)`; the
    whole call runs under `torch.inference_mode()` (evaluate_hoi itself uses no_grad).
  * The evaluator: `HICOEvaluator_gen` is replaced by a subclass of the authors'
    `datasets_gen/hico_eval_triplet.HICOEvaluator` whose constructor is the first half of theirs
    (its statements up to and including `if self.use_nms_filter: ... triplet_nms_filter`,
    extracted with `ast`: per-image top-100 triplets in their 20-thread pool, then the per-image
    triplet NMS), and whose `evaluate()` returns {}: the ground-truth half, the results JSON
    dump and the mAP are not run. `cv2` (imported, unused there) is stubbed if missing;
    `threadpool` is replaced, if missing, by a small shim over concurrent.futures (same
    requests, same 20 threads).
  Timed: DataLoader construction + the evaluate_hoi call (loader iteration, decoding and
  preprocessing in the 2 loader workers, forward, post-processing, NMS). One warm-up call over
  the first 2 images (a separate loader) is not counted; model load is not counted.

Rust side: the release binary of `examples/detect.rs` (built with `cargo build --release
--example detect`, CARGO_TARGET_DIR respected, default /var/tmp/hoiclip-target-release, unless
`--rust-bin`), `detect --native MODEL.bpk images/test2015 --batch-size N [--same-size]
--json OUT --device flex`, RAYON_NUM_THREADS=n. Its own printed rate is used: decoding,
preprocessing, forward, post-processing, enhancement (top-10, on by default; the PyTorch loop
above does not run it) and triplet NMS of every image; the model load (warmed up at load) is
not counted. The native model is `/var/tmp/hoiclip-bench/hoiclip_full.bpk` (compare_pytorch.py's),
written from the same `.pth` with `detect --checkpoint ... --save-native` when missing.
Modes: `--batch-size 2` (in order, padded like the authors), `--batch-size 2 --same-size`,
`--batch-size 1`.

The sides alternate for `--rounds` rounds (which goes first alternates too); the table shows
medians over rounds and the ratio Rust / PyTorch images/s (goal >= 2x).
"""

import argparse
import ast
import concurrent.futures
import copy
import datetime
import importlib
import importlib.util
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare_pytorch as cp  # noqa: E402

DEFAULT_REPO = "/work/.mirror/Artanic30+HOICLIP/repo"
SIZE_MIX = [((640, 480), 0.40), ((640, 427), 0.25), ((500, 375), 0.10), ((480, 640), 0.15), ((427, 640), 0.10)]
SEED = 20240720
CLIP_N_PX = 224  # ViT-B/32
RUST_MODES = {"rust: --batch-size 2 (in order, padded)": ["--batch-size", "2"],
              "rust: --batch-size 2 --same-size": ["--batch-size", "2", "--same-size"],
              "rust: --batch-size 1": ["--batch-size", "1"]}
TORCH_MODE = "pytorch: authors' evaluate_hoi (batch 2, 2 loader workers)"
AUTHORS_FILES = ("datasets/datasets_gen/hico.py", "datasets/datasets_gen/hico_eval_triplet.py",
                 "datasets/transforms.py", "datasets/hico_text_label.py", "util/misc.py", "util/box_ops.py",
                 "util/topk.py")


# ----------------------------------------------------------------------------
# Synthetic test set
# ----------------------------------------------------------------------------
def size_list(n, rng):
    """n (width, height) pairs in the SIZE_MIX proportions (largest remainder), shuffled."""
    exact = [share * n for _, share in SIZE_MIX]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])[:n - sum(counts)]:
        counts[i] += 1
    sizes = [size for (size, _), c in zip(SIZE_MIX, counts) for _ in range(c)]
    rng.shuffle(sizes)
    return sizes


def write_test_set(work, n, repo):
    """images/test2015/*.jpg + annotations/{test_hico,trainval_hico}.json + corre_hico.npy."""
    import numpy as np
    from PIL import Image, ImageDraw

    sys.path.insert(0, str(cp.FIXTURES))
    import gen_hoiclip_fixtures as hf

    manifest = work / "test_set.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        if m["images"] == n and m["seed"] == SEED:
            return m
    facts = hf.load_reference_facts(repo)
    # HOI classes whose object is one of HICO's objects 1..10 (COCO ids 2..11: COCO ids 1..11 are
    # contiguous, so the COCO id is the 0-based object index + 1; person = COCO id 1).
    hois = [i for i, o in enumerate(facts["hoi_obj_list"]) if 1 <= o <= 10]
    rng = np.random.default_rng(SEED)
    folder = work / "images" / "test2015"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    annos, sizes = [], size_list(n, rng)
    for k, (w, h) in enumerate(sizes):
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([x / w, y / h, (x + y) / (w + h)], -1) * 255 * rng.uniform(0.3, 1.0, 3)
        pixels = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        img = Image.fromarray(pixels, "RGB")
        draw = ImageDraw.Draw(img)
        boxes = []
        for s in range(4):
            x1, y1 = int(rng.integers(0, w * 2 // 3)), int(rng.integers(0, h * 2 // 3))
            x2, y2 = x1 + int(rng.integers(w // 8, w // 3)), y1 + int(rng.integers(h // 8, h // 3))
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.rectangle if s % 2 == 0 else draw.ellipse)([x1, y1, x2, y2], fill=color)
            boxes.append([x1, y1, x2, y2])
        name = f"HICO_test2015_{k + 1:08d}.jpg"
        img.save(folder / name, quality=90)
        hoi = hois[k % len(hois)]
        annos.append({"file_name": name, "img_id": k + 1,
                      "annotations": [{"bbox": boxes[0], "category_id": 1},
                                      {"bbox": boxes[1], "category_id": facts["hoi_obj_list"][hoi] + 1}],
                      "hoi_annotation": [{"subject_id": 0, "object_id": 1, "hoi_category_id": hoi + 1,
                                          "category_id": facts["hoi_to_verb"][hoi] + 1}]})
    (work / "annotations").mkdir(exist_ok=True)
    for name in ("test_hico.json", "trainval_hico.json"):
        (work / "annotations" / name).write_text(json.dumps(annos))
    np.save(work / "annotations" / "corre_hico.npy", np.ones((117, 80)))
    counts = {f"{w}x{h}": sizes.count((w, h)) for (w, h), _ in SIZE_MIX}
    m = {"images": n, "seed": SEED, "counts": counts, "sizes": [f"{w}x{h}" for w, h in sizes]}
    manifest.write_text(json.dumps(m, indent=1))
    return m


# ----------------------------------------------------------------------------
# PyTorch worker: the authors' evaluation loop
# ----------------------------------------------------------------------------
class _ThreadPool:
    """The part of the `threadpool` package the evaluator uses, on concurrent.futures."""

    def __init__(self, n):
        self.executor, self.futures = concurrent.futures.ThreadPoolExecutor(n), []

    def putRequest(self, request):  # noqa: N802 (their API)
        fn, args, kwargs = request
        self.futures.append(self.executor.submit(fn, *args, **kwargs))

    def wait(self):
        for f in self.futures:
            f.result()

    def dismissWorkers(self, n, do_join=False):  # noqa: N802
        self.executor.shutdown(wait=do_join)


def _make_requests(fn, items):
    return [(fn, item[0], item[1] or {}) if isinstance(item, tuple) else (fn, (item,), {}) for item in items]


def function_node(src, name, cls=None):
    body = ast.parse(src).body
    if cls:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == cls).body
    return next(n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name)


def import_authors(repo, scratch):
    """The authors' dataset, post-processor, evaluation loop and evaluator, from a scratch copy."""
    import torch

    sys.path.insert(0, str(cp.FIXTURES))
    import gen_tokenizer_fixtures as tokfx

    for pkg in ("datasets", "util"):
        assert pkg not in sys.modules, f"a module named {pkg!r} is already imported"
    clip = tokfx.import_clip()
    clip.load = lambda name, device="cpu": (None, clip.clip._transform(CLIP_N_PX))  # only the preprocess is kept
    if importlib.util.find_spec("cv2") is None:  # imported by the evaluator, used only by its plots
        sys.modules["cv2"] = types.ModuleType("cv2")
    if importlib.util.find_spec("threadpool") is None:
        sys.modules["threadpool"] = types.SimpleNamespace(ThreadPool=_ThreadPool, makeRequests=_make_requests)

    read = lambda rel: tokfx.read_reference_file(repo, rel)  # noqa: E731
    for pkg in ("datasets", "datasets/datasets_gen", "util"):
        os.makedirs(os.path.join(scratch, pkg), exist_ok=True)
        open(os.path.join(scratch, pkg, "__init__.py"), "w").close()
    for rel in AUTHORS_FILES:
        Path(scratch, rel).write_text(read(rel))
    hoiclip_src = read("models/models_hoiclip/hoiclip.py")
    post = ast.get_source_segment(hoiclip_src, function_node(hoiclip_src, "PostProcessHOITriplet"))
    Path(scratch, "hoiclip_postprocess.py").write_text(
        "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
        "from util.box_ops import box_cxcywh_to_xyxy\n\n\n" + post + "\n")
    sys.path.insert(0, scratch)
    hico = importlib.import_module("datasets.datasets_gen.hico")
    ev = importlib.import_module("datasets.datasets_gen.hico_eval_triplet")
    misc = importlib.import_module("util.misc")
    postprocess = importlib.import_module("hoiclip_postprocess")
    for m in (hico, ev, misc, postprocess, sys.modules["datasets.transforms"]):
        assert os.path.realpath(m.__file__).startswith(os.path.realpath(scratch)), m.__file__
    assert hico.clip is clip

    # HICOEvaluator.__init__ up to and including the triplet NMS (the predictions half).
    ev_src = read("datasets/datasets_gen/hico_eval_triplet.py")
    init = function_node(ev_src, "__init__", cls="HICOEvaluator")
    cut = next(i for i, s in enumerate(init.body)
               if isinstance(s, ast.If) and ast.unparse(s.test) == "self.use_nms_filter")
    assert ast.unparse(init.body[cut + 1]) == "self.gts = []", ast.unparse(init.body[cut + 1])
    init.body = init.body[:cut + 1]
    ns = dict(vars(ev))
    exec(compile(ast.Module(body=[init], type_ignores=[]), ev.__file__, "exec"), ns)

    def evaluate(self):  # no ground truth, no mAP
        type(self).last = self
        return {}

    predictions = type("HICOEvaluatorPredictions", (ev.HICOEvaluator,), {"__init__": ns["__init__"],
                                                                        "evaluate": evaluate})
    # engine.evaluate_hoi, run as written (its decorator is torch.no_grad()).
    engine_src = read("engine.py")
    node = function_node(engine_src, "evaluate_hoi")
    assert [ast.unparse(d) for d in node.decorator_list] == ["torch.no_grad()"]
    ns = {"torch": torch, "np": __import__("numpy"), "os": os, "copy": copy, "itertools": itertools,
          "time": time, "datetime": datetime, "utils": misc, "HICOEvaluator_gen": predictions,
          "VCOCOEvaluator_gen": None}
    exec(compile(ast.Module(body=[node], type_ignores=[]), "engine.py", "exec"), ns)
    return types.SimpleNamespace(hico=hico, misc=misc, post=postprocess.PostProcessHOITriplet,
                                 predictions=predictions, evaluate_hoi=ns["evaluate_hoi"])


def torch_worker(a):
    reply = sys.stdout
    sys.stdout = sys.stderr  # the authors' prints
    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(a.threads)
    sys.path.insert(0, str(cp.FIXTURES))
    import gen_hoiclip_fixtures as hf

    scratch = tempfile.TemporaryDirectory(prefix="hoiclip-authors-")
    ref = import_authors(Path(a.repo), scratch.name)
    facts = hf.load_reference_facts(a.repo)
    args = hf.make_args(facts, hf.FULL)  # train_hico.sh's arguments
    defaults = hf.reference_arg_parser(facts["main_py"]).parse_args([])
    args.batch_size, args.num_workers = defaults.batch_size, defaults.num_workers  # 2, 2
    args.training_free_enhancement_path = defaults.training_free_enhancement_path  # ''
    args.hoi_path = a.work
    dataset = ref.hico.build("val", args)

    # The mirror model, loaded as compare_pytorch.torch_worker loads it.
    ck = torch.load(Path(a.full_dir) / "hoiclip_full.pth", map_location="cpu", weights_only=False)
    model = hf.HOICLIP(hf.FULL)
    model.load_state_dict({k: v.float() for k, v in ck["model"].items()}, strict=True)
    del ck
    model.transformer.hoi_cls = load_file(str(Path(a.full_dir) / "hoiclip_full_io.safetensors"))[
        "hoi_text_embeddings"].float()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)

    class Mirror:  # what evaluate_hoi calls
        def eval(self):
            model.eval()

        def __call__(self, samples, is_training=False, clip_input=None, targets=None):
            return hf.forward(model, samples.tensors, samples.mask, clip_input)

    postprocessors = {"hoi": ref.post(args)}

    def run(ds):
        t0 = time.perf_counter()
        loader = torch.utils.data.DataLoader(ds, args.batch_size, sampler=torch.utils.data.SequentialSampler(ds),
                                             drop_last=False, collate_fn=ref.misc.collate_fn,
                                             num_workers=args.num_workers)
        with torch.inference_mode():
            ref.evaluate_hoi(args.dataset_file, Mirror(), postprocessors, loader, args.subject_category_id,
                             torch.device("cpu"), args)
        seconds = time.perf_counter() - t0
        preds = ref.predictions.last.preds
        assert len(preds) == len(ds), (len(preds), len(ds))
        return {"images": len(ds), "seconds": seconds, "images_per_s": len(ds) / seconds,
                "triplets_per_image": statistics.mean(len(p["hoi_prediction"]) for p in preds)}

    warm = copy.copy(dataset)
    warm.ids = dataset.ids[:2]
    info = {"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "batch_size": args.batch_size, "num_workers": args.num_workers, "warmup": run(warm)}
    print(json.dumps(info), file=reply, flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            print(json.dumps(run(dataset)), file=reply, flush=True)
        elif line.strip() == "quit":
            break
    scratch.cleanup()


# ----------------------------------------------------------------------------
# Rust side
# ----------------------------------------------------------------------------
def rust_binary(a):
    if a.rust_bin:
        return a.rust_bin
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/hoiclip-target-release")
    subprocess.run(["cargo", "build", "--release", "--example", "detect"], cwd=cp.ROOT,
                   env=dict(os.environ, CARGO_TARGET_DIR=target), check=True)
    return str(Path(target) / "release" / "examples" / "detect")


def run_rust(rust, native, folder, mode_args, out_json, a, env):
    cmd = [rust, "--native", str(native), str(folder), *mode_args, "--json", str(out_json), "--device", a.device]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    m = re.search(r"(\d+) images in ([0-9.]+) s: ([0-9.]+) images/s", p.stderr)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    results = json.loads(Path(out_json).read_text())
    return {"images": int(m.group(1)), "seconds": float(m.group(2)), "images_per_s": float(m.group(3)),
            "process_wall_s": wall, "detections_per_image": statistics.mean(len(r["detections"]) for r in results)}


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--device", default="flex", help="Rust backend")
    ap.add_argument("--work", default="/var/tmp/hoiclip-throughput")
    ap.add_argument("--full-dir", default="/var/tmp/hoiclip-full",
                    help="hoiclip_full.pth + hoiclip_full_io.safetensors")
    ap.add_argument("--native", default="/var/tmp/hoiclip-bench/hoiclip_full.bpk",
                    help="native model (made from the .pth if missing)")
    ap.add_argument("--repo", default=DEFAULT_REPO, help="the authors' repository (checkout or bare git dir)")
    ap.add_argument("--rust-bin", help="prebuilt detect binary (default: build it)")
    ap.add_argument("--skip-rust", action="store_true", help="measure the PyTorch side only")
    ap.add_argument("--json", help="write the full results here")
    ap.add_argument("--worker", choices=["torch"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker == "torch":
        return torch_worker(a)

    work, pth = cp.work_and_checkpoint(a)
    test_set = write_test_set(work, a.images, a.repo)
    folder = work / "images" / "test2015"
    env = cp.thread_env(a.threads)
    rust = native = None
    if not a.skip_rust:
        rust, native = rust_binary(a), Path(a.native)
        if not native.exists():
            print("converting to", native, file=sys.stderr)
            native.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([rust, "--checkpoint", str(pth), "--save-native", str(native), "--device", a.device,
                            "--json", os.devnull, str(next(folder.glob("*.jpg")))], env=env, check=True)

    res = {"machine": cp.machine_info(a.threads), "loadavg_before": os.getloadavg(), "args": vars(a),
           "test_set": test_set, "size_mix": {f"{w}x{h}": s for (w, h), s in SIZE_MIX}, "rounds": []}
    worker = cp.Worker("torch", [sys.executable, str(Path(__file__).resolve()), "--worker", "torch",
                                 "--threads", str(a.threads), "--work", a.work, "--full-dir", a.full_dir,
                                 "--repo", a.repo], env)
    res["torch_worker"] = worker.ready
    modes = [] if a.skip_rust else list(RUST_MODES)
    for i in range(a.rounds):
        order = [TORCH_MODE] + modes if i % 2 == 0 else modes + [TORCH_MODE]
        rnd = {}
        for mode in order:
            if mode == TORCH_MODE:
                rnd[mode] = worker.ask("run")
            else:
                rnd[mode] = run_rust(rust, native, folder, RUST_MODES[mode], work / f"rust_{len(rnd)}.json", a, env)
            print(f"round {i + 1}: {mode}: {rnd[mode]['images_per_s']:.3f} images/s", file=sys.stderr)
        res["rounds"].append(rnd)
    worker.close()
    res["loadavg_after"] = os.getloadavg()

    ips = {mode: cp.med([r[mode]["images_per_s"] for r in res["rounds"]]) for mode in [TORCH_MODE] + modes}
    res["median_images_per_s"] = ips
    m = res["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores (AVX-512: {m['avx512f']}); {a.threads} threads each side; "
        f"torch {m['torch']} (oneDNN: {m['mkldnn']}), {m['rustc']}, Burn {m['burn']} ({a.device}). "
        f"{a.images} synthetic JPEGs ({', '.join(f'{k}: {v}' for k, v in test_set['counts'].items())}); "
        f"median of {a.rounds} alternating round(s). Load average before/after: "
        f"{res['loadavg_before'][0]:.2f} / {res['loadavg_after'][0]:.2f}.",
        "",
        "| mode | images/s | vs the authors' loop (goal ≥ 2×) |",
        "|---|---|---|",
    ]
    for mode, v in ips.items():
        ratio = v / ips[TORCH_MODE]
        verdict = "" if mode == TORCH_MODE else (" met" if ratio >= 2 else " not met")
        lines.append(f"| {mode} | {v:.3f} | {ratio:.2f}×{verdict} |")
    cp.finish(a, res, lines)


if __name__ == "__main__":
    main()
