"""Model interpretation on any ``nn.Module`` and batch; the Traces that run them are in ``fastest.trace.xai``.

- ``fastest.xai.saliency``: ``saliency``, ``smoothgrad``, ``integrated_gradients``,
  ``smooth_integrated_gradients`` (captum);
- ``fastest.xai.cam``: ``gradcam`` (captum) and ``eigencam``;
- ``fastest.xai.umap``: ``umap_embedding`` (umap-learn) and ``write_projector`` (TensorBoard's projector);
- ``fastest.xai.tracking``: a per-sample metric summarised per class, and the extreme samples;
- ``fastest.xai.plot``: matplotlib figures (masks, overlays, embeddings, tracked metrics);
- :class:`SaliencyNet` (here): FastEstimator's batch-dictionary front end to the saliency functions.

Each function returns numpy arrays; captum and umap-learn are imported on first use. Import the
functions from their modules (``from fastest.xai.cam import gradcam``); the submodules also load on
attribute access (``fastest.xai.cam.gradcam``).
"""

from fastest._lazy import lazy_submodules
from fastest.xai.saliency_net import SaliencyNet

__all__ = ["SaliencyNet"]
__getattr__ = lazy_submodules(__name__)
