"""What a plain ``pip install`` gets: runtime dependencies and what importing the package pulls in."""
from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import numpy as np

from undouble.hashes import compute_hashes

ROOT = Path(__file__).resolve().parents[1]


def test_scipy_is_a_test_dependency_only():
    """SciPy (about 0.5 s to import) is only the tests' reference; the package must not need it."""
    declared = requires("undouble") or []  # the installed metadata, as pip reads it
    runtime = [re.split(r"[<>=!~ ;\[]", dep, maxsplit=1)[0].lower() for dep in declared if "extra ==" not in dep]
    assert "numba" in runtime and "scipy" not in runtime, runtime
    assert any(dep.lower().startswith("scipy") and 'extra == "test"' in dep for dep in declared), declared


def test_phash_runs_without_scipy():
    """In a process where ``import scipy`` fails, as after a plain install, phash still works and matches.

    (rocket-fft imports scipy.fft when it can; the package itself must not need it.)
    """
    code = ("import sys\n"
            "sys.modules['scipy'] = None  # any 'import scipy...' now raises ImportError\n"
            "import numpy as np\n"
            "from undouble.hashes import compute_hashes\n"
            "img = np.random.default_rng(3).integers(0, 256, (2, 64, 48, 3), dtype=np.uint8)\n"
            "batch = compute_hashes(img, 'phash')\n"
            "print(batch.hex(0), batch.hex(1), 'scipy.fft' in sys.modules and sys.modules['scipy.fft'] is not None)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    first, second, scipy_loaded = proc.stdout.split()
    img = np.random.default_rng(3).integers(0, 256, (2, 64, 48, 3), dtype=np.uint8)
    expected = compute_hashes(img, "phash")
    assert (first, second) == (expected.hex(0), expected.hex(1))
    assert scipy_loaded == "False"
