"""Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) and learning-rate schedules.

>>> from deepwise import optim
>>> opt = optim.Adam(model.parameters(), lr=1e-3)
>>> sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD
from .adadelta import Adadelta
from .lbfgs import LBFGS
from .adamax import Adamax
from .nadam import NAdam
from .radam import RAdam

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
__all__ += ["Adadelta", "LBFGS", "Adamax", "NAdam", "RAdam"]
