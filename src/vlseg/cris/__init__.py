"""CRIS (Wang et al., 2022): referring image segmentation from CLIP, one module per part.

Data flows: CLIP vision layers → :mod:`~vlseg.cris.pyramid` (three scales from a ViT) →
:mod:`~vlseg.cris.neck` (text-gated FPN, F_v) → :mod:`~vlseg.cris.decoder` (vision-language decoder, F_c) →
:mod:`~vlseg.cris.projector` (dynamic kernel from the sentence, one logit per pixel) → optionally
:mod:`~vlseg.cris.refiner` (the logits redrawn at the image's resolution from its pixels; not in CRIS) →
:mod:`~vlseg.cris.loss` (text-to-pixel contrastive loss). :mod:`~vlseg.cris.model` ties them to a CLIP (with
``predict``); :mod:`~vlseg.cris.training` trains it and :mod:`~vlseg.cris.evaluation` scores it, against
:mod:`~vlseg.cris.baseline`, the training-free similarity-map baseline.
"""

from vlseg.cris.baseline import SimilarityMapBaseline
from vlseg.cris.decoder import VisionLanguageDecoder, sine_positions_1d, sine_positions_2d
from vlseg.cris.evaluation import EVAL_SETS, evaluate_cris, evaluate_on_sets, evaluate_referring
from vlseg.cris.loss import text_to_pixel_contrastive_loss
from vlseg.cris.model import CRIS, ClipFeatures, CrisConfig, CrisOutput
from vlseg.cris.neck import CrossModalNeck
from vlseg.cris.projector import Projector, dynamic_conv
from vlseg.cris.pyramid import SimplePyramid
from vlseg.cris.refiner import PixelRefiner
from vlseg.cris.training import CrisRecipe, cris_step_fn, train_cris

__all__ = [
    "CRIS",
    "ClipFeatures",
    "CrisConfig",
    "CrisOutput",
    "CrisRecipe",
    "CrossModalNeck",
    "EVAL_SETS",
    "PixelRefiner",
    "Projector",
    "SimilarityMapBaseline",
    "SimplePyramid",
    "VisionLanguageDecoder",
    "cris_step_fn",
    "dynamic_conv",
    "evaluate_cris",
    "evaluate_on_sets",
    "evaluate_referring",
    "sine_positions_1d",
    "sine_positions_2d",
    "text_to_pixel_contrastive_loss",
    "train_cris",
]
