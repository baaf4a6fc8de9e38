"""Regenerate the model zoo from the configs and the papers' numbers.

Writes ``docs/model_zoo.md``, one ``configs/<family>/metafile.yml`` per
family in OpenMMLab's model-index format (what ``mim`` reads) and the root
``model-index.yml`` that imports them. For every config the whole model's
parameters and FLOPs (multiply-adds, counted by
``mmvit_backbones.utils.complexity.model_complexity``, as
``tools/analysis_tools/get_flops.py`` does) at the input size its paper used
stand next to the paper's numbers and metrics from
``reference/paper_numbers/<family>.yaml`` (read by :func:`load_paper_tables`).

No model was trained here and no weights are released: the metrics are the
papers' reported numbers for the authors' own models.

Counting a detector's FLOPs at 800x1280 takes tens of seconds to minutes on
a CPU, so the counts are kept in ``docs/model_zoo.json``, keyed by a hash of
what determines them (the resolved ``model`` config, the default scope and
the input shape). A run counts only configs whose model has no stored count;
two configs with the same model (1x and 3x schedules) share one. Parameters
(seconds per model) are counted for every config first; FLOPs follow, the
configs of paper rows first, and ``--params-only`` skips them. A model whose
FLOPs are not counted yet shows 'not counted' and the docs say how many
are missing.

Examples::

    # count the configs whose model changed, write every file
    python tools/misc/model_zoo.py
    # count only these (others keep their stored counts)
    python tools/misc/model_zoo.py --configs 'configs/focal/*'
    # parameters of every config now, FLOPs later
    python tools/misc/model_zoo.py --params-only
    # count nothing; exit 1 if a generated file is out of date
    python tools/misc/model_zoo.py --check
    # count the selected configs again (after a change of the backbone code)
    python tools/misc/model_zoo.py --force --configs 'configs/focal/*'
"""
import argparse
import fnmatch
import functools
import hashlib
import json
import math
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import yaml
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import mmvit_backbones  # noqa: E402,F401  (registers the backbones)
from mmvit_backbones.analysis import (  # noqa: E402
    model_complexity, model_params)
from mmvit_backbones.utils.config import (  # noqa: E402
    package_config_lookups_cached)

CONFIG_ROOT = REPO / 'configs'
ZOO_DOC = REPO / 'docs' / 'model_zoo.md'
COUNTS_FILE = REPO / 'docs' / 'model_zoo.json'
MODEL_INDEX = REPO / 'model-index.yml'
PAPER_NUMBERS = REPO / 'reference' / 'paper_numbers'
GENERATED_BY = 'tools/misc/model_zoo.py'


@dataclass(frozen=True)
class Paper:
    """The paper a variant family comes from (a model-index Collection)."""
    collection: str
    title: str
    url: str
    readme: str


# Variant prefix (the part of ``<prefix>-<arch>`` in config names) -> paper.
PAPERS = {
    'maformer':
    Paper(
        'MAFormer', 'MAFormer: A Transformer Network with Multi-scale '
        'Attention Fusion for Visual Recognition',
        'https://arxiv.org/abs/2209.01620', 'docs/maformer.md'),
    'crossformer':
    Paper(
        'CrossFormer', 'CrossFormer: A Versatile Vision Transformer Hinging '
        'on Cross-scale Attention', 'https://arxiv.org/abs/2108.00154',
        'docs/crossformer.md'),
    'crossformerpp':
    Paper(
        'CrossFormer++', 'CrossFormer++: A Versatile Vision Transformer '
        'Hinging on Cross-scale Attention',
        'https://arxiv.org/abs/2303.06908', 'docs/crossformer.md'),
    'focal':
    Paper(
        'Focal Transformer', 'Focal Self-attention for Local-Global '
        'Interactions in Vision Transformers',
        'https://arxiv.org/abs/2107.00641', 'docs/focal.md'),
    'mixformer':
    Paper(
        'MixFormer', 'MixFormer: Mixing Features across Windows and '
        'Dimensions', 'https://arxiv.org/abs/2204.02557',
        'docs/mixformer.md'),
}
# configs/<folder> -> section title in docs/model_zoo.md.
FAMILIES = {
    'maformer': 'MAFormer',
    'crossformer': 'CrossFormer and CrossFormer++',
    'focal': 'Focal Transformer',
    'mixformer': 'MixFormer',
}
ARCH_ORDER = ('t', 's', 'b', 'l', 'h')


@dataclass(frozen=True)
class Dataset:
    """A benchmark: its name and the paper metric keys it reports.

    Attributes:
        name (str): Dataset name in the metafiles.
        metrics (dict): Metric key in the paper tables -> (model-index
            Task, metric name, label in docs/model_zoo.md).
    """
    name: str
    metrics: Dict[str, Tuple[str, str, str]]


IMAGENET = Dataset('ImageNet-1k', {
    'top1': ('Image Classification', 'Top 1 Accuracy', 'top-1'),
})
COCO = Dataset('COCO', {
    'box': ('Object Detection', 'box AP', 'box AP'),
    'mask': ('Instance Segmentation', 'mask AP', 'mask AP'),
})
ADE20K = Dataset('ADE20K', {
    'miou': ('Semantic Segmentation', 'mIoU', 'mIoU'),
    'ms': ('Semantic Segmentation', 'mIoU(ms)', 'multi-scale mIoU'),
})


@dataclass(frozen=True)
class ConfigKind:
    """One kind of config, recognised by its file name.

    Attributes:
        title (str): Table title in docs/model_zoo.md.
        pattern (str): File stem with ``{variant}`` (``focal-t``,
            ``crossformerpp-s``, ``mixformer-b4``) and ``{batch}``
            (``8xb128``) placeholders.
        paper_table (tuple[str] | None): Key path of the matching table in
            the paper tables; None where the papers have none.
        dataset (Dataset): The benchmark.
        input_shape (tuple[int, int]): ``(H, W)`` at which the papers count
            FLOPs (mmseg tests ADE20K at scale (2048, 512), i.e. 4 W : 1 H).
    """
    title: str
    pattern: str
    paper_table: Optional[Tuple[str, ...]]
    dataset: Dataset
    input_shape: Tuple[int, int]

    @functools.cached_property
    def regex(self) -> re.Pattern:
        """Regex of the file stem, capturing the variant."""
        prefixes = '|'.join(sorted(PAPERS, key=len, reverse=True))
        parts = re.split(r'(\{variant\}|\{batch\})', self.pattern)
        fields = {
            '{variant}': rf'(?P<variant>(?:{prefixes})-[a-z0-9]+)',
            '{batch}': r'\d+xb\d+',
        }
        return re.compile(''.join(fields.get(p, re.escape(p)) for p in parts))


COCO_SHAPE = (800, 1280)
# The one table from config names to paper tables; docs/model_zoo.md lists
# the tables in this order.
CONFIG_KINDS = (
    ConfigKind('ImageNet-1k classification', '{variant}_{batch}_in1k',
               ('classification', ), IMAGENET, (224, 224)),
    ConfigKind('COCO, RetinaNet 1x', 'retinanet_{variant}_1x_coco',
               ('coco', 'retinanet_1x'), COCO, COCO_SHAPE),
    ConfigKind('COCO, RetinaNet 3x multi-scale',
               'retinanet_{variant}_ms-3x_coco', ('coco', 'retinanet_3x_ms'),
               COCO, COCO_SHAPE),
    ConfigKind('COCO, Mask R-CNN 1x', 'mask-rcnn_{variant}_1x_coco',
               ('coco', 'mask-rcnn_1x'), COCO, COCO_SHAPE),
    ConfigKind('COCO, Mask R-CNN 3x multi-scale',
               'mask-rcnn_{variant}_ms-3x_coco', ('coco', 'mask-rcnn_3x_ms'),
               COCO, COCO_SHAPE),
    ConfigKind('COCO, Cascade Mask R-CNN 3x multi-scale',
               'cascade-mask-rcnn_{variant}_ms-3x_coco',
               ('coco', 'cascade-mask-rcnn_3x_ms'), COCO, COCO_SHAPE),
    ConfigKind('COCO, HTC 1x', 'htc_{variant}_1x_coco', None, COCO,
               COCO_SHAPE),
    ConfigKind('COCO, HTC++ 3x multi-scale (400-1400)',
               'htcpp_{variant}_ms-400-1400-3x_coco', ('coco', 'htc++_3x_ms'),
               COCO, COCO_SHAPE),
    ConfigKind('ADE20K, Semantic FPN 80k',
               'fpn_{variant}_4xb4-80k_ade20k-512x512',
               ('ade20k', 'semantic-fpn_80k'), ADE20K, (512, 2048)),
    ConfigKind('ADE20K, UPerNet 160k',
               'upernet_{variant}_8xb2-160k_ade20k-512x512',
               ('ade20k', 'upernet_160k'), ADE20K, (512, 2048)),
    ConfigKind('ADE20K, UPerNet 160k, 640x640 crops',
               'upernet_{variant}_8xb2-160k_ade20k-640x640', None, ADE20K,
               (640, 2560)),
)
# Paper rows whose config is not the one its table's pattern names:
# (table key path..., variant) -> config stem.
PAPER_ROW_CONFIGS = {
    # Focal-L's UPerNet row is the 640x640 recipe (focal T6, IN-22K).
    ('ade20k', 'upernet_160k', 'focal-l'):
    'upernet_focal-l_8xb2-160k_ade20k-640x640',
}
# Demo configs on the bundled synthetic data: listed, not counted.
DEMO_SUFFIXES = ('_mini-coco', '_mini-ade20k', '_mini-imagenet')
# CrossFormer section 3.3's detection group sizes. The paper's first-
# generation dense rows come in pairs; ``alt_*`` is the member with these.
DETECTION_GROUP_SIZES = [14, 14, 7, 7]


@dataclass(frozen=True)
class Erratum:
    """A paper number that is evidently a copy error, and its correction."""
    params: Callable[[dict], float]
    reason: str


PAPER_ERRATA = {
    ('coco', 'retinanet_1x', 'crossformerpp-s'):
    Erratum(
        params=lambda tables: (tables['coco']['mask-rcnn_1x'][
            'crossformerpp-s']['params'] - tables['coco']['mask-rcnn_1x'][
                'crossformer-s']['params'] + tables['coco']['retinanet_1x'][
                    'crossformer-s']['params']),
        reason='Table III repeats the CrossFormer-S row (40.8 M, 272.1 G) '
        'for CrossFormer++-S; its own Mask R-CNN count minus the Mask R-CNN '
        '/ RetinaNet difference the paper gives for CrossFormer-S is '
        '43.0 - (50.2 - 40.8) = 33.6 M (docs/crossformer.md)'),
}


@dataclass(frozen=True)
class PaperRow:
    """The paper's numbers for one config.

    Attributes:
        key (tuple[str, ...]): Table key path and variant in the paper
            tables.
        numbers (dict): params (M), flops (G) and metrics, with the
            ``alt_*`` member of a pair substituted where it applies.
        source (str): The table the numbers come from.
        alternate (bool): Whether the ``alt_*`` member was used.
    """
    key: Tuple[str, ...]
    numbers: Dict[str, float]
    source: str
    alternate: bool

    @property
    def params(self) -> float:
        """Parameters in millions (the exact public count where given)."""
        return self.numbers.get('exact', self.numbers['params'])


@dataclass(frozen=True)
class ZooConfig:
    """One config file, resolved.

    Attributes:
        path (str): Path relative to the repository, ``configs/<f>/<n>.py``.
        family (str): Folder under configs/.
        kind (ConfigKind): Its kind.
        variant (str): ``<prefix>-<arch>``.
        cfg (Config): The loaded config.
    """
    path: str
    family: str
    kind: ConfigKind
    variant: str
    cfg: Config

    @property
    def name(self) -> str:
        """File stem, the model-index Name."""
        return Path(self.path).stem

    @property
    def paper(self) -> Paper:
        """The variant's paper."""
        return PAPERS[self.variant.rsplit('-', 1)[0]]

    @functools.cached_property
    def count_key(self) -> str:
        """Hash of what determines params and FLOPs: model, scope, shape."""
        text = json.dumps(
            dict(
                model=self.cfg.model.to_dict(),
                scope=self.cfg.get('default_scope', 'mmdet'),
                shape=list(self.kind.input_shape)),
            sort_keys=True,
            default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def paper_row(self, tables: dict) -> Optional[PaperRow]:
        """The paper row this config reproduces, if any."""
        for key, stem in PAPER_ROW_CONFIGS.items():
            if stem == self.name:
                return self._row(tables, key)
        if self.kind.paper_table is None:
            return None
        key = self.kind.paper_table + (self.variant, )
        if key in PAPER_ROW_CONFIGS:
            return None
        return self._row(tables, key)

    def _row(self, tables: dict, key: Tuple[str, ...]) -> Optional[PaperRow]:
        """Row ``key`` of ``tables``, alt_* substituted for CrossFormer
        configs with the detection group sizes."""
        row = functools.reduce(lambda table, k: (table or {}).get(k), key,
                               tables)
        if row is None:
            return None
        backbone = self.cfg.model.get('backbone', {})
        alternate = (any(k.startswith('alt_') for k in row) and list(
            backbone.get('group_sizes', [])) == DETECTION_GROUP_SIZES)
        numbers = {
            k: row.get(f'alt_{k}', v) if alternate else v
            for k, v in row.items()
            if not k.startswith('alt_') and isinstance(v, (int, float))
        }
        return PaperRow(key, numbers, str(row.get('src', '')), alternate)


def config_files(root: Path = CONFIG_ROOT) -> List[Path]:
    """Every config under ``configs/<family>/`` (base folders excluded)."""
    return sorted(path for path in root.glob('*/*.py')
                  if not path.parent.name.startswith('_'))


def is_demo(path: Path) -> bool:
    """Whether ``path`` is a demo config on the bundled synthetic data."""
    return path.stem.endswith(DEMO_SUFFIXES)


def classify(stem: str) -> Optional[Tuple[ConfigKind, str]]:
    """The kind and variant of a config file stem, None if unknown."""
    for kind in CONFIG_KINDS:
        match = kind.regex.fullmatch(stem)
        if match:
            return kind, match['variant']
    return None


@functools.lru_cache(maxsize=None)
def load_config(path: str) -> Config:
    """``Config.fromfile(path)``, loaded once per process."""
    with package_config_lookups_cached():
        return Config.fromfile(str(REPO / path))


def discover(root: Path = CONFIG_ROOT) -> List[ZooConfig]:
    """All zoo configs (demo configs excluded), loaded.

    Raises:
        ValueError: If a config name matches no :data:`CONFIG_KINDS` pattern.
    """
    configs, unknown = [], []
    for path in config_files(root):
        if is_demo(path):
            continue
        kind_variant = classify(path.stem)
        if kind_variant is None:
            unknown.append(path.name)
            continue
        relative = path.relative_to(REPO).as_posix()
        configs.append(
            ZooConfig(relative, path.parent.name, *kind_variant,
                      load_config(relative)))
    if unknown:
        raise ValueError(f'configs matching no pattern of CONFIG_KINDS in '
                         f'{GENERATED_BY}: {", ".join(unknown)}')
    return configs


def load_paper_tables(folder: Path = PAPER_NUMBERS) -> dict:
    """The papers' numbers: the ``*.yaml`` files of ``folder`` (one per
    family) merged into one table, ``task -> [kind ->] variant -> row``.

    Raises:
        FileNotFoundError: If ``folder`` holds no ``.yaml`` file.
        ValueError: If two files give the same row.
    """
    paths = sorted(Path(folder).glob('*.yaml'))
    if not paths:
        raise FileNotFoundError(f'no paper numbers (*.yaml) in {folder}')
    tables: dict = {}
    for path in paths:
        _merge_rows(tables, yaml.safe_load(path.read_text()), path, ())
    return tables


def _merge_rows(into: dict, table: dict, path: Path,
                key: Tuple[str, ...]) -> None:
    """Add the rows of ``table`` (read from ``path``, at key path ``key``)
    to ``into``. A table maps names to tables or rows; a row maps names to
    numbers and the ``src`` string."""
    for name, value in table.items():
        if isinstance(value, dict) and all(
                isinstance(v, dict) for v in value.values()):
            _merge_rows(into.setdefault(name, {}), value, path,
                        key + (name, ))
        elif name in into:
            raise ValueError(f'{path}: row {"/".join(key + (name, ))} is '
                             'also in another file')
        else:
            into[name] = value


def load_counts(path: Path = COUNTS_FILE) -> Dict[str, dict]:
    """Stored counts: count key -> {params, flops, input_shape, ...}."""
    if not path.is_file():
        return {}
    return json.loads(path.read_text())['counts']


def counts_text(counts: Dict[str, dict], configs: List[ZooConfig]) -> str:
    """The counts file: entries used by ``configs``, each listing them."""
    users: Dict[str, List[str]] = {}
    for config in configs:
        users.setdefault(config.count_key, []).append(config.path)
    entries = {
        key: dict(counts[key], configs=sorted(users[key]))
        for key in sorted(users) if key in counts
    }
    return json.dumps(
        dict(
            generated_by=GENERATED_BY,
            key='sha256 of the resolved model config, default scope and '
            'input shape (first 16 hex digits)',
            counts=entries),
        indent=1) + '\n'


def has_flops(counted: Optional[dict]) -> bool:
    """Whether a stored count includes FLOPs (not just parameters)."""
    return bool(counted) and 'flops' in counted


def count(config: ZooConfig, flops: bool = True) -> dict:
    """Count params and (if ``flops``) FLOPs of ``config`` at its paper
    input size."""
    if not flops:
        return dict(params=model_params(config.cfg))
    start = time.perf_counter()
    result = model_complexity(config.cfg, config.kind.input_shape)
    return dict(
        params=result.params,
        flops=result.flops,
        input_shape=list(result.input_shape[-2:]),
        seconds=round(time.perf_counter() - start, 1))


def _fmt(value: Optional[float], digits: int) -> str:
    """``value`` with ``digits`` decimals, '—' for None."""
    return '—' if value is None else f'{value:.{digits}f}'


def _gap(ours: Optional[float], paper: Optional[float]) -> str:
    """Gap ``ours / paper - 1`` in percent, '—' if either is None."""
    if ours is None or paper is None:
        return '—'
    return f'{100 * (ours / paper - 1):+.1f} %'


def _paper_number(value: Optional[float]) -> str:
    """A paper number as the paper prints it."""
    return '—' if value is None else f'{value:g}'


def _metrics_text(config: ZooConfig, row: Optional[PaperRow]) -> str:
    """Paper metrics of ``row`` for the table, e.g. 'box AP 45.4, ...'."""
    if row is None:
        return '—'
    metrics = config.kind.dataset.metrics
    return ', '.join(f'{label} {row.numbers[key]:.1f}'
                     for key, (_, _, label) in metrics.items()
                     if key in row.numbers) or '—'


def _variant_order(variant: str) -> Tuple:
    """Sort key: family prefix, then T < S < B < L < H or B0 < B1 < ..."""
    prefix, arch = variant.rsplit('-', 1)
    rank = ARCH_ORDER.index(arch) if arch in ARCH_ORDER else len(ARCH_ORDER)
    return list(PAPERS).index(prefix), rank, arch


def _config_order(config: ZooConfig) -> Tuple:
    """Sort key of configs within a family: table order, then variant."""
    return CONFIG_KINDS.index(config.kind), _variant_order(config.variant)


def _table_row(config: ZooConfig, counted: Optional[dict],
               row: Optional[PaperRow], marks: List[str]) -> str:
    """One markdown table row."""
    params = counted and counted['params'] / 1e6
    flops = has_flops(counted) and counted['flops'] / 1e9
    paper_params = row and row.params
    paper_flops = row and row.numbers.get('flops')
    mark = ' ' + ''.join(marks) if marks else ''
    cells = [
        f'`{config.name}`{mark}',
        _fmt(params, 2) if counted else 'not counted',
        _paper_number(paper_params),
        _gap(params, paper_params),
        _fmt(flops, 2 if flops < 100 else 1) if flops else 'not counted',
        _paper_number(paper_flops),
        _gap(flops, paper_flops),
        _metrics_text(config, row),
        row.source if row else '—',
    ]
    return '| ' + ' | '.join(cells) + ' |'


ALTERNATE_MARK = '†'
ERRATUM_MARK = '✱'
DOC_HEADER = f'''# Model zoo

<!-- Generated by {GENERATED_BY}; do not edit by hand. -->

**No model in this table was trained by this project, and no weights are
released.** The parameter and FLOP counts are ours, counted on the models
the configs build. The paper columns and the metrics are the numbers each
paper reports for the authors' own trained models (from
`reference/paper_numbers/`); they are what the configs aim to reproduce, not
results of these configs.

- Params: all parameters of the built model (auxiliary heads included).
  Where the paper's classification table is rounded, the paper column shows
  the exact count of the authors' public model.
- FLOPs: multiply-adds of one inference forward at the paper's input size,
  counted by `mmvit_backbones/utils/complexity.py` (the counter of
  `tools/analysis_tools/get_flops.py`): ImageNet 224x224; COCO 800x1280
  (two-stage detectors run the RoI head on 1000 fixed proposals, cascade
  mask heads counted on 100 detections); ADE20K 512x2048 (640x2560 for
  640x640 crops), whole-image inference without auxiliary heads.
- Gap: ours / paper - 1. '—': the paper has no number for this config.
- {ALTERNATE_MARK}: CrossFormer configs with section 3.3's detection group
  sizes (G = 14, 14, 7, 7); the paper's first-generation rows come in pairs
  and these are compared with the member for those group sizes.
- The family pages (`docs/<family>.md`) explain the gaps.

Regenerate with `python {GENERATED_BY}` (counts only configs whose model
changed; `--check` verifies these files without counting).
'''
TABLE_HEADER = ('| config | params (M) | paper | gap | GFLOPs | paper | gap '
                '| paper metrics | source |\n'
                '|---|---|---|---|---|---|---|---|---|')


def render_doc(configs: List[ZooConfig], counts: Dict[str, dict],
               tables: dict, demos: Sequence[Path]) -> str:
    """The text of docs/model_zoo.md."""
    lines = [DOC_HEADER]
    uncounted = sum(not has_flops(counts.get(c.count_key)) for c in configs)
    if uncounted:
        lines.append(
            f'FLOPs of {uncounted} of the {len(configs)} configs are not '
            'counted yet (\'not counted\'): counting one takes up to a few '
            f'minutes on a CPU; `python {GENERATED_BY}` counts them, paper '
            'rows first.\n')
    errata = []
    for family, title in FAMILIES.items():
        members = sorted((c for c in configs if c.family == family),
                         key=_config_order)
        if not members:
            continue
        lines.append(f'## {title}\n')
        for kind in CONFIG_KINDS:
            rows = [c for c in members if c.kind is kind]
            if not rows:
                continue
            lines += [f'### {kind.title}\n', TABLE_HEADER]
            for config in rows:
                row = config.paper_row(tables)
                marks = []
                if row is not None and row.alternate:
                    marks.append(ALTERNATE_MARK)
                if row is not None and row.key in PAPER_ERRATA:
                    marks.append(ERRATUM_MARK)
                    errata.append((config.name, PAPER_ERRATA[row.key]))
                lines.append(
                    _table_row(config, counts.get(config.count_key), row,
                               marks))
            lines.append('')
    if errata:
        lines.append('## Paper errata\n')
        lines += [
            f'- {ERRATUM_MARK} `{name}`: {erratum.reason}; the tests compare '
            f'with {erratum.params(tables):g} M.' for name, erratum in errata
        ]
        lines.append('')
    if demos:
        lines += [
            '## Demo configs\n',
            'Configs on the bundled synthetic data (a CPU smoke test of each '
            'task); they are not paper models and are left out of the tables '
            'and the metafiles:\n'
        ]
        lines += [f'- `{path.relative_to(REPO).as_posix()}`' for path in demos]
        lines.append('')
    return '\n'.join(lines)


def _schedule(cfg: Config) -> Dict[str, int]:
    """Epochs or iterations and the total batch size of a config."""
    metadata = {}
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' in train_cfg:
        metadata['Epochs'] = train_cfg['max_epochs']
    elif 'max_iters' in train_cfg:
        metadata['Iterations'] = train_cfg['max_iters']
    batch = (cfg.get('auto_scale_lr') or {}).get('base_batch_size')
    if batch:
        metadata['Batch Size'] = batch
    return metadata


def _model_entry(config: ZooConfig, counted: Optional[dict],
                 tables: dict) -> dict:
    """The metafile entry of one config."""
    row = config.paper_row(tables)
    metadata = dict(
        {'Training Data': config.kind.dataset.name}, **_schedule(config.cfg))
    if counted:
        metadata['Parameters'] = counted['params']
    if has_flops(counted):
        metadata.update({
            'FLOPs': counted['flops'],
            'FLOPs Input Shape': 'x'.join(map(str, counted['input_shape'])),
        })
    entry = {
        'Name': config.name,
        'In Collection': config.paper.collection,
        'Config': config.path,
        'Metadata': metadata,
    }
    results = _results(config, row)
    if results:
        metadata['Results Source'] = (
            f'reported by the paper ({row.source}); not reproduced by this '
            'project, no weights')
        entry['Results'] = results
    return entry


def _results(config: ZooConfig, row: Optional[PaperRow]) -> List[dict]:
    """model-index Results (one per task) from the paper row."""
    if row is None:
        return []
    results: Dict[str, dict] = {}
    for key, (task, metric, _) in config.kind.dataset.metrics.items():
        if key in row.numbers:
            result = results.setdefault(
                task,
                dict(
                    Task=task,
                    Dataset=config.kind.dataset.name,
                    Metrics={}))
            result['Metrics'][metric] = row.numbers[key]
    return list(results.values())


METAFILE_HEADER = f'''# Generated by {GENERATED_BY}; do not edit by hand.
# Parameters and FLOPs are counted on the models these configs build.
# Results are the numbers the papers report for the authors' own models:
# these configs were not trained by this project and no weights are
# released, so no model has a Weights entry.
'''


def render_metafile(family: str, configs: List[ZooConfig],
                    counts: Dict[str, dict], tables: dict) -> str:
    """The text of configs/<family>/metafile.yml."""
    members = sorted((c for c in configs if c.family == family),
                     key=_config_order)
    papers = sorted({c.paper for c in members},
                    key=lambda p: list(PAPERS.values()).index(p))
    collections = [
        dict(
            Name=paper.collection,
            Paper=dict(Title=paper.title, URL=paper.url),
            README=paper.readme) for paper in papers
    ]
    models = [
        _model_entry(c, counts.get(c.count_key), tables) for c in members
    ]
    body = yaml.safe_dump(
        dict(Collections=collections, Models=models),
        sort_keys=False,
        allow_unicode=True,
        width=79)
    return METAFILE_HEADER + body


def render_model_index(families: Sequence[str]) -> str:
    """The text of model-index.yml."""
    imports = [f'configs/{family}/metafile.yml' for family in families]
    return (f'# Generated by {GENERATED_BY}; do not edit by hand.\n' +
            yaml.safe_dump(dict(Import=imports), sort_keys=False))


def rendered_files(configs: List[ZooConfig], counts: Dict[str, dict],
                   tables: dict) -> Dict[Path, str]:
    """Every generated file and its text."""
    families = [f for f in FAMILIES if any(c.family == f for c in configs)]
    demos = [path for path in config_files() if is_demo(path)]
    files = {
        ZOO_DOC: render_doc(configs, counts, tables, demos),
        COUNTS_FILE: counts_text(counts, configs),
        MODEL_INDEX: render_model_index(families),
    }
    for family in families:
        files[CONFIG_ROOT / family / 'metafile.yml'] = render_metafile(
            family, configs, counts, tables)
    return files


def check(configs: List[ZooConfig], tables: dict) -> List[str]:
    """Why the generated files are out of date; empty if they are not."""
    counts = load_counts()
    problems = [
        f'{c.path}: no stored count for its model (key {c.count_key})'
        for c in configs if c.count_key not in counts
    ]
    for path, text in rendered_files(configs, counts, tables).items():
        if not path.is_file() or path.read_text() != text:
            problems.append(f'{path.relative_to(REPO)} differs from what '
                            f'the configs and stored counts give')
    return problems


def write_files(configs: List[ZooConfig], counts: Dict[str, dict],
                tables: dict) -> None:
    """Write every generated file."""
    for path, text in rendered_files(configs, counts, tables).items():
        path.write_text(text)


def update_counts(configs: List[ZooConfig], patterns: Sequence[str],
                  force: bool, params_only: bool, tables: dict,
                  on_count: Callable[[Dict[str, dict]], None]
                  ) -> Dict[str, dict]:
    """Count the configs matching ``patterns`` whose model has no stored
    count (all of them with ``force``): parameters of all of them first,
    then FLOPs (paper rows first) unless ``params_only``; calls
    ``on_count(counts)`` after each model and returns the counts."""
    counts = load_counts()
    todo: Dict[str, ZooConfig] = {}
    for config in sorted(configs,
                         key=lambda c: c.paper_row(tables) is None):
        selected = not patterns or any(
            fnmatch.fnmatch(config.path, p) or fnmatch.fnmatch(config.name, p)
            for p in patterns)
        if selected and (force or not has_flops(counts.get(
                config.count_key))):
            todo.setdefault(config.count_key, config)
    if force:
        for key in todo:
            counts.pop(key, None)
    for key, config in todo.items():
        if key not in counts:
            counts[key] = count(config, flops=False)
            on_count(counts)
    if params_only:
        return counts
    for index, (key, config) in enumerate(todo.items(), 1):
        counts[key] = count(config)
        print(f'[{index}/{len(todo)}] {config.path}: '
              f'{counts[key]["params"] / 1e6:.2f} M, '
              f'{counts[key]["flops"] / 1e9:.1f} G in '
              f'{counts[key]["seconds"]:.1f} s', flush=True)
        on_count(counts)
    seconds = [counts[key]['seconds'] for key in todo]
    if seconds:
        print(f'counted {len(todo)} models in {math.fsum(seconds):.0f} s '
              f'(median {statistics.median(seconds):.1f} s)')
    return counts


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--configs',
        nargs='+',
        default=[],
        metavar='PATTERN',
        help='count only configs whose path or name matches one of these '
        'shell patterns (others keep their stored counts)')
    parser.add_argument(
        '--check',
        action='store_true',
        help='count nothing; exit 1 if a generated file is out of date')
    parser.add_argument('--force', action='store_true',
                        help='count the selected configs even if stored')
    parser.add_argument('--params-only', action='store_true',
                        help='count parameters only (FLOPs stay as stored)')
    parser.add_argument(
        '--paper-tables',
        type=Path,
        default=PAPER_NUMBERS,
        metavar='DIR',
        help='folder of the papers\' numbers, one <family>.yaml each '
        '(default: %(default)s)')
    args = parser.parse_args(argv)
    if args.check and (args.force or args.configs or args.params_only):
        parser.error('--check counts nothing: no --force, --configs or '
                     '--params-only')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    tables = load_paper_tables(args.paper_tables)
    configs = discover()
    if args.check:
        problems = check(configs, tables)
        for problem in problems:
            print(problem)
        if problems:
            print(f'run: python {GENERATED_BY}')
        return 1 if problems else 0
    # Files are rewritten after each count, so an interrupted run leaves
    # them consistent with what it counted.
    counts = update_counts(
        configs, args.configs, args.force, args.params_only, tables,
        lambda counts: write_files(configs, counts, tables))
    write_files(configs, counts, tables)
    missing = [
        c.path for c in configs if not has_flops(counts.get(c.count_key))
    ]
    if missing:
        print(f'{len(missing)} configs have no FLOPs count yet: ' +
              ', '.join(missing))
    return 0


if __name__ == '__main__':
    sys.exit(main())
