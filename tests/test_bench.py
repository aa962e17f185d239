"""The benchmark's bookkeeping: bytes per step, the targets table, option errors."""
import pytest

import dynopt
from dynopt import bench


def test_step_bytes_counts_each_array_once():
    n = 1000
    # heavy ball reads x, v, g and writes x, v
    assert bench.step_bytes(dynopt.METHODS["heavy_ball"].program(), n) == 5 * n * 8
    # Adam reads x, m, v, g and writes x, m, v; float32 halves the traffic
    adam = dynopt.METHODS["adam"].program()
    assert bench.step_bytes(adam, n) == 7 * n * 8
    assert bench.step_bytes(adam, n, itemsize=4) == 7 * n * 4


def _report(of_bound, speedup, ratio, whole, warm, process, sizes=(1000, 10**7)):
    steps = [{"method": m, "n": n, "of_bound": of_bound, "speedup": speedup}
             for m in bench.METHODS for n in sizes]
    return {"sizes": list(sizes), "steps": steps,
            "torch": [{"n": n, "ratio": ratio} for n in sizes],
            "whole_run": {"method": "fanos", "n": 100, "steps": 3000, "speedup": whole},
            "compile": [{"method": "adam", "warm": warm, "warm_run": warm,
                         "warm_process": process}]}


def test_targets_met_and_missed():
    good = bench.check_targets(_report(0.9, 5.0, 1.2, 60.0, 0.3, 0.9))
    assert good and all(t["met"] is True for t in good)
    bad = {t["target"]: t for t in bench.check_targets(_report(0.7, 2.0, 0.9, 40.0, 1.5, 2.0))}
    assert all(t["met"] is False for t in bad.values())
    assert bad["fanos N=1e7: Numba step / streaming bound"]["value"] == 0.7


def test_targets_not_measured_away_from_their_configuration():
    report = _report(0.9, 5.0, 1.2, 60.0, 0.3, 0.9, sizes=(1000,))
    report["whole_run"]["steps"] = 300  # --quick
    report["torch"] = None
    targets = {t["target"]: t for t in bench.check_targets(report)}
    assert targets["adam N=1e7: Numba step / streaming bound"]["met"] is None
    assert targets["whole run FANoS Rosenbrock-100D x 3000: NumPy / compiled"]["met"] is None
    assert targets["adam N=1e+03: torch fused Adam time / dynopt Adam time"]["met"] is None


@pytest.mark.parametrize("argv", [["--sizes", "1e3,abc"], ["--sizes", "0"], ["--threads", "0"]])
def test_bad_options_exit_with_a_message(argv, capsys):
    with pytest.raises(SystemExit):
        bench.main(argv)
    assert "--" in capsys.readouterr().err
