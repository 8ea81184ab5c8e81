"""L-BFGS: a quasi-Newton method that re-evaluates the model through a closure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd import enable_grad
from .optimizer import Optimizer, ParamsT

__all__ = ["LBFGS"]


class LBFGS(Optimizer):
    r"""Limited-memory BFGS (Nocedal, 1980; Liu & Nocedal, 1989), PyTorch's algorithm and
    options, with a fixed step (``line_search_fn=None``; ``"strong_wolfe"`` is not available).

    One ``step(closure)`` runs up to ``max_iter`` iterations on the flattened parameters x with
    gradient g (``closure()`` recomputes loss and gradients)::

        y_k = g_k - g_{k-1},  s_k = t_{k-1} d_{k-1},  rho_k = 1 / (y_k . s_k)  (if y.s > 1e-10)
        d_k = -H_k g_k      (two-loop recursion over the last ``history_size`` (s, y) pairs,
                             H_0 = (s.y / y.y) I)
        x  <- x + t d_k     (t = lr; on the very first iteration min(1, 1 / |g|_1) * lr)

    and stops early when |g|_inf <= tolerance_grad, the step or the change of the loss falls
    below tolerance_change, or ``max_eval`` closure calls are spent. All parameters are in
    one group. State (on the first parameter): the direction, the step, the (s, y) history.

    >>> opt = LBFGS(model.parameters(), lr=0.8)
    >>> def closure():
    ...     opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); return loss
    >>> opt.step(closure)
    """

    def __init__(self, params: ParamsT, lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if line_search_fn is not None:
            raise ValueError(f"LBFGS: line_search_fn={line_search_fn!r} is not available in "
                             "deepwise; use line_search_fn=None (a fixed step of lr)")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=None))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        for key in ("max_iter", "max_eval", "history_size"):
            self._require(group, key, int(group[key]) == group[key] and group[key] >= 1,
                          "an int >= 1")

    def _flat_grad(self) -> np.ndarray:
        return np.concatenate([(p.grad.data if p.grad is not None else
                                np.zeros_like(p.data)).reshape(-1) for p in self._params])

    def _add(self, t: float, d: np.ndarray) -> None:
        """x <- x + t d, parameter by parameter (in place)."""
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += (t * d[offset:offset + n]).reshape(p.data.shape).astype(p.data.dtype,
                                                                               copy=False)
            p._version += 1
            offset += n

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # noqa: C901 - the algorithm
        """One L-BFGS step: up to ``max_iter`` iterations, each calling ``closure`` once.
        Returns the loss of the first ``closure()`` call (as PyTorch does)."""
        if closure is None:
            raise ValueError("LBFGS.step needs a closure that clears the gradients, computes "
                             "the loss, calls loss.backward() and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history = group["history_size"]
        state = self.state.setdefault(self._params[0], {"func_evals": 0, "n_iter": 0})

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if np.abs(g).max() <= tol_grad:
            return orig_loss
        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag, prev_g, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), \
            state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, old_dirs, old_stps, ro, h_diag = -g, [], [], [], 1.0
            else:  # the two-loop recursion: d = -H g from the stored curvature pairs
                y, s = g - prev_g, d * t
                ys = float(y @ s)
                if ys > 1e-10:
                    if len(old_dirs) == history:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                al = [0.0] * len(old_dirs)
                q = -g
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(old_stps[i] @ q) * ro[i]
                    q = q - al[i] * old_dirs[i]
                r = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = float(old_dirs[i] @ r) * ro[i]
                    r = r + (al[i] - be_i) * old_stps[i]
                d = r
            prev_g = g.copy()
            prev_loss = loss
            t = min(1.0, 1.0 / float(np.abs(g).sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(g @ d)
            if gtd > -tol_change:  # not a descent direction
                break
            self._add(t, d)
            ls_evals = 0
            if n_iter != max_iter:
                with enable_grad():
                    loss = float(closure())
                g = self._flat_grad()
                ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals
            if n_iter == max_iter or evals >= max_eval or np.abs(g).max() <= tol_grad:
                break
            if np.abs(d * t).max() <= tol_change or abs(loss - prev_loss) < tol_change:
                break
        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_g, prev_loss=prev_loss)
        return orig_loss
