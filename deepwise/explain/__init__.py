"""deepwise.explain: watch every step - the tools that show how a network computes and learns.

* ``backprop(loss)``: the backward pass narrated node by node (op, shapes, local derivative,
  gradients in and out); ``worked_example()``: backpropagation by hand on Mazur's 2-2-1 network,
  every partial derivative checked against finite differences.
* ``graph(tensor, path)``: the computation graph as Graphviz DOT (and SVG/PNG).
* ``descent(out)``: SGD, momentum and Adam on 2-D surfaces, trajectories over contour lines.
* ``layers(model, x)``, ``dead_units(model, x)``: activation statistics, dead ReLUs.
* ``show_filters``, ``feature_maps``, ``hidden_states``: pictures of CNNs and RNNs.
* ``GradientFlow``, ``OverfittingMonitor``: ``train.fit`` callbacks that warn with remedies;
  ``detect_anomaly()``: stop at the first op making NaN/Inf; ``lr_find``: the learning-rate range
  test; ``report(history, path)``: a self-contained HTML training report.

Pictures need matplotlib (optional, imported only when drawing).
"""

from .anomaly import AnomalyError, detect_anomaly
from .backprop import Step, Steps, backprop, format_steps
from .descent import compare as compare_optimizers
from .descent import descend, descent, explain_step, plot_descent
from .diagnostics import dead_units, layers
from .gradflow import GradientFlow, GradientWarning
from .graph import graph
from .lr_finder import LRFindResult, lr_find
from .overfitting import OverfittingMonitor, OverfittingWarning
from .report import load_run, report
from .visualize import feature_maps, hidden_states, show_filters
from .worked import WorkedExample, worked_example

__all__ = [
    "backprop", "Step", "Steps", "format_steps", "worked_example", "WorkedExample", "graph",
    "descent", "descend", "compare_optimizers", "plot_descent", "explain_step", "layers",
    "dead_units", "show_filters", "feature_maps", "hidden_states", "GradientFlow",
    "GradientWarning", "OverfittingMonitor", "OverfittingWarning", "detect_anomaly",
    "AnomalyError", "lr_find", "LRFindResult", "report", "load_run",
]
