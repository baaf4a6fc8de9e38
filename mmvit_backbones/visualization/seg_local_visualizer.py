"""mmseg's ``SegLocalVisualizer`` for images that are views of a CHW tensor.

mmseg 1.2.2's ``tools/analysis_tools/browse_dataset.py`` passes
``inputs.permute(1, 2, 0).numpy()[..., [2, 1, 0]]``, an (H, W, 3) array whose
channels are not adjacent in memory. ``SegLocalVisualizer._draw_sem_seg``
draws the class names with ``cv2.rectangle`` on ``np.zeros_like`` of it, which
keeps that layout, and every OpenCV release refuses it ("Layout of the output
array img is incompatible with cv::Mat"; mmsegmentation issue #3405, not
fixed in a release). The seg configs of this package use this visualizer, so
that the tool works on them; a contiguous image is drawn as before.
"""
import numpy as np
from mmseg.registry import VISUALIZERS
from mmseg.visualization import SegLocalVisualizer


@VISUALIZERS.register_module()
class ContiguousSegLocalVisualizer(SegLocalVisualizer):
    """``SegLocalVisualizer`` that copies a non-contiguous (H, W, 3) image
    into contiguous memory before drawing on it."""

    def add_datasample(self, name: str, image: np.ndarray, *args,
                       **kwargs) -> None:
        super().add_datasample(name, np.ascontiguousarray(image), *args,
                               **kwargs)
