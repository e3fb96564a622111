import numpy as np
import pytest
import torch

from fastest.errors import FastestValueError
from fastest.trace.display import png_bytes
from fastest.xai.plot import attribution_figure, embedding_figure, series_figure, to_mask


def test_to_mask_sums_magnitudes_over_channels_and_clips_at_the_percentile():
    attribution = np.zeros((2, 3, 4, 4))
    attribution[0, :, 0, 0] = [1.0, -1.0, 2.0]  # |.| summed over channels: 4
    attribution[0, 0, 1, 1] = 2.0
    mask = to_mask(attribution, percentile=100)
    assert mask.shape == (2, 4, 4)
    assert mask[0, 0, 0] == 1.0 and mask[0, 1, 1] == 0.5 and mask[1].max() == 0.0  # an all-zero sample stays black
    outlier = np.ones((1, 20, 20))
    outlier[0, 0, 0] = 1000.0
    assert to_mask(outlier, percentile=99)[0, 5, 5] == pytest.approx(1.0)  # one extreme value does not wash out the rest
    with pytest.raises(FastestValueError, match=r"\(N, C, H, W\) or \(N, H, W\).*\(4,\)"):
        to_mask(np.ones(4))


def test_attribution_figure_has_one_row_per_sample_and_one_column_per_map():
    images = torch.rand(3, 1, 8, 8)
    figure = attribution_figure(images, {"Saliency": np.random.rand(3, 1, 8, 8), "IG": np.random.rand(3, 8, 8)},
                                row_titles=["a", "b", "c"])
    assert len(figure.axes) == 9
    assert [ax.get_title() for ax in figure.axes[:3]] == ["image", "Saliency", "IG"]
    assert [figure.axes[i].get_ylabel() for i in (0, 3, 6)] == ["a", "b", "c"]
    overlay = attribution_figure(images, {"component": np.random.rand(3, 2, 8, 8)}, overlay=True)
    assert [ax.get_title() for ax in overlay.axes[:3]] == ["image", "component 1", "component 2"]
    assert png_bytes(overlay)[:4] == b"\x89PNG"
    with pytest.raises(FastestValueError, match="2 maps for 'x' but 3 images"):
        attribution_figure(images, {"x": np.random.rand(2, 8, 8)})


def test_embedding_and_series_figures():
    figure = embedding_figure(np.random.rand(6, 2), labels=[0, 1, 1, 0, 2, 2], names={0: "zero", 1: "one"})
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == ["zero", "one", "2"]
    with pytest.raises(FastestValueError, match=r"\(N, 2\) points, received \(6, 3\)"):
        embedding_figure(np.random.rand(6, 3))
    figure = series_figure({"a": {1: 1.0, 2: 0.5}, "b": {2: 0.7}}, {"a": [{1: (0.5, 1.5), 2: (0.2, 0.8)}]})
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert list(ax.get_lines()[0].get_ydata()) == [1.0, 0.5] and len(ax.collections) == 1  # one shaded band
