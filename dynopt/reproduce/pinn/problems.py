r"""The three PDE problems, their PINN losses and their exact or reference solutions.

Every problem is a physics-informed loss (Raissi, Perdikaris & Karniadakis,
*J. Comput. Phys.* 378, 686, 2019): a network :math:`u_\theta` is asked to
satisfy the equation at collocation points and the boundary (and initial)
conditions at points on the boundary,

.. math::

    L(\theta) = \frac1{N_r}\sum_i r_\theta(z_i)^2
              + \frac1{N_b}\sum_j \big(u_\theta(z_j) - g(z_j)\big)^2 ,

with :math:`r_\theta` the residual of the equation, its derivatives taken by
automatic differentiation of the network, and every term weighted one.

- ``poisson``: :math:`u''(x) = f(x)` on :math:`[0, 1]`, :math:`u(0) = u(1) = 0`,
  :math:`f = -4\pi^2 \sin 2\pi x`; exact :math:`u = \sin 2\pi x`.
- ``heat``: :math:`u_t = \kappa u_{xx}` on :math:`[0,1]\times[0,1]`,
  :math:`\kappa = 0.1`, :math:`u(x, 0) = \sin\pi x`, :math:`u(0,t) = u(1,t) = 0`;
  exact :math:`u = e^{-\kappa\pi^2 t}\sin\pi x`.
- ``burgers``: :math:`u_t + u u_x = \nu u_{xx}` on :math:`[-1,1]\times[0,1]`,
  :math:`\nu = 0.01/\pi`, :math:`u(x, 0) = -\sin\pi x`, :math:`u(\pm1, t) = 0`
  (Raissi et al.'s case); the reference is the Cole--Hopf solution
  (Basdevant et al., *Computers & Fluids* 14, 23, 1986)

  .. math::

      u(x,t) = -\frac{\int \sin\pi(x-\eta)\, F(x-\eta)\, e^{-\eta^2/4\nu t}\,d\eta}
                     {\int F(x-\eta)\, e^{-\eta^2/4\nu t}\,d\eta},
      \qquad F(y) = e^{-\cos(\pi y)/2\pi\nu},

  by the trapezoidal rule in :math:`\eta` on a grid fine against the
  Gaussian's width, the exponents shifted by their maximum.

Coordinates are ``z = (x,)`` or ``z = (x, t)``, float64 throughout.
"""
from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["KAPPA", "NU", "COLLOCATION", "PROBLEMS", "Problem", "problem", "make_network",
           "burgers_reference"]

#: heat diffusivity, Burgers viscosity
KAPPA = 0.1
NU = 0.01 / math.pi

#: collocation -> problem dimension -> (interior points, initial points, points per boundary)
COLLOCATION = {
    "small": {1: (32, 0, 1), 2: (128, 32, 16)},
    "default": {1: (64, 0, 1), 2: (256, 64, 32)},
}


class Problem:
    """One PDE problem: domain, residual, conditions, exact or reference solution.

    Attributes
    ----------
    name : str
    dim : int
        1 for ``(x,)``, 2 for ``(x, t)``.
    bounds : tuple
        ``((x_lo, x_hi),)`` or ``((x_lo, x_hi), (0, t_hi))``.
    """

    def __init__(self, name, dim, bounds, residual, initial=None):
        self.name, self.dim, self.bounds = name, dim, bounds
        self._residual, self._initial = residual, initial

    # ------------------------------------------------------------ points
    def points(self, seed: int, collocation: str = "default") -> dict:
        """Seeded collocation points: ``interior``, ``boundary`` (with ``boundary_values``)
        as float64 tensors; interior and boundary times uniform, drawn by a
        ``torch.Generator`` seeded with ``seed`` (so the points depend on the seed only)."""
        import torch
        if collocation not in COLLOCATION:
            raise ValueError(f"collocation must be one of {sorted(COLLOCATION)}, "
                             f"got {collocation!r}")
        n_r, n_0, n_b = COLLOCATION[collocation][self.dim]
        gen = torch.Generator().manual_seed(int(seed) + 7919 * (1 + list(PROBLEMS).index(
            self.name)))
        lo = torch.tensor([b[0] for b in self.bounds], dtype=torch.float64)
        hi = torch.tensor([b[1] for b in self.bounds], dtype=torch.float64)
        interior = lo + (hi - lo) * torch.rand(n_r, self.dim, generator=gen, dtype=torch.float64)
        (x_lo, x_hi) = self.bounds[0]
        if self.dim == 1:
            boundary = torch.tensor([[x_lo], [x_hi]], dtype=torch.float64)
            values = torch.zeros(2, dtype=torch.float64)
        else:
            t_hi = self.bounds[1][1]
            x0 = x_lo + (x_hi - x_lo) * torch.rand(n_0, generator=gen, dtype=torch.float64)
            init = torch.stack([x0, torch.zeros_like(x0)], dim=1)
            tb = t_hi * torch.rand(2 * n_b, generator=gen, dtype=torch.float64)
            xb = torch.cat([torch.full((n_b,), x_lo, dtype=torch.float64),
                            torch.full((n_b,), x_hi, dtype=torch.float64)])
            sides = torch.stack([xb, tb], dim=1)
            boundary = torch.cat([init, sides])
            values = torch.cat([self._initial(x0), torch.zeros(2 * n_b, dtype=torch.float64)])
        return {"interior": interior, "boundary": boundary, "boundary_values": values}

    # ------------------------------------------------------------ loss
    def residual(self, u_fn, z):
        r"""The equation's residual :math:`r(z)` of ``u_fn`` (a map of an ``(n, dim)``
        tensor to ``(n,)`` or ``(n, 1)``) at the points ``z``, by autograd."""
        import torch
        z = z.detach().clone().requires_grad_(True)
        u = u_fn(z).reshape(-1)
        du = _grad(torch, u, z)
        u_x = du[:, 0]
        u_xx = _grad(torch, u_x, z)[:, 0]
        u_t = du[:, 1] if self.dim == 2 else None
        return self._residual(z, u, u_x, u_xx, u_t)

    def loss(self, u_fn, pts: dict):
        """The PINN loss of ``u_fn`` on the points ``pts`` of :meth:`points` (a 0-d tensor)."""
        r = self.residual(u_fn, pts["interior"])
        b = u_fn(pts["boundary"]).reshape(-1) - pts["boundary_values"]
        return (r ** 2).mean() + (b ** 2).mean()

    # ------------------------------------------------------------ solution
    def test_grid(self):
        """The evaluation points (NumPy, ``(n, dim)``) and the solution there."""
        if self.dim == 1:
            x = np.linspace(*self.bounds[0], 201)
            return x[:, None], exact(self.name, x[:, None])
        return _grid_2d(self.name)

    def exact_torch(self, z):
        """The exact solution as a torch function (``poisson``, ``heat``); ``None`` for
        ``burgers``, whose reference is numerical."""
        import torch
        if self.name == "poisson":
            return torch.sin(2 * math.pi * z[:, 0])
        if self.name == "heat":
            return torch.exp(-KAPPA * math.pi ** 2 * z[:, 1]) * torch.sin(math.pi * z[:, 0])
        return None


def _grad(torch, y, z):
    """d(sum y)/dz with the graph kept; zeros where ``y`` does not depend on ``z``."""
    if not y.requires_grad:
        return torch.zeros_like(z)
    g, = torch.autograd.grad(y.sum(), z, create_graph=True, allow_unused=True)
    return torch.zeros_like(z) if g is None else g


def exact(name: str, z) -> np.ndarray:
    """The exact solution of ``poisson`` or ``heat`` at ``z`` (NumPy, ``(n, dim)``)."""
    z = np.asarray(z, dtype=float)
    if name == "poisson":
        return np.sin(2 * np.pi * z[:, 0])
    if name == "heat":
        return np.exp(-KAPPA * np.pi ** 2 * z[:, 1]) * np.sin(np.pi * z[:, 0])
    raise ValueError(f"problem {name!r} has no closed-form solution")


@functools.lru_cache(maxsize=None)
def _grid_2d(name: str):
    x = np.linspace(*PROBLEMS[name].bounds[0], 101)
    t = np.linspace(0.0, PROBLEMS[name].bounds[1][1], 51)
    X, T = np.meshgrid(x, t, indexing="ij")
    z = np.stack([X.ravel(), T.ravel()], axis=1)
    u = burgers_reference(x, t).ravel() if name == "burgers" else exact(name, z)
    return z, u


def burgers_reference(x, t, nu: float = NU, nodes: int = 1601) -> np.ndarray:
    r"""The Cole--Hopf solution of the Burgers problem on the grid ``x`` by ``t``
    (shape ``(len(x), len(t))``), by the trapezoidal rule over
    :math:`\eta \in [-c, c]`, :math:`c = \min(3, 14\sqrt{4\nu t})`, with ``nodes``
    nodes; at :math:`t = 0` the initial condition :math:`-\sin\pi x`."""
    x = np.asarray(x, dtype=float)
    t = np.asarray(t, dtype=float)
    out = np.empty((x.size, t.size))
    for j, tj in enumerate(t):
        if tj <= 0:
            out[:, j] = -np.sin(np.pi * x)
            continue
        width = math.sqrt(4 * nu * tj)
        c = min(3.0, 14 * width)
        eta = np.linspace(-c, c, nodes)
        y = x[:, None] - eta[None, :]
        expo = -np.cos(np.pi * y) / (2 * np.pi * nu) - eta[None, :] ** 2 / (4 * nu * tj)
        w = np.exp(expo - expo.max(axis=1, keepdims=True))
        out[:, j] = -np.trapezoid(np.sin(np.pi * y) * w, eta, axis=1) / np.trapezoid(
            w, eta, axis=1)
    return out


def _poisson(z, u, u_x, u_xx, u_t):
    import torch
    return u_xx + 4 * math.pi ** 2 * torch.sin(2 * math.pi * z[:, 0])


def _heat(z, u, u_x, u_xx, u_t):
    return u_t - KAPPA * u_xx


def _burgers(z, u, u_x, u_xx, u_t):
    return u_t + u * u_x - NU * u_xx


def _sin_pi(x):
    import torch
    return torch.sin(math.pi * x)


def _minus_sin_pi(x):
    import torch
    return -torch.sin(math.pi * x)


#: name -> Problem
PROBLEMS = {
    "poisson": Problem("poisson", 1, ((0.0, 1.0),), _poisson),
    "heat": Problem("heat", 2, ((0.0, 1.0), (0.0, 1.0)), _heat, _sin_pi),
    "burgers": Problem("burgers", 2, ((-1.0, 1.0), (0.0, 1.0)), _burgers, _minus_sin_pi),
}


def problem(name: str) -> Problem:
    """The problem ``name`` (a key of :data:`PROBLEMS`)."""
    if name not in PROBLEMS:
        raise ValueError(f"problem must be one of {sorted(PROBLEMS)}, got {name!r}")
    return PROBLEMS[name]


def make_network(dim: int, seed: int, width: int, depth: int):
    """A float64 tanh network ``dim -> width (x depth) -> 1``, PyTorch's default
    initialisation drawn after ``torch.manual_seed(seed)``."""
    import torch
    torch.manual_seed(int(seed))
    layers, n_in = [], dim
    for _ in range(depth):
        layers += [torch.nn.Linear(n_in, width), torch.nn.Tanh()]
        n_in = width
    layers.append(torch.nn.Linear(n_in, 1))
    return torch.nn.Sequential(*layers).double()
