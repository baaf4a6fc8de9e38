"""Converters of the authors' checkpoints: one pipeline, one spec per family.

Each family module holds a :class:`~.spec.ConverterSpec` (key rules, dropped
keys with their reasons, the architecture inference, the canonical names);
:func:`~.driver.convert_checkpoint` runs every family through the same steps
(load safely, extract, convert, infer the arch, check against the backbone,
write, report). ``tools/model_converters/*2mmvit.py`` are the command lines.
See docs/converters.md.
"""
from .crossformer import CROSSFORMER
from .driver import (ConversionReport, UnrecognizedCheckpointError,
                     compare_with_model, convert_checkpoint, convert_file,
                     extract_official_state_dict)
from .focal import FOCAL
from .mixformer import MIXFORMER
from .spec import (ConversionResult, ConverterSpec, DroppedKey, KeyRule,
                   convert_state_dict)

#: The spec of every family, by the name of its command line.
CONVERTERS = dict(crossformer=CROSSFORMER, focal=FOCAL, mixformer=MIXFORMER)

__all__ = [
    'CONVERTERS', 'CROSSFORMER', 'FOCAL', 'MIXFORMER', 'ConversionReport',
    'ConversionResult', 'ConverterSpec', 'DroppedKey', 'KeyRule',
    'UnrecognizedCheckpointError', 'compare_with_model', 'convert_checkpoint',
    'convert_file', 'convert_state_dict', 'extract_official_state_dict'
]
