"""Reference fixtures for KernelsTests and ResNetTests, computed with PyTorch on the CPU.

    /root/.cache/cxr-fixtures-venv/bin/python Tests/Fixtures/make_resnet_fixtures.py [--weights-out W.safetensors]

Weights and inputs are not stored: they come from a counter-based hash generator that the Swift
tests reimplement bit for bit (see `hash_uniform`; Tests/TestSupport/HashUniform.swift), so the committed
fixtures hold only PyTorch's outputs and BN statistics (~0.4 MB) instead of a 45 MB state_dict. The generator gives
exactly representable float32 values computed with IEEE float32 operations on both sides; the
reference file also stores a few generated tensors so the tests can check the generators agree.

Writes into Tests/Fixtures/resnet/:
  kernels.safetensors       conv2d outputs (3x3 s1 p1, 3x3 s2 p1, 7x7 s2 p3, 1x1 s2, 3x3 s1 on 14x14),
                            unfold (im2col) outputs, max_pool2d output
  resnet18.safetensors      logits of torchvision's resnet18 (3 classes, eval mode) in float32 and
                            float64, image 0's layer4 features, the calibrated BatchNorm running
                            statistics ("stats.*"), and generator spot checks
  torch_written.safetensors tensors saved by safetensors.torch (F32, F16, BF16, I64 num_batches_tracked)
                            to test the Swift reader against the reference writer
With --weights-out, also saves the generated state_dict (with num_batches_tracked) for ORT runs.
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "resnet")
CLASSES = ["normal", "viral", "covid"]
M32 = 0xFFFFFFFF


# ---------------------------------------------------------------- generator (mirrored in Swift)

def fnv1a(name):
    h = 0x811C9DC5
    for b in name.encode():
        h = ((h ^ b) * 0x01000193) & M32
    return h


def hash_uniform(name, shape, lo, hi):
    """float32 in [lo, hi): u = lowbias32(seed*0x9E3779B9 + i) >> 8, u * 2^-24 * f32(hi-lo) + f32(lo)."""
    n = int(np.prod(shape))
    seed = (fnv1a(name) * 0x9E3779B9) & M32
    x = (np.uint64(seed) + np.arange(n, dtype=np.uint64)) & np.uint64(M32)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(M32)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(M32)
    x ^= x >> np.uint64(16)
    u = (x >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)
    v = u * np.float32(hi - lo) + np.float32(lo)
    assert v.dtype == np.float32
    return torch.from_numpy(v.reshape(shape).copy())


def parameter(name, shape):
    """The generated value of one torchvision resnet18 parameter (realistic BN statistics)."""
    if name.endswith("num_batches_tracked"):
        return torch.tensor(100, dtype=torch.int64)
    if len(shape) == 4:  # conv: Kaiming-uniform-like, std sqrt(2/fan_in)
        a = float(np.sqrt(6.0 / (shape[1] * shape[2] * shape[3])))
        return hash_uniform(name, shape, -a, a)
    if name == "fc.weight":  # std 8/sqrt(512): logits of a few units, like a trained 3-class head
        a = float(np.sqrt(192.0 / shape[1]))
        return hash_uniform(name, shape, -a, a)
    if name.endswith("running_var"):
        return hash_uniform(name, shape, 0.5, 1.5)
    if name.endswith("running_mean"):
        return hash_uniform(name, shape, -0.2, 0.2)
    if name.endswith(".bias"):  # BN beta and fc bias
        return hash_uniform(name, shape, -0.1, 0.1)
    return hash_uniform(name, shape, 0.8, 1.2)  # BN gamma


# ---------------------------------------------------------------- torchvision's resnet18

def make_resnet18(num_classes):
    """torchvision's own resnet18 (imported next to the CPU build of torch, see torchvision_cpu.py)."""
    import torchvision_cpu  # noqa: F401
    from torchvision.models import resnet18
    return resnet18(num_classes=num_classes)


def logits_and_features(model, x):
    """(logits, layer4 activations after the last ReLU), through torchvision's own modules."""
    f = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    f = model.layer4(model.layer3(model.layer2(model.layer1(f))))
    return model.fc(torch.flatten(model.avgpool(f), 1)), f


def generated_model():
    """Hash-generated weights; BatchNorm running statistics calibrated like a trained network's.

    With fixed random running stats the activations of a random-weight ResNet grow layer by layer
    (logits in the hundreds), which is unlike any trained model and makes absolute tolerances
    meaningless. So the running mean/var are measured: one train-mode pass (cumulative average,
    momentum None) over a hash-generated calibration batch. They are stored in resnet18.safetensors
    ("stats.<name>"), since Swift cannot regenerate them.
    """
    model = make_resnet18(len(CLASSES))
    state = {k: parameter(k, tuple(v.shape)) for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    model.train()
    with torch.no_grad():
        model(hash_uniform("calibration", (4, 3, 224, 224), -2.0, 2.0))
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for k in state:
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(100, dtype=torch.int64)
    return model, state


# ---------------------------------------------------------------- fixtures

CONV_CASES = {  # name: (input shape, weight shape, stride, padding)
    "conv_3x3_s1": ((2, 4, 13, 10), (6, 4, 3, 3), 1, 1),
    "conv_3x3_s2": ((2, 4, 13, 10), (6, 4, 3, 3), 2, 1),
    "conv_7x7_s2": ((2, 3, 23, 20), (5, 3, 7, 7), 2, 3),
    "conv_1x1_s2": ((2, 8, 13, 10), (6, 8, 1, 1), 2, 0),
    "conv_3x3_s1_14": ((1, 16, 14, 14), (8, 16, 3, 3), 1, 1),
}


def kernel_fixtures():
    out = {}
    for name, (xs, ws, stride, pad) in CONV_CASES.items():
        x = hash_uniform(f"{name}.input", xs, -1.0, 1.0)
        w = hash_uniform(f"{name}.weight", ws, -0.5, 0.5)
        b = hash_uniform(f"{name}.bias", (ws[0],), -0.1, 0.1)
        out[name] = F.conv2d(x, w, b, stride=stride, padding=pad).contiguous()
        k = ws[2]
        out[f"im2col_{name}"] = F.unfold(x[:1], k, padding=pad, stride=stride)[0].contiguous()
    x = hash_uniform("maxpool.input", (2, 3, 13, 12), -1.0, 1.0)
    out["maxpool_3x3_s2"] = F.max_pool2d(x, 3, 2, 1).contiguous()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights-out", help="also save the generated resnet18 weights (F32, with num_batches_tracked)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)

    save_file(kernel_fixtures(), os.path.join(OUT, "kernels.safetensors"),
              metadata={"generator": "make_resnet_fixtures.py", "torch": torch.__version__})

    model, state = generated_model()
    x = hash_uniform("input", (2, 3, 224, 224), -2.0, 2.0)
    with torch.no_grad():
        logits, feats = logits_and_features(model, x)
        assert torch.equal(logits, model(x)), "features path must give torchvision's own logits"
        logits64, feats64 = logits_and_features(model.double(), x.double())
    print("logits f32:", logits.numpy().tolist())
    print("max |f32 - f64| logits %.3g, features %.3g" % (
        (logits.double() - logits64).abs().max().item(), (feats.double() - feats64).abs().max().item()))
    print("features: max %.3f mean %.3f" % (feats.max().item(), feats.mean().item()))
    ref = {
        "logits": logits.contiguous(),
        "logits_f64": logits64.float().contiguous(),
        "features0": feats[0].contiguous(),
        "check.conv1.weight": state["conv1.weight"],
        "check.layer3.1.bn2.weight": state["layer3.1.bn2.weight"],
        "check.fc.weight": state["fc.weight"],
        "check.input.head": x.flatten()[:4096].contiguous(),
    }
    for k, v in state.items():
        if k.endswith("running_mean") or k.endswith("running_var"):
            ref["stats." + k] = v.contiguous()
    config = {"classNames": CLASSES, "inputSize": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    save_file(ref, os.path.join(OUT, "resnet18.safetensors"),
              metadata={"generator": "make_resnet_fixtures.py", "torch": torch.__version__,
                        "input": "hash_uniform('input', [2,3,224,224], -2, 2)"})

    small = {
        "layer1.0.bn1.weight": state["layer1.0.bn1.weight"],
        "layer1.0.bn1.num_batches_tracked": state["layer1.0.bn1.num_batches_tracked"],
        "half": state["bn1.running_var"].half(),
        "brain": state["bn1.running_mean"].bfloat16(),
        "scalar": torch.tensor(2.5),
        "matrix": torch.arange(6, dtype=torch.float32).reshape(2, 3),
    }
    save_file(small, os.path.join(OUT, "torch_written.safetensors"),
              metadata={"cxreview.config": json.dumps(config), "note": "written by safetensors.torch"})

    if args.weights_out:
        save_file({k: v.contiguous() for k, v in state.items()}, args.weights_out,
                  metadata={"cxreview.config": json.dumps(config)})
        np.save(os.path.splitext(args.weights_out)[0] + "_input.npy", x.numpy())
        print("wrote", args.weights_out)
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)), "bytes")


if __name__ == "__main__":
    main()
