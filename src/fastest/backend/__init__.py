"""FastEstimator 1.7's backend functions, on PyTorch tensors and numpy arrays.

Every function of ``fastestimator.backend`` with a PyTorch meaning is here under the same name, with
the same arguments. Functions that FastEstimator applies to numpy arrays too take them here, and give
numpy for numpy input; anything else (TensorFlow tensors included) raises a ``FastestValueError``
(a ``ValueError``, as in FastEstimator). FastEstimator's per-function modules
(``fastestimator.backend._reduce_mean`` …) all resolve to this package.

Modules by topic: ``elementwise`` (abs, exp, pow, clip_by_value, where, normalize …), ``shape``
(concat, squeeze, gather, resize_3d …), ``reduce`` (reduce_mean … percentile, argmax), ``convert``
(to_tensor, cast, to_type, to_shape, ones_like, random_normal_like …), ``losses`` and ``dense`` (loss
functions, dice_score), ``special`` (lambertw, iwd), ``model`` (get_lr, save_model, feed_forward,
get_gradient, update_model …) and ``files`` (atomic writes).

>>> import numpy as np, torch
>>> import fastest as fe
>>> fe.backend.reduce_sum(np.array([[1, 2], [3, 4]]), axis=0)
array([4, 6])
>>> fe.backend.reduce_sum(torch.tensor([[1, 2], [3, 4]]), axis=0)
tensor([4, 6])
"""

from fastest.backend.convert import (
    cast,
    ones_like,
    random_normal_like,
    random_uniform_like,
    to_shape,
    to_tensor,
    to_type,
    zeros_like,
)
from fastest.backend.dense import _check_focal as _check_focal  # used by fastest.op.tensorop.loss
from fastest.backend.dense import dice_score, focal_loss, pytorch_focal_loss
from fastest.backend.elementwise import (
    abs,
    check_nan,
    clip_by_value,
    convert_tensor_precision,
    exp,
    get_framework,
    get_scaled_data,
    matmul,
    maximum,
    normalize,
    pow,
    sign,
    tensor_pow,
    tensor_round,
    tensor_sqrt,
    where,
    zscore,
)
from fastest.backend.files import atomic_open, atomic_torch_save, remove_stale_temp_files
from fastest.backend.losses import (
    EPSILON,
    binary_crossentropy,
    categorical_crossentropy,
    hinge,
    huber,
    l1_loss,
    l2_regularization,
    mean_squared_error,
    smooth_l1_loss,
    sparse_categorical_crossentropy,
)
from fastest.backend.losses import _check_beta as _check_beta  # used by fastest.op.tensorop.loss
from fastest.backend.model import (
    WeightsNotFoundError,
    feed_forward,
    get_gradient,
    get_lr,
    load_model,
    preprocess_torch_weights,
    read_weights,
    save_model,
    set_lr,
    update_model,
    watch,
)
from fastest.backend.reduce import (
    argmax,
    percentile,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_std,
    reduce_sum,
)
from fastest.backend.shape import (
    concat,
    expand_dims,
    flip,
    gather,
    gather_from_batch,
    get_image_dims,
    get_shape,
    permute,
    reshape,
    resize_3d,
    roll,
    squeeze,
    transpose,
)
from fastest.backend.special import iwd, lambertw

__all__ = [
    # FastEstimator 1.7's fastestimator.backend
    "abs", "argmax", "binary_crossentropy", "cast", "categorical_crossentropy", "check_nan", "clip_by_value",
    "concat", "convert_tensor_precision", "dice_score", "exp", "expand_dims", "feed_forward", "flip", "focal_loss",
    "gather", "gather_from_batch", "get_gradient", "get_image_dims", "get_lr", "get_shape", "hinge", "huber", "iwd",
    "l1_loss", "l2_regularization", "lambertw", "load_model", "matmul", "maximum", "mean_squared_error",
    "normalize", "ones_like", "percentile", "permute", "pow", "random_normal_like", "random_uniform_like",
    "reduce_max", "reduce_mean", "reduce_min", "reduce_std", "reduce_sum", "reshape", "resize_3d", "roll",
    "save_model", "set_lr", "sign", "smooth_l1_loss", "sparse_categorical_crossentropy", "squeeze", "tensor_pow",
    "tensor_round", "tensor_sqrt", "to_shape", "to_tensor", "to_type", "transpose", "update_model", "watch",
    "where", "zeros_like", "zscore",
    # public helpers of FastEstimator's per-function modules
    "get_framework", "get_scaled_data", "preprocess_torch_weights", "pytorch_focal_loss",
    # fastest's own
    "EPSILON", "WeightsNotFoundError", "atomic_open", "atomic_torch_save", "read_weights",
    "remove_stale_temp_files",
]
