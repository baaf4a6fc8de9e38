"""Runner hooks, imported by the tools (and by configs that name them in
``custom_imports``); ``import mmvit_backbones`` does not import this
package."""
from .hooks import EagerOptimizerStepHook

__all__ = ['EagerOptimizerStepHook']
