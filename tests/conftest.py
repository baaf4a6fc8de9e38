import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# First, so its torchvision shim is active before mmdet/mmpretrain import it.
import mmvit_backbones  # noqa: E402,F401

SHARED = ROOT.parent / 'shared'


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def paper_tables():
    """The papers' params/FLOPs/metrics (../shared/paper_tables.yaml)."""
    yaml = pytest.importorskip('yaml')
    path = Path(os.environ.get('MMVIT_PAPER_TABLES',
                               SHARED / 'paper_tables.yaml'))
    return yaml.safe_load(path.read_text())
