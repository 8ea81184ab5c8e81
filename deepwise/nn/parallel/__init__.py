"""``torch.nn.parallel`` under deepwise: data-parallel training over processes.

``from deepwise.nn.parallel import DistributedDataParallel as DDP`` (after
``deepwise.distributed.init_process_group()``); ``SyncBatchNorm`` normalises with the statistics of
all ranks' batches.
"""

from .distributed import DistributedDataParallel
from .sync_batchnorm import SyncBatchNorm

__all__ = ["DistributedDataParallel", "SyncBatchNorm"]
