"""Visualizers for the frameworks' own tools, imported by the configs that
use them (``custom_imports``); ``import mmvit_backbones`` does not import
this package."""
from .seg_local_visualizer import ContiguousSegLocalVisualizer

__all__ = ['ContiguousSegLocalVisualizer']
