"""Training as a product: ``fit`` / ``evaluate`` with callbacks, metrics and a History.

>>> from deepwise.train import fit, EarlyStopping
>>> history = fit(model, train_loader, val_data=val_loader, loss=nn.CrossEntropyLoss(),
...               optimizer=optim.Adam(model.parameters()), epochs=20,
...               callbacks=[EarlyStopping(patience=3, restore_best_weights=True)])
...                                                                   # doctest: +SKIP
"""

from . import callbacks, metrics
from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LRScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
)
from .fit import History, evaluate, fit
from .metrics import (
    F1,
    Accuracy,
    ConfusionMatrix,
    Metric,
    Precision,
    Recall,
    TopKAccuracy,
)

__all__ = ["fit", "evaluate", "History", "Callback", "EarlyStopping", "ModelCheckpoint",
           "ProgressBar", "CSVLogger", "TerminateOnNaN", "LRScheduler", "LambdaCallback",
           "Metric", "Accuracy", "TopKAccuracy", "Precision", "Recall", "F1", "ConfusionMatrix",
           "callbacks", "metrics"]
