"""The generated CUDA C: it compiles with nvcc, and its kernel bodies compute what
the NumPy reference computes.

No GPU is needed. ``nvcc -c`` checks the device code of every registered method
without Custom stages (each integrator, float32 and float64). The same file
is valid host C++ (every kernel then runs as one thread of one block), so a
host build, driven by the CuPy backend's launch sequence, is compared with the
NumPy backend step for step.
"""
import ctypes
import re
import shutil
import subprocess

import numpy as np
import pytest

import dynopt
from dynopt.backends._cuda_source import cuda_source
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
    if True:
        src = tmp_path / f"{name}.cu"
        src.write_text(cuda_source(dynopt.METHODS[name].program(), dtype))
        _nvcc(src, tmp_path / f"{name}.o")
        assert (tmp_path / f"{name}.o").stat().st_size > 0


@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_method_compiles_with_nvcc(tmp_path, dtype):
    programs = _programs()
    names = {m for (m, _), _ in programs}
    assert {"heavy_ball", "nose_hoover"} <= names
    unique = {program_key(p, "cuda"): p for _, p in programs}  # identical programs share kernels
    sources = [cuda_source(p, dtype) for p in unique.values()]
    for src in sources:
        assert 'extern "C" __global__ void' in src
        other = r"\bdouble\b" if dtype == np.float32 else r"\bfloat\b"
        assert not re.search(other, src)  # no accidental mixed precision
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


@pytest.mark.skipif(CXX is None, reason="no host C++ compiler")
@pytest.mark.parametrize("name,integ", [("heavy_ball", None), ("nose_hoover", "velocity_verlet"),
                                        ("fanos", None), ("adam", None), ("fire", None),
                                        ("frankenstein", None)])
def test_host_build_of_the_cuda_source_matches_numpy(tmp_path, name, integ):
    if name not in dynopt.METHODS:
        pytest.skip(f"{name} not registered")

    def factory(program, dtype):
        src = tmp_path / f"k_{np.dtype(dtype).name}.cu"
        src.write_text(cuda_source(program, dtype))
        lib = tmp_path / f"k_{np.dtype(dtype).name}.so"
        subprocess.run([CXX, "-shared", "-fPIC", "-O1", "-x", "c++", str(src), "-o", str(lib)],
                       check=True, capture_output=True)
        return HostLauncher(ctypes.CDLL(str(lib)), dtype)

    backend = LaunchBackend(factory)
    backend.name = "host-cuda"
    x0 = np.random.default_rng(7).uniform(-1.5, 1.5, 7)
    hp = dynopt.METHODS[name].hyperparameters(integ)
    opts = {"maxiter": 40, "gtol": 0.0, "record": True, **({"lr": 1e-4} if "lr" in hp else {}),
            **({"dt": 0.01} if "dt" in hp else {})}
    ref = dynopt.minimize(rosenbrock_fun_and_grad, x0, jac=True, method=name, integrator=integ,
                          options=dict(opts))
    res = dynopt.minimize(rosenbrock_fun_and_grad, x0, jac=True, method=name, integrator=integ,
                          backend=backend, options=dict(opts))
    assert (res.status, res.nit) == (ref.status, ref.nit)
    scale = np.max(np.abs(ref.trajectory["x"]))
    assert np.max(np.abs(res.trajectory["x"] - ref.trajectory["x"])) <= 1e-10 * scale
    for key, val in ref.state.items():
        assert np.allclose(res.state[key], val, rtol=1e-10, atol=1e-300), key
