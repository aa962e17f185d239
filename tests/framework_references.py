"""What the PyTorch and JAX adapter tests compare with: two objectives in NumPy and the
trajectory of ``dynopt.minimize`` on them (imported by test_torch.py and test_optax.py)."""
import numpy as np

import dynopt

#: steps of every compared run, and the relative tolerance of "equal to round-off"
STEPS = 200
RTOL = 1e-12


def rosen_np(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def rosen_der_np(x):
    d = np.zeros_like(x)
    d[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    d[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return d


# an ill-conditioned quadratic 0.5 x'Ax - b'x in 6 dimensions
A = np.diag(np.geomspace(0.5, 20.0, 6))
A[0, 1] = A[1, 0] = 0.3
B = np.linspace(-1.0, 2.0, 6)


def quad_np(x):
    return float(0.5 * x @ A @ x - B @ x)


def quad_der_np(x):
    return A @ x - B


def minimize_run(method, x0, hp, problem="quad", steps=STEPS, seed=None, integrator=None,
                 **flags):
    """The iterates ``x_0 .. x_steps`` of ``dynopt.minimize`` (NumPy backend)."""
    fun, jac = (quad_np, quad_der_np) if problem == "quad" else (rosen_np, rosen_der_np)
    options = {"maxiter": steps, "gtol": 0, "record": True, **hp, **flags}
    if seed is not None:
        options["seed"] = seed
    res = dynopt.minimize(fun, x0, jac=jac, method=method, integrator=integrator,
                          options=options)
    X = res.trajectory["x"]
    assert X.shape == (steps + 1, len(x0)), "the reference run stopped early"
    return X


def assert_same(traj, ref, rtol=RTOL):
    scale = np.max(np.abs(ref))
    np.testing.assert_allclose(traj, ref, rtol=rtol, atol=rtol * scale)
