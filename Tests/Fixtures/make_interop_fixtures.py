"""PyTorch interoperability reference: plain torchvision weights in cxreview, cxreview's model in PyTorch.

Run with the CPU build of PyTorch (see README, "Testing"):
    python Tests/Fixtures/make_interop_fixtures.py
Reads interop/resnet18-plain-f16.safetensors, what a PyTorch user has, written exactly the way
they write it, `safetensors.torch.save_file(model.state_dict(), path)`, by make_e2e_fixtures.py
(run that first): torchvision's resnet18 (3 classes) holding the untrained test model's weights in
float16. No `__metadata__` at all, torchvision's names, and the int64 `num_batches_tracked`
entries of every BatchNorm. Writes, in Tests/Fixtures/interop/:
- expected.json: for a PNG, a JPEG and a DICOM sample, PyTorch's logits and probabilities
  - of the plain file, loaded with `load_state_dict(..., strict=True)`, preprocessed as cxreview
    assumes for a file without a configuration (ImageNet mean/std, 224 px), temperature 1;
  - of the shipped model, models/cxreview-resnet18.safetensors, loaded into
    `torchvision.models.resnet18(num_classes=3)` with `strict=True`, preprocessed as its
    `cxreview.config` says, probabilities softmax(logits / temperature) with its stored temperature;
  and the SHA-256 of both model files.

REGENERATE WHEN THE SHIPPED MODEL CHANGES: the Swift test (CLITests, PyTorchInteropTests) compares
`cxreview classify --json` on the shipped model with these numbers and fails, naming both hashes,
when models/cxreview-resnet18.safetensors is not the file they were made from.

Preprocessing is make_e2e_fixtures.py's (Pillow grey -> RGB, Resize((size, size)), ToTensor,
Normalize); DICOM samples are rendered by DCMTK's dcmj2pnm with the decoder's window.
"""
import hashlib
import json
import os

import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

import torchvision_cpu  # noqa: F401,E402  (before torchvision)
import torchvision  # noqa: E402
from torchvision import transforms as T  # noqa: E402

from make_e2e_fixtures import load_grey  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLAIN = os.path.join(HERE, "interop", "resnet18-plain-f16.safetensors")
SHIPPED = os.path.join(ROOT, "models", "cxreview-resnet18.safetensors")
OUT = os.path.join(HERE, "interop", "expected.json")
SAMPLES = ["covid19-3way-test-covid-0105.png", "covid19-3way-test-normal-0121.jpeg", "cr-mono1-chest-no-meta.dcm"]
IMAGENET = {"inputSize": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
PROJECT_CLASSES = ["normal", "viral", "covid"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def inputs(config):
    size = config["inputSize"]
    tf = T.Compose([T.Resize((size, size)), T.ToTensor(), T.Normalize(mean=config["mean"], std=config["std"])])
    return torch.stack([tf(load_grey(os.path.join(ROOT, "samples", f)).convert("RGB")) for f in SAMPLES])


def strict_torchvision(path, classes):
    """torchvision's resnet18 with the file's tensors, every key matched (strict=True), in eval mode."""
    model = torchvision.models.resnet18(num_classes=classes)
    model.load_state_dict(load_file(path), strict=True)  # raises on any missing or unexpected key
    return model.eval()


def reference(model, x, temperature):
    with torch.no_grad():
        logits = model(x)
    out = {}
    for f, row in zip(SAMPLES, logits):
        probs = torch.softmax(row.double() / temperature, 0)
        out[f] = {"logits": [float(v) for v in row], "probabilities": [float(v) for v in probs]}
        print(f"  {f}", [round(float(v), 5) for v in probs])
    return out


def main():
    with safe_open(PLAIN, "pt") as f:
        assert not f.metadata(), f.metadata()
        assert any(k.endswith("num_batches_tracked") for k in f.keys())
    print(f"plain state_dict {os.path.relpath(PLAIN, ROOT)} (ImageNet preprocessing at 224 px, temperature 1):")
    plain = reference(strict_torchvision(PLAIN, 3), inputs(IMAGENET), 1.0)

    with safe_open(SHIPPED, "pt") as f:
        config = json.loads(f.metadata()["cxreview.config"])
    temperature = config.get("temperature") or 1.0
    print(f"shipped model {os.path.relpath(SHIPPED, ROOT)} (classes {config['classNames']}, temperature {temperature}):")
    shipped = reference(strict_torchvision(SHIPPED, len(config["classNames"])), inputs(config), temperature)

    doc = {
        "torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": Image.__version__,
        "plain": {"model": os.path.relpath(PLAIN, ROOT), "sha256": sha256(PLAIN), "classes": PROJECT_CLASSES,
                  "temperature": 1.0, "samples": plain},
        "shipped": {"model": os.path.relpath(SHIPPED, ROOT), "sha256": sha256(SHIPPED), "classes": config["classNames"],
                    "temperature": temperature, "samples": shipped},
    }
    with open(OUT, "w") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
    print(f"wrote {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
