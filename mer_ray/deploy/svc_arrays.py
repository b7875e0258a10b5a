"""A fitted ``StandardScaler`` + ``SVC`` pipeline as plain arrays, and its decision function rebuilt with numpy.

A model bundle must not unpickle code, so the ``"svc"`` classifier of ``mer_ray.training.classifiers`` is stored as the
arrays that define it (scaler mean / scale, support vectors, dual coefficients, intercepts, kernel parameters)
and evaluated here exactly as libsvm does: one-vs-one decisions, then sklearn's one-vs-rest transform
(``decision_function_shape="ovr"``) and libsvm's vote (first class with the most votes wins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

KERNELS = ("linear", "rbf", "poly", "sigmoid")


@dataclass(frozen=True)
class ArraySVC:
    """The arrays of a fitted scaler + SVC.

    Attributes:
        classes: (K,) int labels the SVC was trained on (in sklearn's order).
        mean, scale: (D,) standardisation of the embeddings.
        support_vectors: (n_SV, D) in standardised space, grouped by class.
        n_support: (K,) support vectors per class.
        dual_coef: (K - 1, n_SV) libsvm's dual coefficients.
        intercept: (K (K - 1) / 2,) one-vs-one intercepts (libsvm's ``-rho``).
        kernel, gamma, coef0, degree: the kernel.
    """

    classes: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    support_vectors: np.ndarray
    n_support: np.ndarray
    dual_coef: np.ndarray
    intercept: np.ndarray
    kernel: str
    gamma: float
    coef0: float
    degree: int

    @classmethod
    def from_pipeline(cls, pipeline) -> ArraySVC:
        """The arrays of a fitted ``make_pipeline(StandardScaler(), SVC(...))``."""
        scaler, svc = pipeline[0], pipeline[-1]
        if svc.kernel not in KERNELS:
            raise ValueError(f"SVC kernel {svc.kernel!r} cannot be stored as arrays; storable: {', '.join(KERNELS)}")
        if isinstance(svc.gamma, str) and svc.kernel != "linear":
            raise ValueError(f"an SVC with gamma={svc.gamma!r} cannot be stored as arrays: fit it with a numeric gamma "
                             "(mer_ray.training.classifiers.SVCClassifier does)")
        classes = np.asarray(svc.classes_)
        dual, intercept = np.asarray(svc.dual_coef_, np.float64), np.asarray(svc.intercept_, np.float64)
        if len(classes) == 2:  # sklearn flips the signs of a binary SVC; store libsvm's own convention
            dual, intercept = -dual, -intercept
        return cls(
            classes=classes.astype(np.int64),
            mean=np.asarray(scaler.mean_, np.float64),
            scale=np.asarray(scaler.scale_, np.float64),
            support_vectors=np.asarray(svc.support_vectors_, np.float64),
            n_support=np.asarray(svc.n_support_, np.int64),
            dual_coef=dual,
            intercept=intercept,
            kernel=str(svc.kernel),
            gamma=0.0 if isinstance(svc.gamma, str) else float(svc.gamma),  # a linear kernel has none
            coef0=float(svc.coef0),
            degree=int(svc.degree),
        )

    # ---- storage ------------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The numeric arrays (saved with ``numpy.savez``; no pickled objects)."""
        return {name: getattr(self, name) for name in ("classes", "mean", "scale", "support_vectors", "n_support",
                                                       "dual_coef", "intercept")}

    def params(self) -> dict[str, Any]:
        """The kernel parameters (JSON)."""
        return {"kernel": self.kernel, "gamma": self.gamma, "coef0": self.coef0, "degree": self.degree}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> ArraySVC:
        return cls(**{name: np.asarray(arrays[name]) for name in ("classes", "mean", "scale", "support_vectors",
                                                                  "n_support", "dual_coef", "intercept")},
                   kernel=str(params["kernel"]), gamma=float(params["gamma"]), coef0=float(params["coef0"]),
                   degree=int(params["degree"]))

    # ---- evaluation ---------------------------------------------------------------------------------

    def _kernel(self, x: np.ndarray) -> np.ndarray:
        """(N, n_SV) kernel values between standardised ``x`` and the support vectors."""
        sv = self.support_vectors
        if self.kernel == "linear":
            return x @ sv.T
        if self.kernel == "rbf":
            squared = (x * x).sum(1)[:, None] + (sv * sv).sum(1)[None, :] - 2 * x @ sv.T
            return np.exp(-self.gamma * np.maximum(squared, 0.0))
        if self.kernel == "poly":
            return (self.gamma * x @ sv.T + self.coef0) ** self.degree
        return np.tanh(self.gamma * x @ sv.T + self.coef0)

    def ovo(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, K (K - 1) / 2) one-vs-one decisions, libsvm's order (0-1, 0-2, ..., 1-2, ...); > 0 favours the first."""
        x = (np.asarray(embeddings, np.float64) - self.mean) / self.scale
        k = self._kernel(x)  # (N, n_SV)
        starts = np.concatenate([[0], np.cumsum(self.n_support)])
        n = len(self.classes)
        out, pair = np.empty((len(x), n * (n - 1) // 2)), 0
        for i in range(n):
            for j in range(i + 1, n):
                si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
                out[:, pair] = (k[:, si] @ self.dual_coef[j - 1, si] + k[:, sj] @ self.dual_coef[i, sj]
                                + self.intercept[pair])
                pair += 1
        return out

    def decision(self, embeddings: np.ndarray) -> np.ndarray:
        """sklearn's ``decision_function``: (N, K) one-vs-rest values (K > 2), or (N, 1) for a binary SVC."""
        ovo = self.ovo(embeddings)
        n = len(self.classes)
        if n == 2:
            return -ovo  # sklearn's binary sign: > 0 favours the second class
        votes, confidence, pair = np.zeros((len(ovo), n)), np.zeros((len(ovo), n)), 0
        for i in range(n):
            for j in range(i + 1, n):
                confidence[:, i] += ovo[:, pair]
                confidence[:, j] -= ovo[:, pair]
                votes[:, i] += ovo[:, pair] >= 0  # sklearn's transform counts a tie for the first class
                votes[:, j] += ovo[:, pair] < 0
                pair += 1
        return votes + confidence / (3 * (np.abs(confidence) + 1))

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """libsvm's one-vs-one vote: (N,) labels (ties go to the first class)."""
        ovo = self.ovo(embeddings)
        n = len(self.classes)
        votes, pair = np.zeros((len(ovo), n), np.int64), 0
        for i in range(n):
            for j in range(i + 1, n):
                votes[:, i] += ovo[:, pair] > 0
                votes[:, j] += ovo[:, pair] <= 0
                pair += 1
        return self.classes[votes.argmax(axis=1)]

    def scores(self, embeddings: np.ndarray, n_classes: int = 3) -> np.ndarray:
        """(N, n_classes) float32 scores by class label, laid out as ``mer_ray.training.classifiers.decision_scores``
        lays out an sklearn pipeline's."""
        from mer_ray.training.classifiers import scores_by_class  # torch: imported only where a bundle predicts

        return scores_by_class(self.decision(embeddings), self.classes, n_classes)
