"""Times one training step of torchvision's resnet18 on the CPU with PyTorch, for comparison with
`TrainingBenchmark` (Sources/Benchmarks/TrainingBenchmark.swift).

    scripts/torch-train-reference time --batch 6 --threads 2 [--warmup 2 --runs 5 --size 224]

The model is torchvision's resnet18 architecture (same module names) defined here with torch.nn,
because the torchvision wheel does not import cleanly next to the CPU build of torch. 3 classes,
default init, random input, CrossEntropyLoss, Adam lr 3e-5, torch.set_num_threads(threads);
float32, or with `--autocast bf16` the forward pass under torch.autocast("cpu", dtype=torch.bfloat16).
Prints one JSON line: {"engine", "precision", "version", "batch", "threads", "ms_per_step": {"median", "min",
"max"}, "images_per_s", "peak_rss_mb"}.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, 1)
        self.layer2 = self._make_layer(128, 2)
        self.layer3 = self._make_layer(256, 2)
        self.layer4 = self._make_layer(512, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample), BasicBlock(planes, planes)]
        self.inplanes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def time_steps(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ResNet18(3).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-5)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(args.batch, 3, args.size, args.size) * 4 - 2
    y = torch.arange(args.batch) % 3

    def step():
        opt.zero_grad(set_to_none=True)
        if args.autocast == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(model(x), y)
        else:
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    print(json.dumps({
        "engine": "pytorch", "precision": "bf16 autocast" if args.autocast == "bf16" else "fp32", "version": torch.__version__, "batch": args.batch, "threads": args.threads,
        "ms_per_step": {"median": round(med, 2), "min": round(min(times), 2), "max": round(max(times), 2)},
        "images_per_s": round(args.batch * 1000 / med, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("time", help="time training steps")
    t.add_argument("--batch", type=int, default=6)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--warmup", type=int, default=2)
    t.add_argument("--runs", type=int, default=5)
    t.add_argument("--size", type=int, default=224)
    t.add_argument("--autocast", choices=["off", "bf16"], default="off",
                   help="bf16: run forward and loss under torch.autocast('cpu', dtype=torch.bfloat16)")
    args = ap.parse_args()
    if args.command == "time":
        time_steps(args)


if __name__ == "__main__":
    main()
