# ruff: noqa: A001, A002, N803, N806, B007, B023 - written as PyTorch users write their scripts
"""Fit a damped sine wave y = a exp(-k t) sin(w t + p) + c to its samples, in float64, with LBFGS
and a strong-Wolfe line search (PyTorch users' choice for small smooth problems); the
parameters live in a ParameterDict, and the best of a few restarts is picked through
parameters_to_vector / vector_to_parameters. No random numbers: both libraries solve the very
same problem, so their printed losses can be compared digit for digit."""
import math

import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)
t = torch.linspace(0, 6, 120)
y = 1.7 * torch.exp(-0.3 * t) * torch.sin(2.1 * t + 0.4) + 0.25


class Wave(nn.Module):
    def __init__(self, w0):
        super().__init__()
        self.p = nn.ParameterDict({
            "a": nn.Parameter(torch.tensor(1.0)), "k": nn.Parameter(torch.tensor(0.1)),
            "w": nn.Parameter(torch.tensor(w0)), "p": nn.Parameter(torch.tensor(0.0)),
            "c": nn.Parameter(torch.tensor(0.0))})

    def forward(self, t):
        p = self.p
        return p["a"] * torch.exp(-p["k"] * t) * torch.sin(p["w"] * t + p["p"]) + p["c"]


best_loss, best_vec, model = math.inf, None, None
for w0 in (1.5, 2.5):
    model = Wave(w0)
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=50, history_size=10,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((model(t) - y) ** 2).mean()
        loss.backward()
        return loss

    for step in range(4):
        loss = opt.step(closure).item()
        print(f"w0 {w0} step {step} loss {loss:.12e}")
    final = ((model(t) - y) ** 2).mean().item()
    print(f"w0 {w0} final loss {final:.12e}")
    if final < best_loss:
        best_loss = final
        best_vec = nn.utils.parameters_to_vector(model.parameters()).detach().clone()
nn.utils.vector_to_parameters(best_vec, model.parameters())
fit = {k: round(v.item(), 4) for k, v in model.p.items()}
print(f"best loss {best_loss:.3e} parameters {fit}")
