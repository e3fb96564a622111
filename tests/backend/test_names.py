"""Every FastEstimator 1.7 backend function imports from fastest under its FastEstimator paths."""

import importlib

import pytest

import fastest as fe
import fastest.backend

# FastEstimator's per-function module (below fastestimator.backend) → the function it defines
FE_BACKEND = {
    "_abs": "abs", "_argmax": "argmax", "_binary_crossentropy": "binary_crossentropy", "_cast": "cast",
    "_categorical_crossentropy": "categorical_crossentropy", "_check_nan": "check_nan",
    "_clip_by_value": "clip_by_value", "_concat": "concat", "_convert_tensor_precision": "convert_tensor_precision",
    "_dice_score": "dice_score", "_exp": "exp", "_expand_dims": "expand_dims", "_feed_forward": "feed_forward",
    "_flip": "flip", "_focal_loss": "focal_loss", "_gather": "gather", "_gather_from_batch": "gather_from_batch",
    "_get_gradient": "get_gradient", "_get_image_dims": "get_image_dims", "_get_lr": "get_lr",
    "_get_shape": "get_shape", "_hinge": "hinge", "_huber": "huber", "_iwd": "iwd", "_l1_loss": "l1_loss",
    "_l2_regularization": "l2_regularization", "_lambertw": "lambertw", "_load_model": "load_model",
    "_matmul": "matmul", "_maximum": "maximum", "_mean_squared_error": "mean_squared_error",
    "_ones_like": "ones_like", "_percentile": "percentile", "_permute": "permute", "_pow": "pow",
    "_random_normal_like": "random_normal_like", "_random_uniform_like": "random_uniform_like",
    "_reduce_max": "reduce_max", "_reduce_mean": "reduce_mean", "_reduce_min": "reduce_min",
    "_reduce_std": "reduce_std", "_reduce_sum": "reduce_sum", "_reshape": "reshape", "_resize3d": "resize_3d",
    "_roll": "roll", "_save_model": "save_model", "_set_lr": "set_lr", "_sign": "sign",
    "_smooth_l1_loss": "smooth_l1_loss", "_sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
    "_squeeze": "squeeze", "_tensor_normalize": "normalize", "_tensor_pow": "tensor_pow",
    "_tensor_round": "tensor_round", "_tensor_sqrt": "tensor_sqrt", "_to_shape": "to_shape",
    "_to_tensor": "to_tensor", "_to_type": "to_type", "_transpose": "transpose", "_update_model": "update_model",
    "_watch": "watch", "_where": "where", "_zeros_like": "zeros_like", "_zscore": "zscore",
}


def test_all_of_fastestimators_backend_is_exported():
    assert len(FE_BACKEND) == 64
    missing = sorted(set(FE_BACKEND.values()) - set(fastest.backend.__all__))
    assert missing == []
    assert all(callable(getattr(fe.backend, name)) for name in fastest.backend.__all__ if name != "EPSILON")


@pytest.mark.parametrize("module, name", sorted(FE_BACKEND.items()))
def test_the_fastestimator_module_path_serves_the_function(module, name):
    alias = importlib.import_module(f"fastest.backend.{module}")
    assert getattr(alias, name) is getattr(fastest.backend, name)


@pytest.mark.parametrize("module, name", [
    ("_focal_loss", "pytorch_focal_loss"), ("_load_model", "preprocess_torch_weights"),
    ("_tensor_normalize", "get_framework"), ("_tensor_normalize", "get_scaled_data"),
])
def test_public_helpers_of_fastestimators_modules_import_too(module, name):
    assert callable(getattr(importlib.import_module(f"fastest.backend.{module}"), name))
