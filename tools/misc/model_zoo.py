"""Regenerate the model zoo from the configs and the papers' numbers.

Writes ``docs/model_zoo.md``, one ``configs/<family>/metafile.yml`` per
family in OpenMMLab's model-index format (what ``mim`` reads) and the root
``model-index.yml`` that imports them. For every config the whole model's
parameters and FLOPs (multiply-adds, counted by
``mmvit_backbones.analysis.model_complexity``, as
``tools/analysis_tools/get_flops.py`` does) at the input size its paper used
stand next to the paper's numbers and metrics from
``reference/paper_numbers/<family>.yaml`` (read by :func:`load_paper_tables`).

What the zoo knows about the families is data, in
``reference/model_zoo.yaml`` (read by :func:`load_zoo`, fields described in
``reference/README.md``): the families and their papers, the config kinds
(file-name pattern -> paper table, dataset, FLOPs input size), the paper rows
served by another config, which configs take a pair's ``alt_*`` row, and the
papers' errata. This script only renders it.

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
ZOO_FILE = REPO / 'reference' / 'model_zoo.yaml'
GENERATED_BY = 'tools/misc/model_zoo.py'


@dataclass(frozen=True)
class Paper:
    """The paper a variant family comes from (a model-index Collection)."""
    collection: str
    title: str
    url: str
    readme: str


@dataclass(frozen=True)
class Family:
    """A ``configs/<folder>/`` family: its section title in
    docs/model_zoo.md and its papers, by variant prefix (the part of
    ``<prefix>-<arch>`` in config names)."""
    title: str
    papers: Dict[str, Paper]


@dataclass(frozen=True)
class Metric:
    """A paper metric: model-index Task and metric name, docs label."""
    task: str
    metric: str
    label: str


@dataclass(frozen=True)
class Dataset:
    """A benchmark: its name in the metafiles and the paper metric keys it
    reports (key in the paper tables -> :class:`Metric`)."""
    name: str
    metrics: Dict[str, Metric]


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
            FLOPs.
        regex (re.Pattern): ``pattern`` as a regex capturing the variant.
    """
    title: str
    pattern: str
    paper_table: Optional[Tuple[str, ...]]
    dataset: Dataset
    input_shape: Tuple[int, int]
    regex: re.Pattern


@dataclass(frozen=True)
class AlternateRows:
    """Which configs take the ``alt_*`` member of a paper row pair: those
    whose ``backbone[backbone_key]`` is ``value``; ``legend`` explains it in
    docs/model_zoo.md (markdown lines)."""
    backbone_key: str
    value: list
    legend: str


@dataclass(frozen=True)
class Erratum:
    """A paper number that is evidently a copy error: the corrected
    ``value`` of the row's ``field``, and why."""
    field: str
    value: float
    reason: str


@dataclass(frozen=True)
class Zoo:
    """What ``reference/model_zoo.yaml`` knows (fields described in
    ``reference/README.md``); row keys are paper-table key paths ending in
    the variant, e.g. ``('coco', 'retinanet_1x', 'crossformerpp-s')``."""
    families: Dict[str, Family]
    arch_order: Tuple[str, ...]
    demo_suffixes: Tuple[str, ...]
    kinds: Tuple[ConfigKind, ...]
    row_configs: Dict[Tuple[str, ...], str]
    alternate: AlternateRows
    errata: Dict[Tuple[str, ...], Erratum]

    @property
    def papers(self) -> Dict[str, Paper]:
        """Variant prefix -> paper, in the families' order."""
        return {
            prefix: paper
            for family in self.families.values()
            for prefix, paper in family.papers.items()
        }


def kind_regex(pattern: str, prefixes: Sequence[str]) -> re.Pattern:
    """Regex of a config kind's file stem, capturing ``<prefix>-<arch>``
    as ``variant``."""
    alternatives = '|'.join(sorted(prefixes, key=len, reverse=True))
    parts = re.split(r'(\{variant\}|\{batch\})', pattern)
    fields = {
        '{variant}': rf'(?P<variant>(?:{alternatives})-[a-z0-9]+)',
        '{batch}': r'\d+xb\d+',
    }
    return re.compile(''.join(fields.get(p, re.escape(p)) for p in parts))


def _config_kinds(data: dict, prefixes: Sequence[str]
                  ) -> Tuple[ConfigKind, ...]:
    """The ``config_kinds`` of ``data`` (model_zoo.yaml), their datasets
    resolved from its ``datasets``; ``prefixes`` are the variant prefixes."""
    datasets = {
        key: Dataset(value['name'],
                     {k: Metric(**v)
                      for k, v in value['metrics'].items()})
        for key, value in data['datasets'].items()
    }
    return tuple(
        ConfigKind(
            kind['title'], kind['pattern'],
            tuple(kind['paper_table']) if kind['paper_table'] else None,
            datasets[kind['dataset']], tuple(kind['input_shape']),
            kind_regex(kind['pattern'], prefixes))
        for kind in data['config_kinds'])


def _errata(data: dict, path: Path) -> Dict[Tuple[str, ...], Erratum]:
    """Row key -> erratum, from the ``errata`` of ``data`` (read from
    ``path``)."""
    errata = {}
    for entry in data['errata']:
        if entry['field'] != 'params':
            raise ValueError(f'{path}: erratum of {entry["row"]} corrects '
                             f'{entry["field"]}; only params is compared')
        errata[tuple(entry['row'])] = Erratum(entry['field'], entry['value'],
                                              entry['reason'])
    return errata


def load_zoo(path: Path = ZOO_FILE) -> Zoo:
    """Read the model zoo's knowledge from ``path``.

    Raises:
        KeyError: If a config kind names an unknown dataset.
        ValueError: If an erratum corrects another field than ``params``
            (the only paper number the tests compare with).
    """
    data = yaml.safe_load(path.read_text())
    families = {
        folder: Family(family['title'],
                       {k: Paper(**v)
                        for k, v in family['papers'].items()})
        for folder, family in data['families'].items()
    }
    prefixes = [p for f in families.values() for p in f.papers]
    alternate = data['alternate_rows']
    return Zoo(
        families=families,
        arch_order=tuple(data['arch_order']),
        demo_suffixes=tuple(data['demo_suffixes']),
        kinds=_config_kinds(data, prefixes),
        row_configs={
            tuple(entry['row']): entry['config']
            for entry in data['row_configs']
        },
        alternate=AlternateRows(alternate['backbone_key'],
                                alternate['value'], alternate['legend']),
        errata=_errata(data, path))


ZOO = load_zoo()


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
        return ZOO.papers[self.variant.rsplit('-', 1)[0]]

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
        for key, stem in ZOO.row_configs.items():
            if stem == self.name:
                return self._row(tables, key)
        if self.kind.paper_table is None:
            return None
        key = self.kind.paper_table + (self.variant, )
        if key in ZOO.row_configs:
            return None
        return self._row(tables, key)

    def _row(self, tables: dict, key: Tuple[str, ...]) -> Optional[PaperRow]:
        """Row ``key`` of ``tables``, alt_* substituted where the config's
        backbone is the one :attr:`Zoo.alternate` names."""
        row = functools.reduce(lambda table, k: (table or {}).get(k), key,
                               tables)
        if row is None:
            return None
        backbone = self.cfg.model.get('backbone', {})
        rule = ZOO.alternate
        alternate = (any(k.startswith('alt_') for k in row) and list(
            backbone.get(rule.backbone_key, [])) == rule.value)
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
    return path.stem.endswith(ZOO.demo_suffixes)


def classify(stem: str) -> Optional[Tuple[ConfigKind, str]]:
    """The kind and variant of a config file stem, None if unknown."""
    for kind in ZOO.kinds:
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
        ValueError: If a config name matches no pattern of
            ``config_kinds`` in ``reference/model_zoo.yaml``.
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
        raise ValueError(f'configs matching no pattern of config_kinds in '
                         f'{ZOO_FILE.relative_to(REPO)}: '
                         f'{", ".join(unknown)}')
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
    return ', '.join(f'{metric.label} {row.numbers[key]:.1f}'
                     for key, metric in metrics.items()
                     if key in row.numbers) or '—'


def _variant_order(variant: str) -> Tuple:
    """Sort key: family prefix, then T < S < B < L < H or B0 < B1 < ..."""
    prefix, arch = variant.rsplit('-', 1)
    order = ZOO.arch_order
    rank = order.index(arch) if arch in order else len(order)
    return list(ZOO.papers).index(prefix), rank, arch


def _config_order(config: ZooConfig) -> Tuple:
    """Sort key of configs within a family: table order, then variant."""
    return ZOO.kinds.index(config.kind), _variant_order(config.variant)


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


def doc_header(alternate: AlternateRows) -> str:
    """The introduction of docs/model_zoo.md, ``alternate``'s legend
    included."""
    legend = '\n  '.join(alternate.legend.splitlines())
    return f'''# Model zoo

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
  counted by `mmvit_backbones/analysis/` (the counter of
  `tools/analysis_tools/get_flops.py`): ImageNet 224x224; COCO 800x1280
  (two-stage detectors run the RoI head on 1000 fixed proposals, cascade
  mask heads counted on 100 detections); ADE20K 512x2048 (640x2560 for
  640x640 crops), whole-image inference without auxiliary heads.
- Gap: ours / paper - 1. '—': the paper has no number for this config.
- {ALTERNATE_MARK}: {legend}
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
    lines = [doc_header(ZOO.alternate)]
    uncounted = sum(not has_flops(counts.get(c.count_key)) for c in configs)
    if uncounted:
        lines.append(
            f'FLOPs of {uncounted} of the {len(configs)} configs are not '
            'counted yet (\'not counted\'): counting one takes up to a few '
            f'minutes on a CPU; `python {GENERATED_BY}` counts them, paper '
            'rows first.\n')
    errata = []
    for family, spec in ZOO.families.items():
        members = sorted((c for c in configs if c.family == family),
                         key=_config_order)
        if not members:
            continue
        lines.append(f'## {spec.title}\n')
        for kind in ZOO.kinds:
            rows = [c for c in members if c.kind is kind]
            if not rows:
                continue
            lines += [f'### {kind.title}\n', TABLE_HEADER]
            for config in rows:
                row = config.paper_row(tables)
                marks = []
                if row is not None and row.alternate:
                    marks.append(ALTERNATE_MARK)
                if row is not None and row.key in ZOO.errata:
                    marks.append(ERRATUM_MARK)
                    errata.append((config.name, ZOO.errata[row.key]))
                lines.append(
                    _table_row(config, counts.get(config.count_key), row,
                               marks))
            lines.append('')
    if errata:
        lines.append('## Paper errata\n')
        lines += [
            f'- {ERRATUM_MARK} `{name}`: {erratum.reason}; the tests compare '
            f'with {erratum.value:g} M.' for name, erratum in errata
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
    for key, metric in config.kind.dataset.metrics.items():
        if key in row.numbers:
            result = results.setdefault(
                metric.task,
                dict(
                    Task=metric.task,
                    Dataset=config.kind.dataset.name,
                    Metrics={}))
            result['Metrics'][metric.metric] = row.numbers[key]
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
                    key=lambda p: list(ZOO.papers.values()).index(p))
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
    families = [
        f for f in ZOO.families if any(c.family == f for c in configs)
    ]
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
