"""The shared stack fixtures (support/courier_fixtures.py) for the Iris suite."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from courier_fixtures import *  # noqa: E402,F401,F403
