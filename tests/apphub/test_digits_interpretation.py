"""The digits interpretation app (apphub/image_classification/digits_interpretation), a few steps."""

import os
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.apphub.apps import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "apphub/image_classification/digits_interpretation/digits_interpretation.py"


def load_app():
    return load_script(SCRIPT, "digits_interpretation_app")


def test_the_app_writes_every_figure_as_png_and_to_tensorboard(tmp_path):
    app = load_app()
    estimator = app.get_estimator(epochs=1, save_dir=str(tmp_path), train_steps_per_epoch=10, eval_steps_per_epoch=3,
                                  log_steps=None, samples=2)
    summary = estimator.fit("interpretation")
    assert list(summary.history["eval"]["accuracy"]) == [10]
    pngs = {name for name in os.listdir(tmp_path) if name.endswith(".png")}
    eval_pngs = {f"{key}_eval_epoch_1.png" for key in app.FIGURES}
    assert eval_pngs <= pngs
    # The trackers leave their whole-run Summaries at the end (as FastEstimator's do); ImageSaver draws them too.
    assert pngs - eval_pngs and all(name.endswith("_train_epoch_1.png") and name.removesuffix("_train_epoch_1.png")
                                    in app.FIGURES for name in pngs - eval_pngs)
    (run,) = os.listdir(tmp_path / "logs")
    events = EventAccumulator(str(tmp_path / "logs" / run / "eval"), size_guidance={"images": 0})
    events.Reload()
    assert sorted(events.Tags()["images"]) == sorted(app.FIGURES)
    labels = (tmp_path / "logs" / run / "eval" / "00010" / "embedding" / "metadata.tsv").read_text().split()
    assert len(labels) == 3 * 32 and set(labels) <= {str(d) for d in range(10)}
    tracker = next(t for t in estimator.traces if type(t).__name__ == "LabelTracker")
    assert sum(stats[10]["count"] for stats in tracker.history.values()) == 3 * 32
