"""L-BFGS: a quasi-Newton method that re-evaluates the model through a closure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd import enable_grad
from .optimizer import Optimizer, ParamsT

__all__ = ["LBFGS"]


def _cubic_interpolate(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                       bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clipped to
    ``bounds`` (default: between the two points); the midpoint when the cubic has none.

    d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2),  d2 = sqrt(d1^2 - g1 g2),
    x = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)   (x2 the point farther right).
    """
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = float(np.sqrt(d2_square))
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


def _strong_wolfe(obj: Callable[[float], tuple[float, np.ndarray]], t: float, d: np.ndarray,
                  f: float, g: np.ndarray, gtd: float, c1: float = 1e-4, c2: float = 0.9,
                  tolerance_change: float = 1e-9, max_ls: int = 25
                  ) -> tuple[float, np.ndarray, float, int]:
    """A step t along d meeting the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5
    and 3.6; PyTorch's port of lswolfe.lua, step for step, so the iterates match):

        f(x + t d) <= f + c1 t g.d      (sufficient decrease, Armijo)
        |g(x + t d).d| <= c2 |g.d|      (the slope has flattened: curvature)

    ``obj(t)`` evaluates (loss, flat gradient) at x + t d. First the step grows (by cubic
    interpolation, up to 10x) until an interval brackets an acceptable point; then the
    interval shrinks ("zoom") around it. Returns (loss, gradient, t, evaluations)."""
    d_norm = float(np.abs(d).max())
    f_new, g_new = obj(t)
    evals = 1
    gtd_new = float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done, ls_iter = False, 0
    while ls_iter < max_ls:  # bracketing
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        tmp = t  # extrapolate: a step between 1.01 t and 10 t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj(t)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]
    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:  # zoom
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1],
                               bracket_f[1], bracket_gtd[1])
        # a trial too close to an end of the bracket (twice, or outside) moves to 10% inside
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = (max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket))
                     else min(bracket) + eps)
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj(t)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:  # t becomes the high end
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:  # the old low becomes high
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


class LBFGS(Optimizer):
    r"""Limited-memory BFGS (Nocedal, 1980; Liu & Nocedal, 1989), PyTorch's algorithm and
    options: a fixed step (``line_search_fn=None``) or a strong-Wolfe line search
    (``line_search_fn="strong_wolfe"``, see :func:`_strong_wolfe`).

    One ``step(closure)`` runs up to ``max_iter`` iterations on the flattened parameters x with
    gradient g (``closure()`` recomputes loss and gradients)::

        y_k = g_k - g_{k-1},  s_k = t_{k-1} d_{k-1},  rho_k = 1 / (y_k . s_k)  (if y.s > 1e-10)
        d_k = -H_k g_k      (two-loop recursion over the last ``history_size`` (s, y) pairs,
                             H_0 = (s.y / y.y) I)
        x  <- x + t d_k     (t = lr; on the very first iteration min(1, 1 / |g|_1) * lr;
                             with "strong_wolfe", t starts there and the line search moves it)

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
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn={line_search_fn!r} is not supported; use "
                             "None (a fixed step of lr) or 'strong_wolfe'")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size,
                                      line_search_fn=line_search_fn))
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

    def _evaluate_at(self, closure: Callable[[], Any], t: float, d: np.ndarray
                     ) -> tuple[float, np.ndarray]:
        """(loss, flat gradient) at x + t d; the parameters are put back to x afterwards."""
        x = [p.data.copy() for p in self._params]
        self._add(t, d)
        with enable_grad():
            loss = float(closure())
        g = self._flat_grad()
        for p, v in zip(self._params, x):
            p.data[...] = v
            p._version += 1
        return loss, g

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # noqa: C901 - the algorithm
        """One L-BFGS step: up to ``max_iter`` iterations, each calling ``closure`` once.
        Returns the loss of the first ``closure()`` call (as PyTorch does)."""
        if closure is None:
            raise ValueError("LBFGS.step needs a closure that clears the gradients, computes "
                             "the loss, calls loss.backward() and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history, line_search = group["history_size"], group["line_search_fn"]
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
            ls_evals = 0
            if line_search == "strong_wolfe":
                loss, g, t, ls_evals = _strong_wolfe(
                    lambda step, d=d: self._evaluate_at(closure, step, d), t, d, loss, g, gtd,
                    max_ls=max_eval - evals)
                self._add(t, d)
            else:
                self._add(t, d)
                if n_iter != max_iter:  # the last iteration's loss would go unused
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
