"""Reference for two full training steps of ResNet18 (Tests/TrainingTests), with PyTorch on the CPU.

    /root/.cache/cxr-fixtures-venv/bin/python Tests/Fixtures/make_training_step_fixtures.py

torchvision's resnet18 (3 classes) with the hash-generated weights of make_resnet_fixtures.py
(imported, not copied: the Swift tests regenerate the same values), BatchNorm in train mode,
CrossEntropyLoss, torch.optim.Adam; two steps on hash-generated 64x64 batches of 4. The reference
runs in float64, so what the test measures is the float32 implementation's own error.

Cases:  adam     lr 3e-5, no weight decay, unweighted loss
        adam_wd  lr 3e-5, weight_decay 1e-4, class weights (1.0, 2.0, 0.5)

Why step 2 starts from a stated state. Adam's first update moves every weight by about
lr * sign(g) whatever |g| is, so where a step-1 gradient is within rounding of 0 its sign, and that
weight after step 1, depend on summation order (BLAS kernel, FMA, threads). A few dozen such
weights, each off by 2 lr, change step 2's gradients by up to 1e-2 relative: two correct float32
implementations disagree at step 2 by far more than the 1e-4 the test asks. So the float32
implementation takes step 1 itself, and then, only at the elements where step 1's own tolerance
leaves the update's direction open, takes the reference's weights:
    nonzero g and |g + weight_decay * p| <= PATCH_TOLERANCE * max|g| (per tensor)
(exact zeros are channels that no image activates; they are zero in every summation order, so
their update is determined.) Step 2 then runs from the same state on both sides, up to rounding,
and its gradients are not chaotic: they are compared as tightly as step 1's.

Writes Tests/Fixtures/training/step.safetensors with, per case and step s in {1, 2}:
  <case>.step<s>.loss [1], .logits [4, 3]
  <case>.step<s>.grad.<param> and .value.<param> (after the update): the whole tensor when it has
      <= 8192 elements, else .norm [1] (L2), .sum [1] and .sample [512] at index.<param> (int64,
      seeded by the name) -- keeps the file small
  <case>.step<s>.running.<bn>.running_mean / running_var (after the step), and num_batches_tracked
and per case the step-2 start:
  <case>.patch.<param>.index [k] (int32, flat) and .value [k]: the reference's weights after
      step 1 at the elements above (tensors with none are left out)
Step 2 of the reference starts from its step-1 weights and buffers rounded to float32 (the patch
values are exact) and its Adam moments as they are.

ReLU kinks. A pre-activation within rounding of 0 can land on either side of the ReLU in a correct
float32 implementation, and a gradient downstream of it (above all a BatchNorm bias gradient, a sum
that nearly cancels, on this fixture's small maps) then moves by 1e-2 relative: two correct
implementations disagree and the test would depend on the machine. So every step's input is
chosen so that no ReLU input lies within KINK_MARGIN of 0, relative to its tensor's largest |value|
(about 16 float32 ulps at that scale, twice the distance at which one of PyTorch's own
float32 summation orders flipped a ReLU: 6e-7): the first of
hash_uniform('train.input<s>'), hash_uniform('train.input<s>.1'), ... that clears the margin.
  <case>.step<s>.input_variant [1]: which one (0 for the plain key)
The plain step-2 input of case adam has a pre-activation at 3e-7 of its tensor's scale: an
implementation that sums in another order flipped it and saw 3e-2 in layer2.1's gradients.

Conditioning: a fixture is only a test if the reference's float32 rounding cannot move it. For each
step, float32 runs from the same start state in three summation orders (default, channels_last,
oneDNN off) must match the float64 gradients to CONDITIONING_LIMIT per tensor; a case that sits on
a ReLU kink (a pre-activation within rounding of 0) fails here rather than in the Swift test.
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
# The Swift test's gradient tolerance (relative to the tensor's largest gradient).
PATCH_TOLERANCE = 1e-4
# No ReLU input within this fraction of its tensor's largest |value| (see above).
KINK_MARGIN = 1e-6
VARIANTS = 60
# Half the test's tolerance: summation order alone gives up to ~4e-5 (channels_last), a ReLU kink 1e-3 or more.
CONDITIONING_LIMIT = 5e-5


def generated_model():
    model = torchvision.models.resnet18(num_classes=3)
    state = {k: parameter(k, tuple(v.shape)) for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return model.train()


def kink_margin(start, cfg, step, variant):
    """The smallest |ReLU input| / max |ReLU input| of any ReLU call in a float64 forward from `start`."""
    model = generated_model().double()
    model.load_state_dict(start)
    margins = []

    def hook(module, inputs):
        z = inputs[0]
        margins.append((z.abs().min() / z.abs().max()).item())

    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_pre_hook(hook)
    with torch.no_grad():
        model(step_input(step, variant).double())
    return min(margins)


def input_key(step, variant):
    return f"train.input{step}" if variant == 0 else f"train.input{step}.{variant}"


def step_input(step, variant):
    return hash_uniform(input_key(step, variant), (BATCH, 3, SIDE, SIDE), -2.0, 2.0)


def indices(name, n):
    rng = np.random.default_rng(fnv1a(name))
    return np.sort(rng.choice(n, SAMPLES, replace=False))


def store(out, key, name, t):
    t = t.detach().contiguous()
    if t.numel() <= FULL_LIMIT:
        out[key] = t.float().clone()
        return
    flat = t.flatten().double()
    idx = indices(name, t.numel())
    out[f"index.{name}"] = torch.from_numpy(idx.astype(np.int64))
    out[f"{key}.norm"] = flat.norm().float().reshape(1)
    out[f"{key}.sum"] = flat.sum().float().reshape(1)
    out[f"{key}.sample"] = flat[torch.from_numpy(idx)].float().contiguous()


def loss_fn(cfg, dtype):
    weight = torch.tensor(cfg["class_weights"], dtype=dtype) if cfg["class_weights"] else None
    return nn.CrossEntropyLoss(weight=weight)


def gradients(model, cfg, step, variant, dtype, channels_last=False):
    """Forward in train mode and backward; returns (loss, logits, {name: grad})."""
    x = step_input(step, variant).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = loss_fn(cfg, dtype)(logits, torch.tensor(LABELS[step - 1]))
    loss.backward()
    return loss, logits, {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def conditioning(step, variant, cfg, start, reference):
    """float32 gradients from `start` in three summation orders against the float64 `reference`:
    the worst relative difference and where."""
    worst = (0.0, "")
    for order in ("default", "channels_last", "onednn_off"):
        model = generated_model()
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in start.items()})
        if order == "channels_last":
            model = model.to(memory_format=torch.channels_last)
        with torch.backends.mkldnn.flags(enabled=order != "onednn_off"):
            _, _, grads = gradients(model, cfg, step, variant, torch.float32, channels_last=order == "channels_last")
        for name, g in grads.items():
            ref = reference[name]
            e = ((g.double() - ref).abs().max() / ref.abs().max()).item()
            worst = max(worst, (e, f"{order} {name}"))
    return worst


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    out = {}
    for case, cfg in CASES.items():
        model = generated_model().double()
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
        for step in (1, 2):
            p = f"{case}.step{step}"
            start = {k: v.clone() for k, v in model.state_dict().items()}
            before = {n: q.detach().clone() for n, q in model.named_parameters()}
            # The first input that clears the kink margin and whose float32 gradients in three summation
            # orders agree with float64 (see the module doc).
            for variant in range(VARIANTS):
                margin = kink_margin(start, cfg, step, variant)
                if margin <= KINK_MARGIN:
                    continue
                probe = generated_model().double()
                probe.load_state_dict(start)
                worst = conditioning(step, variant, cfg, start, gradients(probe, cfg, step, variant, torch.float64)[2])
                if worst[0] <= CONDITIONING_LIMIT:
                    break
            else:
                raise SystemExit(f"{case} step {step}: none of {VARIANTS} inputs is well-conditioned; raise VARIANTS")
            print(f"{case} step {step}: input {input_key(step, variant)}, kink margin {margin:.2e}, "
                  f"float32 vs float64 gradients worst {worst[0]:.2e} ({worst[1]})")
            out[f"{p}.input_variant"] = torch.tensor([float(variant)])
            loss, logits, grads = gradients(model, cfg, step, variant, torch.float64)
            out[f"{p}.loss"] = loss.detach().reshape(1).float()
            out[f"{p}.logits"] = logits.detach().float().contiguous()
            for name, g in grads.items():
                store(out, f"{p}.grad.{name}", name, g)
            opt.step()
            for name, param in model.named_parameters():
                store(out, f"{p}.value.{name}", name, param)
            for name, buf in model.named_buffers():
                if name.endswith("num_batches_tracked"):
                    out[f"{p}.running.{name}"] = buf.detach().float().reshape(1)
                else:
                    out[f"{p}.running.{name}"] = buf.detach().float().contiguous()
            if step == 1:
                # Step 2 starts from float32 weights and buffers, so the patch values are exact.
                with torch.no_grad():
                    for t in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
                        t.copy_(t.float())
                patched = 0
                for name, param in model.named_parameters():
                    g = grads[name]
                    h = g + cfg["weight_decay"] * before[name]
                    open_ = ((g != 0) & (h.abs() <= PATCH_TOLERANCE * g.abs().max())).flatten()
                    if open_.any():
                        idx = open_.nonzero().flatten()
                        out[f"{case}.patch.{name}.index"] = idx.to(torch.int32)
                        out[f"{case}.patch.{name}.value"] = param.detach().flatten()[idx].float().contiguous()
                        patched += idx.numel()
                print(f"{case}: step 2 starts from the reference's weights at {patched} elements")
            print(case, step, "loss %.6f" % loss.item())
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file(out, OUT, metadata={"generator": "make_training_step_fixtures.py", "torch": torch.__version__,
                                  "reference": "float64",
                                  "input": "hash_uniform('train.input<step>[.<input_variant>]', [4,3,64,64], -2, 2)",
                                  "labels": str(LABELS), "patch_tolerance": str(PATCH_TOLERANCE),
                                  "kink_margin": str(KINK_MARGIN)})
    print(OUT, os.path.getsize(OUT), "bytes,", len(out), "tensors")


if __name__ == "__main__":
    main()
