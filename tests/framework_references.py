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


def printer_check_method(name, reads_f=False):
    """A method written for the printer tests: every reduction, Piecewise with And/Or/Not,
    Max/Min with number arguments, exp/log/tanh/Abs/sign and symbol-free constants, a
    temporary carried over the gradient and a scalar state; with ``reads_f`` its initial
    value and its last branch read the objective value too."""
    import sympy as sp

    from dynopt.methods import Method
    from dynopt.program import Elementwise, Gradient, Reduce, Scalar, StepProgram, f, g, k, x
    v, s, lr = sp.symbols("v s lr", real=True)
    mu, mx, mn, tot, w, gate = sp.symbols("mu mx mn tot w gate", real=True)
    s0 = sp.sqrt(2) * lr + (f / 10**4 if reads_f else 0)
    grows = sp.And(tot > 0, f > 0) if reads_f else tot > 0

    def build(integrator=None):
        return StepProgram(
            name, vectors={v: 0}, scalars={s: s0}, params={lr: 0.05},
            stages=[
                Reduce(mu, g, "mean"), Reduce(mx, sp.Abs(g), "max"), Reduce(mn, g * v, "min"),
                Scalar([(gate, sp.Piecewise(
                    (1, sp.And(mn < 0, sp.Or(k < 3, sp.Not(mx > 10)))),
                    (sp.Rational(1, 2), sp.Eq(k, 5)), (sp.pi / 8, True))),
                        (s, sp.Max(sp.Min(s * sp.exp(-mu**2 / 100), 1), sp.Float(1e-3)))]),
                Elementwise([(w, sp.tanh(g - mu) + sp.sign(v) * sp.log(1 + v**2)),
                             (v, gate * v - s * w - (mx + mn) * g / 10**4),
                             (x, x + sp.Max(-0.1, sp.Min(v, 0.1)))]),
                Gradient(),
                Reduce(tot, w * g, "sum"),
                Scalar([(s, sp.Piecewise((s * sp.E / 2, grows), (s, True)))]),
            ])

    return Method(name, build)


def other_integrators(name):
    """The integrators a method derived from a continuous system runs under, besides its
    own: those that apply to its system (none for a method with a fixed rule)."""
    from dynopt.integrators import INTEGRATORS
    from dynopt.stepper import resolve_program
    own = dynopt.METHODS[name].integrator
    if own is None:
        return []
    out = []
    for integrator in INTEGRATORS:
        if integrator == own:
            continue
        try:
            resolve_program(name, integrator)
        except ValueError:      # the integrator does not apply to the system
            continue
        out.append(integrator)
    return out
