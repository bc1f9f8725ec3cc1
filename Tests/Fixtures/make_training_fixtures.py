"""Reference values for the evaluation metrics and temperature scaling (Tests/TrainingTests).

    python Tests/Fixtures/make_training_fixtures.py     # venv with torch CPU, scikit-learn, torchmetrics

Writes Tests/Fixtures/training/metrics.json: seeded random labels and probabilities (scores
rounded to 2 decimals so that ties occur, as they do with real models), with scikit-learn's
confusion matrix, precision/recall/F1, one-vs-rest ROC curves and AUC and log loss, and
torchmetrics' expected calibration error (10 bins, L1; on the unrounded probabilities); and logits/labels with the temperature
that PyTorch's LBFGS finds by minimising the NLL (as in Guo et al.'s temperature_scaling.py).
"""
import json
import os

import numpy as np
import sklearn
import torch
import torchvision_cpu  # noqa: F401  (before torchmetrics, which imports torchvision)
import torchmetrics
from sklearn import metrics as M
from torchmetrics.classification import MulticlassCalibrationError

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "training", "metrics.json")


def main():
    rng = np.random.default_rng(11)
    n, k = 240, 3
    labels = rng.integers(0, k, n)
    raw = rng.random((n, k)) + np.eye(k)[labels] * rng.random((n, 1)) * 1.5
    probs = np.round(raw / raw.sum(1, keepdims=True), 2)
    probs[:, 2] = 1 - probs[:, 0] - probs[:, 1]  # rows sum to 1 exactly after rounding
    probs = np.clip(probs, 0, 1)
    pred = probs.argmax(1)
    p, r, f, s = M.precision_recall_fscore_support(labels, pred, labels=list(range(k)), zero_division=0)
    cm = M.confusion_matrix(labels, pred, labels=list(range(k)))
    spec = [float((cm.sum() - cm[c].sum() - cm[:, c].sum() + cm[c, c]) / (cm.sum() - cm[c].sum())) for c in range(k)]
    roc = []
    for c in range(k):
        fpr, tpr, _ = M.roc_curve(labels == c, probs[:, c], drop_intermediate=False)
        roc.append({"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": float(M.roc_auc_score(labels == c, probs[:, c]))})
    # ECE on unrounded probabilities: with rounded ones many confidences sit exactly on a bin edge,
    # where conventions differ ([l, u) in torchmetrics, (l, u] in Guo et al.) and float edges decide.
    ece_probs = raw / raw.sum(1, keepdims=True)
    ece = MulticlassCalibrationError(num_classes=k, n_bins=10, norm="l1")(torch.tensor(ece_probs), torch.tensor(labels))

    # Temperature scaling: over-confident logits.
    tl = rng.integers(0, k, 300)
    logits = (rng.standard_normal((300, k)) + np.eye(k)[tl] * 1.2) * 3.0
    logits = logits.astype(np.float32)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    z, y = torch.tensor(logits, dtype=torch.float64), torch.tensor(tl)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    nll = {str(tv): float(torch.nn.functional.cross_entropy(z / tv, y)) for tv in (0.5, 1.0, 2.0, t)}

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump({"sklearn": sklearn.__version__, "torchmetrics": torchmetrics.__version__, "torch": torch.__version__,
                   "labels": labels.tolist(), "probabilities": probs.tolist(),
                   "confusion": cm.tolist(), "precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist(),
                   "specificity": spec, "accuracy": float(M.accuracy_score(labels, pred)),
                   "log_loss": float(M.log_loss(labels, probs, labels=list(range(k)))),
                   "roc": roc, "ece": float(ece), "ece_probabilities": ece_probs.tolist(),
                   "temperature": {"logits": logits.tolist(), "labels": tl.tolist(), "fitted": t, "nll": nll}},
                  fh)
    print(f"wrote {OUT}: T = {t:.6f}, ECE = {float(ece):.6f}")


if __name__ == "__main__":
    main()
