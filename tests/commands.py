"""The `fashion` command as a subprocess argv prefix: the installed CLI in this interpreter."""

import sys

FASHION = [sys.executable, "-m", "fashion_model.flows.cli"]
