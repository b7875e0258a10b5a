"""Everything that touches raw frames: adapters, protocols, alignment, flow and the Ray Data pipeline.

Nothing here imports torch or ``mer_ray``.
"""

from preprocessing.annotations.sample import LABELS, DatasetError, DatasetScan, Exclusion, Sample

__all__ = ["LABELS", "DatasetError", "DatasetScan", "Exclusion", "Sample"]
