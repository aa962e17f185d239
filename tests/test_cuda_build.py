"""The generated CUDA C: it compiles with nvcc, and its kernel bodies compute what
the NumPy reference computes.

No GPU is needed. ``nvcc -c`` checks the device code of every registered method
without Custom stages (each integrator, float32 and float64). The same file
is valid host C++ (every kernel then runs as one thread of one block), so a
host build, driven by the CuPy backend's launch sequence, is compared with the
NumPy backend step for step for every registered method and integrator (float64
to 1e-12, float32 within its precision, and a batch with per-member
hyperparameters).
"""
import ctypes
import re
import shutil
import subprocess

import numpy as np
import pytest

import dynopt
from dynopt.backends._cuda_source import CUDA_NOISE, cuda_source
from dynopt.backends.codegen import program_key
from dynopt.backends.cupy_backend import LaunchBackend
from dynopt.integrators import INTEGRATORS
from dynopt.program import Custom
from dynopt.problems import rosenbrock_fun_and_grad

NVCC = shutil.which("nvcc") or ("/usr/local/bin/nvcc" if shutil.os.path.exists("/usr/local/bin/nvcc")
                                else None)
CXX = shutil.which("g++") or shutil.which("c++")


def _programs():
    out = []
    for name, method in dynopt.METHODS.items():
        for integ in ([None] if method.integrator is None else list(INTEGRATORS)):
            try:
                program = method.program(integ)
            except ValueError:
                continue
            if not any(isinstance(st, Custom) for st in program.stages):
                out.append(((name, integ), program))
    return out


def _nvcc(path, out):
    proc = subprocess.run([NVCC, "-c", "-arch=sm_80", "-Werror", "all-warnings", str(path),
                           "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
@pytest.mark.parametrize("name,dtype", [("heavy_ball", np.float32), ("nose_hoover", np.float64)])
def test_each_source_is_a_standalone_translation_unit(tmp_path, name, dtype):
    src = tmp_path / f"{name}.cu"
    src.write_text(cuda_source(dynopt.METHODS[name].program(), dtype))
    _nvcc(src, tmp_path / f"{name}.o")
    assert (tmp_path / f"{name}.o").stat().st_size > 0


@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_method_compiles_with_nvcc(tmp_path, dtype):
    programs = _programs()
    names = {m for (m, _), _ in programs}
    assert {"heavy_ball", "nose_hoover", "langevin_baoab"} <= names
    assert sum("dyn_gauss" in cuda_source(p, dtype) for _, p in programs) >= 2
    unique = {program_key(p, "cuda"): p for _, p in programs}  # identical programs share kernels
    sources = [cuda_source(p, dtype) for p in unique.values()]
    for src in sources:
        assert 'extern "C" __global__ void' in src
        other = r"\bdouble\b" if dtype == np.float32 else r"\bfloat\b"
        # no accidental mixed precision (the draws' helpers convert on purpose)
        assert not re.search(other, src.replace(CUDA_NOISE, ""))
    src = tmp_path / "all.cu"
    src.write_text("\n".join(sources))  # one translation unit: a single nvcc start-up
    _nvcc(src, tmp_path / "all.o")


class HostLauncher:
    """Runs the kernels of a host build of :func:`cuda_source` through ctypes."""

    def __init__(self, lib, dtype):
        self.lib, self.dtype = lib, np.dtype(dtype)

    def shape(self, x):
        return x.shape

    def param(self, value, batch):
        return np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=self.dtype).reshape(-1),
                                                    (batch,)))

    def state(self, value, cls, batch, n):
        a = np.asarray(value, dtype=self.dtype)
        if cls == "vec":
            return np.ascontiguousarray(a)
        return np.ascontiguousarray(np.broadcast_to(a.reshape(-1, 1) if a.ndim else a, (batch, 1)))

    def launch(self, step, ins, batch, n):
        ptr = lambda a: ctypes.c_void_p(a.ctypes.data)  # noqa: E731
        ins = [np.ascontiguousarray(a, dtype=self.dtype) for a in ins]
        fn = getattr(self.lib, step.name)
        if step.kind == "map":
            m = n if step.domain == "vec" else 1
            outs = [np.empty((batch, m), dtype=self.dtype) for _ in step.outputs]
            fn(*map(ptr, ins), *map(ptr, outs), ctypes.c_longlong(m), ctypes.c_longlong(batch * m))
            return outs
        out = np.empty((batch, 1), dtype=self.dtype)
        fn(*map(ptr, ins), ptr(out), ctypes.c_longlong(n), ctypes.c_longlong(batch))
        return [out]

    def to_host(self, value):
        return value

    def from_host(self, value):
        return np.asarray(value, dtype=self.dtype)


def _cases():
    out = []
    for name, method in dynopt.METHODS.items():
        for integ in ([None] if method.integrator is None else list(INTEGRATORS)):
            try:
                method.program(integ)
            except ValueError:
                continue
            out.append((name, integ))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    """``factory(program, dtype)`` for :class:`LaunchBackend`: a host build of the CUDA
    source. The sources of every registered program are built once, as one library."""
    tmp = tmp_path_factory.mktemp("host_cuda")
    libs: dict = {}

    def build(sources, label):
        src = tmp / f"{label}.cu"
        src.write_text("\n".join(sources))
        out = tmp / f"{label}.so"
        subprocess.run([CXX, "-shared", "-fPIC", "-O1", "-x", "c++", str(src), "-o", str(out)],
                       check=True, capture_output=True)
        return ctypes.CDLL(str(out))

    programs = {}
    for name, integ in CASES:
        program = dynopt.METHODS[name].program(integ)
        programs[program_key(program, "cuda")] = program
    shared = build([cuda_source(p, np.float64) for p in programs.values()], "all")

    def factory(program, dtype):
        source = cuda_source(program, dtype)
        names = re.findall(r'extern "C" __global__ void (\w+)\(', source)
        if np.dtype(dtype) == np.float64 and all(hasattr(shared, nm) for nm in names):
            return HostLauncher(shared, dtype)
        if source not in libs:
            libs[source] = build([source], f"lib{len(libs)}")
        return HostLauncher(libs[source], dtype)

    return factory


def _host_backend(factory):
    backend = LaunchBackend(factory)
    backend.name = "host-cuda"
    return backend


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.skipif(CXX is None, reason="no host C++ compiler")
@pytest.mark.parametrize("name,integ", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_host_build_of_the_cuda_source_matches_numpy(host_build, name, integ):
    backend = _host_backend(host_build)
    x0 = np.random.default_rng(7).uniform(-1.5, 1.5, 7)
    hp = dynopt.METHODS[name].hyperparameters(integ)
    opts = {"maxiter": 40, "gtol": 0.0, "record": True, "seed": 3,
            **({"lr": 1e-4} if "lr" in hp else {}), **({"dt": 0.01} if "dt" in hp else {})}
    ref = dynopt.minimize(rosenbrock_fun_and_grad, x0, jac=True, method=name, integrator=integ,
                          options=dict(opts))
    res = dynopt.minimize(rosenbrock_fun_and_grad, x0, jac=True, method=name, integrator=integ,
                          backend=backend, options=dict(opts))
    assert (res.status, res.nit, res.nfev) == (ref.status, ref.nit, ref.nfev)
    assert _rel(res.trajectory["x"], ref.trajectory["x"]) <= 1e-12
    for key, val in ref.state.items():
        assert np.allclose(res.state[key], val, rtol=1e-12, atol=1e-300), key


@pytest.mark.skipif(CXX is None, reason="no host C++ compiler")
@pytest.mark.parametrize("name", ["heavy_ball", "adam"])
def test_host_build_float32_within_its_precision(host_build, name):
    backend = _host_backend(host_build)
    x0 = np.random.default_rng(7).uniform(-1.5, 1.5, 7)
    opts = {"maxiter": 40, "gtol": 0.0, "lr": 1e-4}
    ref = dynopt.minimize(rosenbrock_fun_and_grad, x0, jac=True, method=name, options=dict(opts))
    np32 = dynopt.minimize(rosenbrock_fun_and_grad, x0, jac=True, method=name,
                           options=dict(opts, dtype="float32"))
    res = dynopt.minimize(rosenbrock_fun_and_grad, x0, jac=True, method=name, backend=backend,
                          options=dict(opts, dtype="float32"))
    assert res.x.dtype == np.float32
    assert _rel(res.x, ref.x) <= 10 * _rel(np32.x, ref.x) + 50 * np.finfo(np.float32).eps


@pytest.mark.skipif(CXX is None, reason="no host C++ compiler")
def test_host_build_batched_with_per_member_hyperparameters(host_build):
    """The launch sequence of the CuPy backend on a batch with one ``lr`` per member
    equals the runs one by one."""
    backend = _host_backend(host_build)
    X = np.random.default_rng(2).uniform(-1.5, 1.5, (3, 7))
    lrs = np.array([1e-4, 3e-4, 2e-2])  # the last one diverges
    opts = {"maxiter": 40, "gtol": 0.0, "lr": lrs, "divergence": 1e3}
    res = dynopt.minimize(rosenbrock_fun_and_grad, X, jac=True, method="fanos",
                          backend=backend, options=dict(opts))
    assert res.x.shape == (3, 7) and res.status.shape == (3,)
    for b in range(3):
        one = dynopt.minimize(rosenbrock_fun_and_grad, X[b], jac=True, method="fanos",
                              options=dict(opts, lr=float(lrs[b])))
        assert (res.status[b], res.nit[b]) == (one.status, one.nit)
        assert _rel(res.x[b], one.x) <= 1e-12
