"""Training of the image encoder and the occupancy decoder: `train(TrainConfig(...))`.

loop.py steps a run, recipes.py says what a step optimises, distributed.py runs it under torchrun,
saving.py writes its checkpoints, progress.py and plot.py show and chart it, validation.py scores it.
"""

from .config import TrainConfig  # noqa: F401
from .loop import train  # noqa: F401
