"""Fast exact inference for tree ensembles; scikit-learn stays the reference path.

:func:`compile_model` turns a fitted model into a :class:`Predictor` whose ``predict_stats`` returns
the positive-class probability and, for forests, the spread of the member trees' votes.
"""

from __future__ import annotations

from .compile import (
    CompiledForest,
    Predictor,
    ReferencePredictor,
    compile_model,
    positive_class_index,
    unwrap,
)
from .flatten import BoxForest, FlatForest, box_forest, flatten_forest, tree_estimators
from .kernels import HAVE_NUMBA

__all__ = [
    "HAVE_NUMBA",
    "BoxForest",
    "CompiledForest",
    "FlatForest",
    "Predictor",
    "ReferencePredictor",
    "box_forest",
    "compile_model",
    "flatten_forest",
    "positive_class_index",
    "tree_estimators",
    "unwrap",
]
