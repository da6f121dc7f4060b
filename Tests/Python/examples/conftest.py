"""The whole-stack fixtures (support/courier_web.py) for the tests of the client examples."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from courier_web import *  # noqa: E402,F401,F403
