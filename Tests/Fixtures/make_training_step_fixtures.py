"""Reference for one and two full training steps of ResNet18 (Tests/TrainingTests), with PyTorch on the CPU.

    /root/.cache/cxr-fixtures-venv/bin/python Tests/Fixtures/make_training_step_fixtures.py

torchvision's resnet18 (3 classes) with the hash-generated weights of make_resnet_fixtures.py
(imported, not copied: the Swift tests regenerate the same values), BatchNorm in train mode,
CrossEntropyLoss, torch.optim.Adam; two steps on hash-generated 64x64 batches of 4.

Cases:  adam     lr 3e-5, no weight decay, unweighted loss
        adam_wd  lr 3e-5, weight_decay 1e-4, class weights (1.0, 2.0, 0.5)

Writes Tests/Fixtures/training/step.safetensors with, per case and step s in {1, 2}:
  <case>.step<s>.loss [1], .logits [4, 3]
  <case>.step<s>.grad.<param> and .value.<param> (after the update): the whole tensor when it has
      <= 8192 elements, else .norm [1] (L2), .sum [1] and .sample [512] at index.<param> (int64,
      seeded by the name) -- keeps the file near 1 MB
  <case>.step<s>.running.<bn>.running_mean / running_var (after the step), and num_batches_tracked
  <case>.step<s>.spread.grad.<param> / .spread.value.<param> [1]: max|f32 - f64| / max|f64| of
      PyTorch's own float32 run against a float64 run of the same steps. Without weight decay, step 1
      gives some gradients at rounding level; Adam scales every update to about lr whatever the
      gradient's size, so their signs (and the float32 step-2 results) are not determined by the
      reference itself: the test allows max(1e-4, 3 x spread) per tensor.
"""
import os

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

import torchvision_cpu  # noqa: F401  (before torchvision)
import torchvision
from make_resnet_fixtures import fnv1a, hash_uniform, parameter

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "training", "step.safetensors")
FULL_LIMIT = 8192
SAMPLES = 512
BATCH, SIDE = 4, 64
LABELS = [[0, 1, 2, 1], [2, 0, 1, 0]]
CASES = {
    "adam": dict(lr=3e-5, weight_decay=0.0, class_weights=None),
    "adam_wd": dict(lr=3e-5, weight_decay=1e-4, class_weights=[1.0, 2.0, 0.5]),
}


def generated_model():
    model = torchvision.models.resnet18(num_classes=3)
    state = {k: parameter(k, tuple(v.shape)) for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return model.train()


def step_input(step):
    return hash_uniform(f"train.input{step}", (BATCH, 3, SIDE, SIDE), -2.0, 2.0)


def indices(name, n):
    rng = np.random.default_rng(fnv1a(name))
    return np.sort(rng.choice(n, SAMPLES, replace=False))


def store(out, key, name, t):
    t = t.detach().contiguous().float()
    if t.numel() <= FULL_LIMIT:
        out[key] = t.clone()
        return
    flat = t.flatten().double()
    idx = indices(name, t.numel())
    out[f"index.{name}"] = torch.from_numpy(idx.astype(np.int64))
    out[f"{key}.norm"] = flat.norm().float().reshape(1)
    out[f"{key}.sum"] = flat.sum().float().reshape(1)
    out[f"{key}.sample"] = flat[torch.from_numpy(idx)].float().contiguous()


def run(cfg, dtype):
    """Both steps; returns [(grads, values)] per step, as float64."""
    model = generated_model().to(dtype)
    weight = torch.tensor(cfg["class_weights"], dtype=dtype) if cfg["class_weights"] else None
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    steps = []
    for step in (1, 2):
        opt.zero_grad()
        loss_fn(model(step_input(step).to(dtype)), torch.tensor(LABELS[step - 1])).backward()
        grads = {n: p.grad.detach().double().clone() for n, p in model.named_parameters()}
        opt.step()
        steps.append((grads, {n: p.detach().double().clone() for n, p in model.named_parameters()}))
    return steps


def spread(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).float().reshape(1)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    out = {}
    for case, cfg in CASES.items():
        f32, f64 = run(cfg, torch.float32), run(cfg, torch.float64)
        for step in (1, 2):
            for name in f64[step - 1][0]:
                for i, kind in enumerate(("grad", "value")):
                    out[f"{case}.step{step}.spread.{kind}.{name}"] = spread(f32[step - 1][i][name], f64[step - 1][i][name])
        model = generated_model()
        weight = torch.tensor(cfg["class_weights"]) if cfg["class_weights"] else None
        loss_fn = nn.CrossEntropyLoss(weight=weight)
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
        for step in (1, 2):
            p = f"{case}.step{step}"
            opt.zero_grad()
            logits = model(step_input(step))
            loss = loss_fn(logits, torch.tensor(LABELS[step - 1]))
            loss.backward()
            out[f"{p}.loss"] = loss.detach().reshape(1).float()
            out[f"{p}.logits"] = logits.detach().contiguous()
            for name, param in model.named_parameters():
                store(out, f"{p}.grad.{name}", name, param.grad)
            opt.step()
            for name, param in model.named_parameters():
                store(out, f"{p}.value.{name}", name, param)
            for name, buf in model.named_buffers():
                if name.endswith("num_batches_tracked"):
                    out[f"{p}.running.{name}"] = buf.detach().float().reshape(1)
                else:
                    out[f"{p}.running.{name}"] = buf.detach().contiguous().clone()
            print(case, step, "loss %.6f" % loss.item())
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file(out, OUT, metadata={"generator": "make_training_step_fixtures.py", "torch": torch.__version__,
                                  "input": "hash_uniform('train.input<step>', [4,3,64,64], -2, 2)",
                                  "labels": str(LABELS)})
    print(OUT, os.path.getsize(OUT), "bytes,", len(out), "tensors")


if __name__ == "__main__":
    main()
