"""The converter pipeline as a whole: what every family's spec provides, the
package boundary, and the one safe loader for both source formats."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from repo_helpers import REPO
from mmvit_backbones.checkpoint import UnsafeCheckpointError, load_pdparams
from mmvit_backbones.converters import CONVERTERS


def test_models_import_nothing_from_converters():
    code = ('import sys, mmvit_backbones.models; '
            "print([m for m in sys.modules if '.converters' in m])")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True, cwd=REPO).stdout
    assert out.strip() == '[]'


@pytest.mark.parametrize('name', sorted(CONVERTERS))
def test_every_family_has_a_spec_and_a_command_line(name):
    spec = CONVERTERS[name]
    assert (REPO / 'tools' / 'model_converters' / f'{name}2mmvit.py').exists()
    assert spec.key_rules and spec.dropped_keys
    assert all(dropped.reason for dropped in spec.dropped_keys)
    canonical = [n for n in spec.backbone.arch_zoo
                 if n.startswith(spec.canonical_prefixes)]
    assert canonical
    for arch in canonical:
        settings = spec.backbone.arch_zoo[arch]
        weights_only = {k: v for k, v in settings.items()
                        if k in ('embed_dims', 'depths', 'num_heads')}
        assert spec.arch_name(weights_only) in canonical


def test_pdparams_reader_shares_the_torch_allow_list(tmp_path):
    """Protocol 5 pickles numpy arrays through _frombuffer (on the one
    allow-list); a call outside it is refused, naming the file."""
    arrays = {'w': np.arange(6, dtype=np.float32).reshape(2, 3)}
    path = tmp_path / 'p5.pdparams'
    with open(path, 'wb') as f:
        pickle.dump(arrays, f, protocol=5)
    assert b'_frombuffer' in path.read_bytes()
    assert np.array_equal(load_pdparams(str(path))['w'], arrays['w'])

    for payload, refused in ((os.system, f'{os.system.__module__}.system'),
                             (GetattrPayload(), 'getattr(')):
        with open(path, 'wb') as f:
            pickle.dump({'w': payload}, f)
        with pytest.raises(UnsafeCheckpointError) as error:
            load_pdparams(str(path))
        assert str(path) in str(error.value)
        assert refused in str(error.value)


class GetattrPayload:
    """Pickles as ``getattr(numpy.ndarray, 'tofile')``: only the statistics
    methods of HistoryBuffer may be fetched that way."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


@pytest.mark.parametrize('name', sorted(CONVERTERS))
def test_a_missing_source_is_named_in_one_line(name, tmp_path):
    missing = tmp_path / 'no-such-file.pth'
    done = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'model_converters' /
                             f'{name}2mmvit.py'), str(missing),
         str(tmp_path / 'out.pth')], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.strip() == f'{missing}: no such file'
    assert not (tmp_path / 'out.pth').exists()
