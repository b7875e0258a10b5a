"""The built-in demo dataset: real face photographs with synthetic micro-expressions, in the CASME II layout.

``ensure_demo()`` returns the cached dataset (generating it on first use, ~20 s); ``generate_demo(root)``
writes one; ``preset="hard"`` (``PRESETS``) is the realistic variant (AU mixtures, subject idiosyncrasy, label
noise, distractors: as hard for a linear probe as the real composite) and ``preset="realistic"`` the same machinery
with settings chosen so that the published methods' ordering follows real data (docs/realism.md).
``displacement_field`` / ``warp_image``
give exact synthetic motion for measuring optical flow.
"""

from preprocessing.demo.config import DEFAULT_DEMO, PRESETS, SMALL_DEMO, VERSION, DemoConfig, make_config
from preprocessing.demo.generate import default_root, ensure_demo, generate_demo, is_current
from preprocessing.demo.ground_truth import frame_flow, load_clip_truth
from preprocessing.demo.motions import REFERENCE_FACE, action_unit_field, displacement_field, face_frame
from preprocessing.demo.warp import warp_image
from preprocessing.demo.writing import FRAMES_DIR, GROUND_TRUTH, GROUND_TRUTH_DIR, MANIFEST, SHEET_NAME

__all__ = [
    "DEFAULT_DEMO", "FRAMES_DIR", "GROUND_TRUTH", "GROUND_TRUTH_DIR", "MANIFEST", "PRESETS", "REFERENCE_FACE",
    "SHEET_NAME", "SMALL_DEMO", "VERSION", "DemoConfig", "action_unit_field", "default_root", "displacement_field",
    "ensure_demo", "face_frame", "frame_flow", "generate_demo", "is_current", "load_clip_truth", "make_config",
    "warp_image",
]
