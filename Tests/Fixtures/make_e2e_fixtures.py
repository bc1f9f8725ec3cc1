"""End-to-end reference for `cxreview classify`: file -> Pillow -> torchvision -> probabilities.

Run with the CPU build of PyTorch (see README, "Testing"):
    python Tests/Fixtures/make_e2e_fixtures.py
Writes the UNTRAINED test model, in two files that the Swift tests (TestSupport/TestModel.swift)
put together once per run:
- interop/resnet18-plain-f16.safetensors: its weights, torchvision's resnet18 (3 classes) with its
  own seeded initialisation; BatchNorm running statistics set from the sample scans (so
  activations have realistic scales in eval mode) and the fc layer scaled so the logits are of
  order 1 (so probabilities are not saturated and a 1e-3 comparison means something); every
  tensor rounded to float16, which also exercises the F16 loading path. Saved the way a PyTorch
  user saves a model, `save_file(model.state_dict(), path)`: no metadata, the int64
  `num_batches_tracked` entries (0) included; PyTorchInteropTests classifies it as it is.
- e2e/config.json: its `cxreview.config` (`trained: false`, and cxreview says so whenever it is
  used).
and, in Tests/Fixtures/e2e/:
- expected.json: for every sample in samples/, the logits and probabilities torchvision's
  resnet18 gives with exactly those (float16-rounded) weights, preprocessing done the tutorial's
  way on a PIL image: grey, replicated to RGB, Resize((224, 224)) (Pillow antialiased bilinear),
  ToTensor, Normalize(ImageNet mean, std).

PNG and JPEG are opened by Pillow itself. DICOM files are rendered to 8-bit grey by DCMTK's own
command-line tools (dcmj2pnm, which registers the JPEG decoders) with the window the decoder is
specified to use: the file's first window when it has one (+Wi 1), otherwise none (8-bit data as
stored); the rendering is then treated exactly like a PNG.
"""
import json
import os
import subprocess
import tempfile

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import torchvision_cpu  # noqa: F401,E402  (before torchvision)
import torchvision  # noqa: E402
from torchvision import transforms as T  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLAIN = os.path.join(HERE, "interop", "resnet18-plain-f16.safetensors")
CONFIG = os.path.join(HERE, "e2e", "config.json")
CLASSES = ["normal", "viral", "covid"]  # the tutorial's order
OUT = os.path.join(HERE, "e2e", "expected.json")

# DICOM samples and the dcmj2pnm options matching the decoder's window choice.
DICOM_WINDOW = {
    "cr-mono1-chest-no-meta.dcm": ["+Wi", "1"],  # WC 550 / WW 1024 in the file
    "siim-chest-jpeg-baseline.dcm": [],  # 8-bit, no window: stored values
}


def load_grey(path):
    name = os.path.basename(path)
    if name.endswith(".dcm"):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r.pgm")
            subprocess.run(["dcmj2pnm", *DICOM_WINDOW[name], path, out], check=True)
            return Image.open(out).convert("L")
    return Image.open(path).convert("L")


def sample_inputs(tf):
    samples = sorted(f for f in os.listdir(os.path.join(ROOT, "samples")) if not f.endswith(".md"))
    xs = [tf(load_grey(os.path.join(ROOT, "samples", f)).convert("RGB")) for f in samples]
    return samples, torch.stack(xs)


def make_model(x):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=3)
    # Running statistics as the cumulative average over the samples and their mirror images.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    model.train()
    with torch.no_grad():
        model(torch.cat([x, x.flip(-1)]))
        model.eval()
        logits = model(x)
        model.fc.weight.mul_(1.5 / logits.std().item())
        model.fc.bias.copy_(torch.tensor([0.1, -0.05, 0.0]))
    state = {k: v.detach().to(torch.float16).float() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    # A fresh module holding the float16-exact weights (its num_batches_tracked stay 0), in float16.
    plain = torchvision.models.resnet18(num_classes=3)
    plain.load_state_dict(state, strict=True)  # BatchNorm fills in a missing num_batches_tracked
    plain = plain.half()
    os.makedirs(os.path.dirname(PLAIN), exist_ok=True)
    save_file(plain.state_dict(), PLAIN)  # no metadata: what any PyTorch user writes
    config = {"classNames": CLASSES, "inputSize": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
              "name": "resnet18-random-test", "version": "1", "trained": False,
              "description": "untrained: torchvision init, seed 0, BN statistics from the samples, for numerical tests only"}
    with open(CONFIG, "w") as fh:
        fh.write(json.dumps(config, sort_keys=True) + "\n")


def main():
    tf = T.Compose([T.Resize((224, 224)), T.ToTensor(),
                    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    samples, x = sample_inputs(tf)
    make_model(x)

    # The reference: torchvision's resnet18 with the weights exactly as stored (float16 -> float32).
    model = torchvision.models.resnet18(num_classes=3)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(PLAIN).items()}, strict=True)
    model.eval()
    expected = {}
    with torch.no_grad():
        logits = model(x)
        for f, row in zip(samples, logits):
            probs = torch.softmax(row.double(), 0)
            expected[f] = {"logits": [float(v) for v in row], "probabilities": [float(v) for v in probs]}
            print(f, [round(float(v), 4) for v in probs])
    with open(OUT, "w") as fh:
        json.dump({"model": os.path.relpath(PLAIN, ROOT), "config": os.path.relpath(CONFIG, ROOT), "torch": torch.__version__,
                   "torchvision": torchvision.__version__, "pillow": Image.__version__,
                   "classes": CLASSES, "samples": expected}, fh, indent=1, sort_keys=True)
    print(f"wrote {OUT}, {PLAIN} and {CONFIG}: {len(expected)} samples")


if __name__ == "__main__":
    main()
