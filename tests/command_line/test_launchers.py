"""The torchrun launcher behind tools/dist_train.sh and tools/dist_test.sh."""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('preset, expected', [(None, '1'), ('3', '3')])
def test_every_process_gets_its_thread_counts(tmp_path, preset, expected):
    """MMEngine warns in every process of a distributed run that it sets
    MKL_NUM_THREADS to 1 unless the variable is set; the launcher sets it
    as torchrun sets OMP_NUM_THREADS, and keeps a value the user chose."""
    script = tmp_path / 'threads.py'
    script.write_text(
        'import os, sys\n'
        'rank = os.environ["RANK"]\n'
        f'with open(sys.argv[1] + rank, "w") as f:\n'
        '    f.write(os.environ.get("OMP_NUM_THREADS", "") + " " +\n'
        '            os.environ.get("MKL_NUM_THREADS", ""))\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ('MKL_NUM_THREADS', 'OMP_NUM_THREADS')}
    if preset is not None:
        env['MKL_NUM_THREADS'] = preset
    env['PORT'] = '29517'
    out = tmp_path / 'rank'
    done = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_launch.sh'), str(script), '2',
         str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for rank in '01':
        assert (tmp_path / f'rank{rank}').read_text() == f'1 {expected}'
