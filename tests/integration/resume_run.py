"""A 4-epoch digits run for the resume tests and benchmark: shuffled data, random augmentation, a
scheduled op, dropout, a learning-rate schedule, EarlyStopping, BestModelSaver and a step-level
RestoreWizard.

    python tests/integration/resume_run.py OUT_DIR RESTORE_DIR [FREQUENCY]

writes OUT_DIR/final.pt (weights, optimizer state, the Summary history without clock readings).
Run it again with the same folders after a kill and it goes on from the last restore point.
With RESUME_RUN_PAUSE_AT=N in the environment it prints "ready" at step N and pauses there for two
seconds (a test sends a signal then); with RESUME_RUN_SLOW_WRITES=1 every restore point is written
in two halves 50 ms apart, so that a kill aimed at a write lands inside it (benchmarks/resume.py).
"""

from __future__ import annotations

import os
import sys
import time

TIMING = ("steps/sec", "epoch_time(sec)", "total_time(sec)")


def main(out_dir: str, restore_dir: str, frequency: str = "5 steps") -> None:
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    import fastest as fe
    from fastest.dataset import NumpyDataset
    from fastest.op.numpyop.univariate.geometry import TranslateX
    from fastest.op.numpyop.univariate.noise import GaussianNoise
    from fastest.op.tensorop.loss import CrossEntropy
    from fastest.op.tensorop.model import ModelOp, UpdateOp
    from fastest.schedule import EpochScheduler, cosine_decay
    from fastest.trace.adapt import EarlyStopping, LRScheduler
    from fastest.trace.io import BestModelSaver, CSVLogger, RestoreWizard
    from fastest.trace.metric import Accuracy
    from fastest.trace.trace import Trace

    class Pause(Trace):
        def __init__(self, step: int) -> None:
            super().__init__(mode="train")
            self.step = step

        def on_batch_end(self, data: object) -> None:
            if self.system.global_step == self.step:
                print("ready", flush=True)
                time.sleep(2)

    if os.environ.get("RESUME_RUN_SLOW_WRITES"):
        import io

        import fastest.trace.restore as restore

        real_save = torch.save

        class SlowTorch:  # restore.torch with a torch.save that pauses half-way through the file
            def __getattr__(self, name: str) -> object:
                return getattr(torch, name)

            @staticmethod
            def save(obj: object, handle: io.BufferedWriter) -> None:
                buffer = io.BytesIO()
                real_save(obj, buffer)
                data = buffer.getvalue()
                handle.write(data[: len(data) // 2])
                handle.flush()
                time.sleep(0.05)
                handle.write(data[len(data) // 2:])

        restore.torch = SlowTorch()  # type: ignore[assignment]

    fe.enable_deterministic(3)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    train = NumpyDataset({"x": x[:960], "y": y[:960]})
    evals = NumpyDataset({"x": x[960:1280], "y": y[960:1280]})
    pipeline = fe.Pipeline(
        train_data=train, eval_data=evals, batch_size=64, num_process=0,
        ops=[GaussianNoise(inputs="x", outputs="x", mode="train", var_limit=(0.0, 20.0)),
             EpochScheduler({1: None, 3: TranslateX(inputs="x", outputs="x", mode="train", shift_limit=0.2)})])
    model = fe.build(lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 48), torch.nn.ReLU(),
                                                 torch.nn.Dropout(0.3), torch.nn.Linear(48, 10),
                                                 torch.nn.Softmax(dim=-1)),
                     optimizer_fn=lambda params: torch.optim.Adam(params, lr=3e-3), model_name="net")
    network = fe.Network([ModelOp(model=model, inputs="x", outputs="y_pred"),
                          CrossEntropy(inputs=("y_pred", "y"), outputs="ce"),
                          UpdateOp(model=model, loss_name="ce")])
    traces = [Accuracy(true_key="y", pred_key="y_pred"),
              LRScheduler(model=model, lr_fn=lambda step: cosine_decay(step, cycle_length=30, init_lr=3e-3)),
              EarlyStopping(monitor="ce", patience=10),
              BestModelSaver(model=model, save_dir=os.path.join(out_dir, "models")),
              CSVLogger(os.path.join(out_dir, "log.csv")),
              RestoreWizard(restore_dir, frequency=frequency)]
    if os.environ.get("RESUME_RUN_PAUSE_AT"):
        traces.append(Pause(int(os.environ["RESUME_RUN_PAUSE_AT"])))
    estimator = fe.Estimator(pipeline=pipeline, network=network, epochs=4, traces=traces, log_steps=1,
                             progress_bar=False, accelerator="cpu", devices=1)
    summary = estimator.fit("resume")
    history = {mode: {key: dict(values) for key, values in keys.items() if key not in TIMING}
               for mode, keys in summary.history.items()}
    torch.save({"model": model.state_dict(), "optimizer": model.optimizer.state_dict(), "history": history},
               os.path.join(out_dir, "final.pt"))


if __name__ == "__main__":
    main(*sys.argv[1:])
