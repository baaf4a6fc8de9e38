"""Hooks that make MMEngine's Runner options work with these backbones."""
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class EagerOptimizerStepHook(Hook):
    """Run the optimizer update eagerly when the config compiles the model
    (``compile=True``).

    MMEngine compiles ``train_step`` whole, the optimizer update included.
    Dynamo (torch 2.13) fails inside that update, on the step counter that
    MMEngine's parameter schedulers wrap around ``optimizer.step``
    (``InternalTorchDynamoError: 'UserDefinedDictVariable' object has no
    attribute 'items'``). With this hook the optim wrapper's ``step`` is
    excluded from compilation: the forward, the losses and the backward are
    compiled, the elementwise update runs as in eager mode.
    ``tools/train.py`` adds the hook whenever the config sets ``compile``.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        wrapper.step = torch.compiler.disable(wrapper.step)
