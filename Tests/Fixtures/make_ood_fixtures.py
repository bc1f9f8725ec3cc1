"""Reference for the out-of-distribution statistics (Training/MahalanobisFit, ResNet/OutOfDistributionStatistics).

Run with the fixtures environment (see README, "Testing"):
    nice -n 19 python Tests/Fixtures/make_ood_fixtures.py
Writes Tests/Fixtures/ood/expected.json from seeded random data (numpy default_rng(7)):
- x: 60 samples of 8 features in 3 classes (labels), class means apart, correlated noise;
- ledoitWolf: scikit-learn's LedoitWolf(assume_centered=True) on x centred by its class means
  (covariance_ and shrinkage_), the shared covariance of Lee et al. (2018);
- precision: numpy.linalg.inv of that covariance;
- queries / scores: 10 query points and min over classes of the squared Mahalanobis distance
  (x - mu_c)^T P (x - mu_c), in float64;
- percentile: numpy.percentile(scores, 90) (linear interpolation).
"""
import json
import os

import numpy as np
import sklearn
from sklearn.covariance import LedoitWolf

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ood", "expected.json")


def main():
    rng = np.random.default_rng(7)
    n, p, k = 60, 8, 3
    labels = np.arange(n) % k
    centres = rng.normal(0, 3, size=(k, p))
    mix = rng.normal(0, 1, size=(p, p))
    x = (centres[labels] + rng.normal(0, 1, size=(n, p)) @ mix).astype(np.float32)
    xd = x.astype(np.float64)
    means = np.stack([xd[labels == c].mean(axis=0) for c in range(k)])
    centred = xd - means[labels]
    lw = LedoitWolf(assume_centered=True).fit(centred)
    precision = np.linalg.inv(lw.covariance_)
    queries = (rng.normal(0, 4, size=(10, p))).astype(np.float32)
    means32 = means.astype(np.float32).astype(np.float64)
    precision32 = precision.astype(np.float32).astype(np.float64)
    scores = []
    for q in queries.astype(np.float64):
        d = q[None, :] - means32
        scores.append(float(np.min(np.einsum("ci,ij,cj->c", d, precision32, d))))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump({"sklearn": sklearn.__version__, "n": n, "p": p, "classes": k,
                   "x": x.flatten().tolist(), "labels": labels.tolist(),
                   "means": means.flatten().tolist(),
                   "covariance": lw.covariance_.flatten().tolist(), "shrinkage": float(lw.shrinkage_),
                   "precision": precision.flatten().tolist(),
                   "queries": queries.flatten().tolist(), "scores": scores,
                   "percentile90": float(np.percentile(scores, 90))}, fh)
    print(f"wrote {OUT}: shrinkage {lw.shrinkage_:.4f}, scores {np.round(scores, 2).tolist()}")


if __name__ == "__main__":
    main()
