"""``torch.nn.parallel`` under deepwise: data-parallel training over processes.

``from deepwise.nn.parallel import DistributedDataParallel as DDP`` (after
``deepwise.distributed.init_process_group()``).
"""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
