"""TV-L1 optical flow (OpenCV) from onset to apex, and the flow features the model is trained on.

Features per pixel: ``u`` (horizontal, +x right), ``v`` (vertical, +y down), optical strain and magnitude, all
float32 in pixels at the aligned face's resolution. Micro-motions are sub-pixel, so nothing here is quantised or
normalised: normalisation is a training-time choice (and must use training subjects only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from mer_ray.infra.validation import from_dict

FEATURE_NAMES: tuple[str, ...] = ("u", "v", "strain", "magnitude")


@dataclass(frozen=True)
class FlowConfig:
    """Every parameter of ``cv2.optflow.DualTVL1OpticalFlow_create``.

    The defaults are the set recommended for micro-expressions by ``benchmarks/flow_accuracy.py`` (aligned
    224x224 faces, sub-pixel to a few pixels of motion): about 3x faster than OpenCV's defaults with an endpoint
    error within 5% of theirs on the demo clips (README, optical flow). ``FlowConfig.opencv_defaults()`` gives
    OpenCV's own values. Only solver-effort parameters changed; the TV-L1 energy (lambda_, theta, gamma) and the
    step tau are OpenCV's. Not a general-purpose setting: for motion of more than ~6 px, or images much smaller
    than 224 px (OpenCV stops its pyramid at 16 px), use ``opencv_defaults()``.
    """

    tau: float = 0.25  # time step of the numerical scheme (OpenCV default)
    lambda_: float = 0.15  # data-term weight: smaller = smoother flow (OpenCV default)
    theta: float = 0.3  # coupling of the two TV-L1 sub-problems (OpenCV default)
    nscales: int = 3  # OpenCV 5: at 224 px with scaleStep 0.5 the coarsest level (56 px) still covers ~6 px motion
    warps: int = 1  # OpenCV 5: sub-pixel motion is linear enough for one warp per level; more buy ~1-2% EPE at 1.3-2x
    epsilon: float = 0.0075  # OpenCV 0.01: a tighter stop wins back what the single warp loses (0.01: +7% EPE)
    innnerIterations: int = 30  # sic: OpenCV's own spelling of the keyword (OpenCV default)
    outerIterations: int = 10  # (OpenCV default; rarely reached: epsilon stops the loop first)
    scaleStep: float = 0.5  # OpenCV 0.8: three octaves instead of five near-duplicate levels
    gamma: float = 0.0  # weight of the illumination-change term (0 = off, OpenCV default)
    medianFiltering: int = 5  # median filter size on the flow between iterations (OpenCV default; 1 converges slower)
    useInitialFlow: bool = False  # start from a flow passed in (never here: each pair is independent)

    def __post_init__(self) -> None:
        checks = {
            "tau": self.tau > 0,
            "lambda_": self.lambda_ > 0,
            "theta": self.theta > 0,
            "nscales": self.nscales >= 1,
            "warps": self.warps >= 1,
            "epsilon": self.epsilon > 0,
            "innnerIterations": self.innnerIterations >= 1,
            "outerIterations": self.outerIterations >= 1,
            "scaleStep": 0 < self.scaleStep < 1,
            "gamma": self.gamma >= 0,
            "medianFiltering": self.medianFiltering >= 1 and (self.medianFiltering == 1 or self.medianFiltering % 2),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"FlowConfig: invalid {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}; expected tau, lambda_, "
                "theta, epsilon > 0, gamma >= 0, nscales, warps, iterations >= 1, 0 < scaleStep < 1 and "
                "medianFiltering 1 (off) or an odd size"
            )

    @classmethod
    def opencv_defaults(cls) -> FlowConfig:
        """OpenCV's own defaults (the reference the recommended set is benchmarked against)."""
        return cls(
            tau=0.25, lambda_=0.15, theta=0.3, nscales=5, warps=5, epsilon=0.01, innnerIterations=30,
            outerIterations=10, scaleStep=0.8, gamma=0.0, medianFiltering=5, useInitialFlow=False,
        )  # fmt: skip

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FlowConfig:
        return from_dict(cls, values)

    def create(self) -> cv2.optflow.DualTVL1OpticalFlow:
        """A fresh OpenCV TV-L1 solver with these parameters."""
        return cv2.optflow.DualTVL1OpticalFlow_create(**asdict(self))


def tvl1_flow(prev: np.ndarray, next: np.ndarray, config: FlowConfig | None = None) -> np.ndarray:
    """Dense TV-L1 flow from ``prev`` to ``next``: ``prev(x) ~ next(x + flow(x))``.

    Args:
        prev: (H, W) uint8 or float32 grayscale frame (onset).
        next: (H, W) frame of the same shape and dtype (apex).
        config: solver parameters; ``FlowConfig()`` when omitted.

    Returns:
        (H, W, 2) float32 flow in pixels, channel 0 = u (x), channel 1 = v (y).
    """
    config = config or FlowConfig()
    for name, image in (("prev", prev), ("next", next)):
        if image.ndim != 2 or image.dtype not in (np.uint8, np.float32):
            raise ValueError(
                f"tvl1_flow: {name} must be a (H, W) uint8 or float32 grayscale image, "
                f"got shape {image.shape} dtype {image.dtype}"
            )
    if prev.shape != next.shape or prev.dtype != next.dtype:
        raise ValueError(
            f"tvl1_flow: prev {prev.shape} {prev.dtype} and next {next.shape} {next.dtype} differ; "
            "align both frames with the same transform first"
        )
    flow = config.create().calc(prev, next, None)  # (H, W, 2) float32
    return np.asarray(flow, dtype=np.float32)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Optical strain magnitude ``sqrt(ux^2 + vy^2 + 0.5 (uy + vx)^2)`` of a (H, W, 2) flow.

    Derivatives are central differences (``np.gradient``: one-sided at the border), in pixels per pixel. The
    strain is the norm of the symmetric part of the flow Jacobian: zero for a pure translation, large where the
    skin stretches or compresses (muscle action), which makes it less sensitive to residual rigid head motion.

    Returns:
        (H, W) float32.
    """
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    uy, ux = np.gradient(u)  # axis 0 = y, axis 1 = x
    vy, vx = np.gradient(v)
    return np.sqrt(ux**2 + vy**2 + 0.5 * (uy + vx) ** 2).astype(np.float32)


def flow_features(flow: np.ndarray) -> np.ndarray:
    """Stack the model's input channels from a flow field.

    Args:
        flow: (H, W, 2) flow (u, v) in pixels.

    Returns:
        (H, W, 4) float32: u, v, optical strain, magnitude (``FEATURE_NAMES``).
    """
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow_features: expected a (H, W, 2) flow, got shape {flow.shape}")
    u, v = flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32)
    magnitude = np.sqrt(u**2 + v**2)
    return np.stack([u, v, optical_strain(flow), magnitude], axis=-1).astype(np.float32)


def endpoint_error(flow: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean endpoint error ``|flow - gt|`` (pixels) over the pixels where ``mask`` is non-zero (all when None).

    Args:
        flow: (H, W, 2) estimated flow.
        gt: (H, W, 2) ground-truth flow.
        mask: optional (H, W) array; non-zero = evaluated.
    """
    if flow.shape != gt.shape or flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"endpoint_error: flow {flow.shape} and gt {gt.shape} must both be (H, W, 2)")
    error = np.linalg.norm(flow.astype(np.float64) - gt.astype(np.float64), axis=-1)  # (H, W)
    if mask is not None:
        if mask.shape != error.shape:
            raise ValueError(f"endpoint_error: mask {mask.shape} does not match the flow's {error.shape}")
        error = error[mask.astype(bool)]
    if error.size == 0:
        raise ValueError("endpoint_error: the mask selects no pixel")
    return float(error.mean())
