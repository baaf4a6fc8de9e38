import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# The repository (for tools/) and this folder (the *_helpers modules shared
# by the test folders, which mirror the package's).
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Registers the backbones for the tests that build them by name.
import mmvit_backbones  # noqa: E402,F401

from repo_helpers import load_script  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def paper_tables():
    """The papers' params/FLOPs/metrics (reference/paper_numbers/), merged
    by the model-zoo tool's reader."""
    return load_script('tools/misc/model_zoo.py').load_paper_tables()
