"""The paper's configuration, no search: ShuffleNetV2 + ViT, flow pretraining, apex-face fine-tuning, SVM."""

from search_spaces._common import DEMO_CONSTANTS, PAPER_CONSTANTS
from search_spaces.space import SearchSpace

# The paper pretrains on TV-L1 flow, then trains on the pre-processed faces (apex frames) with the pretrained
# weights and an SVM (hinge) classifier. It gives no epoch counts: 20 + 20 is our choice.
FIXED = {
    **PAPER_CONSTANTS,
    "model": "shufflenet_v2_vit",
    "input_size": 224,
    "modality": "apex",
    "pretrain": True,
    "pretrain_epochs": 20,
    "epochs": 20,
    "batch_size": 32,
    "classifier": "hinge",
}
DEMO_FIXED = {**DEMO_CONSTANTS, "modality": "apex", "pretrain_epochs": 6, "epochs": 6}

SPACE = SearchSpace(
    name="paper",
    description="the paper's fixed settings (ShuffleNetV2+ViT, flow pretraining, SVM head, 224 px); no search",
    fixed=FIXED,
    demo_fixed=DEMO_FIXED,
)
