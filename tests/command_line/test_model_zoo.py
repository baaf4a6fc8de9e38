"""The model zoo against the papers (reference/paper_numbers/).

* the papers' numbers: one file per family, every row naming its source;
* every paper row (classification, COCO, ADE20K) has a config;
* the whole model each paper row's config builds has the paper's parameter
  count within 3 % (wider bands below, each with its reason), and the count
  that docs/model_zoo.md and the metafiles show;
* docs/model_zoo.md, configs/*/metafile.yml, model-index.yml and the stored
  counts are what ``tools/misc/model_zoo.py`` gives for the current configs
  (its ``--check``).

Which config serves which paper row, and the papers' errata, are data in
reference/model_zoo.yaml.
"""
import copy
import functools
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import yaml

from repo_helpers import load_script
from mmvit_backbones.analysis import model_params

REPO = Path(__file__).resolve().parents[2]


zoo = load_script('tools/misc/model_zoo.py')
TABLES = zoo.load_paper_tables()
PARAMS_TOLERANCE = 0.03
# Paper rows checked with a wider band than PARAMS_TOLERANCE, and why.
PARAMS_TOLERANCE_EXCEPTIONS = {
    ('coco', 'mask-rcnn_1x', 'maformer-s'): (
        0.05, 'issue 2 set +-5 % for the MAFormer Mask R-CNN: after mmdet\'s '
        'FPN and Mask R-CNN heads (20.2 M on S\'s channels) the paper\'s 41 M '
        'leaves 20.8 M for the backbone, 1.7 M less than its own 23 M '
        'classifier without the 0.5 M head (docs/maformer.md)'),
    ('ade20k', 'semantic-fpn_80k', 'maformer-s'): (
        0.05, 'the paper\'s S rows disagree with each other: after the '
        'Semantic FPN neck and head (4.26 M on S\'s channels) its 28 M '
        'implies a 23.7 M backbone, its Mask R-CNN row 20.8 M; ours (22.8 M '
        'without the classifier head) lies between, -3.2 % here and +4.9 % '
        'there, within issue 2\'s +-5 % for MAFormer'),
}


def paper_row_keys(tables: dict) -> List[Tuple[str, ...]]:
    """Key paths of every paper row: (section, [table,] variant)."""
    keys = [('classification', v) for v in tables.get('classification', {})]
    for section in ('coco', 'ade20k'):
        for table, rows in tables.get(section, {}).items():
            keys += [(section, table, variant) for variant in rows]
    return keys


ROW_KEYS = paper_row_keys(TABLES)
# Variant prefix -> the reference/paper_numbers/ file that holds its rows
# (the family's configs/ folder name).
PAPER_NUMBERS_FILE = {
    prefix: folder
    for folder, family in zoo.ZOO.families.items() for prefix in family.papers
}


def test_paper_numbers_one_file_per_family():
    """Each family's file holds its own rows only, and the merged tables
    hold rows of every variant family the zoo knows."""
    folder = zoo.PAPER_NUMBERS
    assert sorted(path.stem for path in folder.glob('*.yaml')) == sorted(
        set(PAPER_NUMBERS_FILE.values()))
    for path in folder.glob('*.yaml'):
        rows = paper_row_keys(yaml.safe_load(path.read_text()))
        strangers = [
            '/'.join(key) for key in rows
            if PAPER_NUMBERS_FILE[key[-1].rsplit('-', 1)[0]] != path.stem
        ]
        assert rows and not strangers, (path.name, strangers)
    assert {key[-1].rsplit('-', 1)[0]
            for key in ROW_KEYS} == set(zoo.ZOO.papers)


def test_every_paper_row_names_its_source():
    unnamed = [
        '/'.join(key) for key in ROW_KEYS
        if not str(functools.reduce(dict.get, key, TABLES).get('src', ''))
    ]
    assert not unnamed, f'rows without a src: {unnamed}'


def test_paper_tables_reader_refuses_a_row_given_twice(tmp_path):
    for name in ('a', 'b'):
        (tmp_path / f'{name}.yaml').write_text(
            'coco:\n  retinanet_1x:\n    focal-t: {params: 39.4, src: x}\n')
    with pytest.raises(ValueError, match='coco/retinanet_1x/focal-t'):
        zoo.load_paper_tables(tmp_path)


@pytest.fixture(scope='module')
def configs_by_row() -> Dict[Tuple[str, ...], list]:
    """Paper row key -> the zoo configs that reproduce it."""
    rows: Dict[Tuple[str, ...], list] = {}
    for config in zoo.discover():
        row = config.paper_row(TABLES)
        if row is not None:
            rows.setdefault(row.key, []).append(config)
    return rows


@pytest.fixture(scope='module')
def built_params():
    """Parameter count of a zoo config's model, built once per model."""
    cache: Dict[str, int] = {}

    def params(config) -> int:
        if config.count_key not in cache:
            cache[config.count_key] = model_params(config.cfg)
        return cache[config.count_key]

    return params


def expected_params(key: Tuple[str, ...], row) -> float:
    """The paper's parameter count (M), corrected where it is an erratum."""
    erratum = zoo.ZOO.errata.get(key)
    return erratum.value if erratum else row.params


def test_errata_correct_existing_rows():
    strays = [
        '/'.join(key) for key, erratum in zoo.ZOO.errata.items()
        if key not in ROW_KEYS
        or erratum.field not in functools.reduce(dict.get, key, TABLES)
    ]
    assert not strays, f'errata of rows or fields not in the tables: {strays}'


def test_crossformerpp_s_retinanet_erratum_follows_from_the_paper():
    """The corrected count is the paper's CrossFormer++-S Mask R-CNN count
    minus the Mask R-CNN / RetinaNet difference of CrossFormer-S, as its
    reason says."""
    coco = TABLES['coco']
    derived = (coco['mask-rcnn_1x']['crossformerpp-s']['params'] -
               coco['mask-rcnn_1x']['crossformer-s']['params'] +
               coco['retinanet_1x']['crossformer-s']['params'])
    erratum = zoo.ZOO.errata[('coco', 'retinanet_1x', 'crossformerpp-s')]
    assert erratum.value == pytest.approx(derived, abs=0.05)


def test_zoo_reader_refuses_an_erratum_of_an_uncompared_field(tmp_path):
    data = yaml.safe_load(zoo.ZOO_FILE.read_text())
    data['errata'][0]['field'] = 'flops'
    path = tmp_path / 'model_zoo.yaml'
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match='only params'):
        zoo.load_zoo(path)


@pytest.mark.parametrize('key', ROW_KEYS, ids='/'.join)
def test_paper_row_has_config(key, configs_by_row):
    assert key in configs_by_row, (
        f'no config in configs/ reproduces paper row {"/".join(key)}; '
        'the naming patterns are config_kinds in reference/model_zoo.yaml')


@pytest.mark.parametrize('key', ROW_KEYS, ids='/'.join)
def test_params_match_paper(key, configs_by_row, built_params):
    if key not in configs_by_row:
        pytest.skip('no config (test_paper_row_has_config fails)')
    tolerance = PARAMS_TOLERANCE_EXCEPTIONS.get(key,
                                                (PARAMS_TOLERANCE, ''))[0]
    for config in configs_by_row[key]:
        row = config.paper_row(TABLES)
        params = built_params(config) / 1e6
        assert params == pytest.approx(
            expected_params(key, row), rel=tolerance), config.path


@pytest.mark.parametrize('key', ROW_KEYS, ids='/'.join)
def test_zoo_shows_built_params(key, configs_by_row, built_params):
    """The stored count (what the docs show) is the model's current size."""
    if key not in configs_by_row:
        pytest.skip('no config (test_paper_row_has_config fails)')
    counts = zoo.load_counts()
    for config in configs_by_row[key]:
        stored = counts.get(config.count_key, {}).get('params')
        assert stored == built_params(config), (
            f'{config.path}: run python tools/misc/model_zoo.py --force '
            f'--configs {config.path}')


def test_every_paper_row_has_its_flops_counted(configs_by_row):
    """The zoo compares FLOPs with the paper wherever the paper has a row
    (other configs may wait for a later run of the tool)."""
    counts = zoo.load_counts()
    missing = [
        config.path for key in ROW_KEYS for config in configs_by_row.get(
            key, []) if not zoo.has_flops(counts.get(config.count_key))
    ]
    assert not missing, ('run python tools/misc/model_zoo.py for: ' +
                         ', '.join(missing))


def test_generated_files_in_sync():
    problems = zoo.check(zoo.discover(), TABLES)
    assert not problems, '\n'.join(problems)


def test_config_names_map_to_kinds():
    kind, variant = zoo.classify('upernet_crossformerpp-h_8xb2-160k_'
                                 'ade20k-512x512')
    assert (kind.paper_table, variant) == (('ade20k', 'upernet_160k'),
                                           'crossformerpp-h')
    kind, variant = zoo.classify('mixformer-b4_8xb128_in1k')
    assert (kind.paper_table, kind.input_shape) == (('classification', ),
                                                    (224, 224))
    assert zoo.classify('mask-rcnn_swin-t_1x_coco') is None


def test_detection_group_sizes_take_the_alternate_paper_row(configs_by_row):
    """CrossFormer-S Semantic FPN (G = 14, 14, 7, 7) is the paper's 209.8 G
    row of the pair, CrossFormer-B's (G = 7) the 331.0 G one."""
    small = configs_by_row[('ade20k', 'semantic-fpn_80k', 'crossformer-s')]
    base = configs_by_row[('ade20k', 'semantic-fpn_80k', 'crossformer-b')]
    assert small[0].paper_row(TABLES).numbers['flops'] == 209.8
    assert small[0].paper_row(TABLES).numbers['miou'] == 46.4
    assert base[0].paper_row(TABLES).numbers['flops'] == 331.0


def test_count_key_follows_the_model_only(configs_by_row):
    config = configs_by_row[('coco', 'mask-rcnn_1x', 'focal-t')][0]
    schedule_changed = copy.deepcopy(config.cfg)
    schedule_changed.train_cfg.max_epochs = 99
    model_changed = copy.deepcopy(config.cfg)
    model_changed.model.backbone.drop_path_rate = 0.5
    key = zoo.ZooConfig(config.path, config.family, config.kind,
                        config.variant, schedule_changed).count_key
    assert key == config.count_key
    key = zoo.ZooConfig(config.path, config.family, config.kind,
                        config.variant, model_changed).count_key
    assert key != config.count_key


def test_classifier_flops_are_backbone_plus_head():
    """The counter's classifier path, which the ImageNet rows use."""
    from mmvit_backbones.analysis import backbone_complexity, model_complexity
    backbone = dict(type='ResNet', depth=18, out_indices=(3, ))
    classifier = dict(
        default_scope='mmpretrain',
        model=dict(
            type='ImageClassifier',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=512)))
    whole = model_complexity(classifier, 64)
    alone = backbone_complexity(backbone, 64, scope='mmpretrain')
    pooling = 512 * 2 * 2  # MMEngine: one FLOP per pooled input (2x2 map)
    assert whole.flops == alone.flops + pooling + 512 * 10
    assert whole.params == alone.params + 512 * 10 + 10
