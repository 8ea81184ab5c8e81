"""``torch.distributed`` under deepwise: processes that train one model together, on MPI.

Launch the same script once per process with ``mpirun``; each process (a *rank*) calls
:func:`init_process_group` once, then trains on its own shard of the data, and the ranks average
their gradients after every backward pass (``nn.parallel.DistributedDataParallel``)::

    import deepwise.distributed as dist
    from deepwise.data.distributed import DistributedSampler
    from deepwise.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group()                      # rank and world size from mpirun
    model = DDP(build_model())                     # rank 0's initial weights everywhere
    sampler = DistributedSampler(train_set)        # this rank's shard, reshuffled per epoch
    ...
    if dist.get_rank() == 0:
        save_checkpoint(...)                       # one writer, not N
    dist.destroy_process_group()

    $ mpirun -n 2 python train.py

The collectives (:func:`all_reduce`, :func:`broadcast`, :func:`barrier`) act on a tensor's array
in place, like PyTorch's. MPI (``mpi4py`` on Open MPI) is imported only by
:func:`init_process_group`, so ``import deepwise`` never needs it.

A failure in one rank ends the whole job: after :func:`init_process_group`, an exception that
escapes a rank prints its traceback and ``deepwise.distributed: rank R of N failed ...; aborting
all ranks`` and calls ``MPI_Abort``, which stops the other ranks (they would otherwise wait
forever in their next collective). A killed rank is noticed by ``mpirun`` itself, which ends the
job. Code that catches errors itself can call :func:`abort` with a message.
"""

from __future__ import annotations

import enum
import sys
from typing import Any

import numpy as np

from ..data import distributed as _data_distributed
from ..nn.parallel import distributed as _nn_distributed
from ..tensor import Tensor

__all__ = ["ReduceOp", "ProcessGroup", "Work", "is_available", "is_initialized",
           "init_process_group", "destroy_process_group", "get_rank", "get_world_size",
           "get_backend", "all_reduce", "broadcast", "barrier", "abort"]


class ReduceOp(enum.Enum):
    """How :func:`all_reduce` combines the ranks' arrays (PyTorch's names). ``AVG`` is the
    sum divided by the world size."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"


def is_available() -> bool:
    """True when the MPI backend can be used: mpi4py imports and finds an MPI library."""
    try:
        from mpi4py import MPI  # noqa: F401
    except (ImportError, RuntimeError):
        return False
    return True


class Work:
    """A collective in flight (``async_op=True``): ``wait()`` blocks until it has finished."""

    __slots__ = ("_request", "_after")

    def __init__(self, request: Any = None, after: Any = None) -> None:
        self._request, self._after = request, after

    def wait(self) -> bool:
        if self._request is not None:
            self._request.Wait()
            self._request = None
            if self._after is not None:
                self._after()
                self._after = None
        return True

    def is_completed(self) -> bool:
        return self._request is None


class ProcessGroup:
    """A set of ranks that run collectives together: a thin face over an MPI communicator.

    ``rank`` and ``size`` are this process's index and the number of processes; the methods
    act on contiguous NumPy arrays in place. This is the interface that
    ``nn.parallel.DistributedDataParallel`` and ``data.distributed.DistributedSampler`` use.
    """

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self._mpi = MPI
        self.comm = comm
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())
        self._ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                     ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}

    def allreduce(self, arr: np.ndarray, op: ReduceOp = ReduceOp.SUM,
                  async_op: bool = False) -> Work:
        """Combine ``arr`` over all ranks, in place (every rank gets the result)."""
        _check_array(arr, "all_reduce")
        mpi_op = self._ops[ReduceOp(op)]
        after = (lambda: np.divide(arr, self.size, out=arr)) if op is ReduceOp.AVG else None
        if async_op:
            return Work(self.comm.Iallreduce(self._mpi.IN_PLACE, arr, op=mpi_op), after)
        self.comm.Allreduce(self._mpi.IN_PLACE, arr, op=mpi_op)
        if after is not None:
            after()
        return Work()

    def broadcast(self, arr: np.ndarray, src: int = 0, async_op: bool = False) -> Work:
        """Overwrite ``arr`` on every rank with rank ``src``'s ``arr``, in place."""
        _check_array(arr, "broadcast")
        if not 0 <= src < self.size:
            raise ValueError(f"broadcast: src={src} is not a rank of this group "
                             f"(ranks 0..{self.size - 1})")
        if async_op:
            return Work(self.comm.Ibcast(arr, root=src))
        self.comm.Bcast(arr, root=src)
        return Work()

    def barrier(self) -> None:
        """Wait until every rank of the group has reached this call."""
        self.comm.Barrier()

    def __repr__(self) -> str:
        return f"ProcessGroup(backend='mpi', rank={self.rank}, size={self.size})"


def _check_array(arr: Any, op: str) -> None:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{op}: expected a Tensor or a NumPy array, got {type(arr).__name__}")
    if not arr.flags.c_contiguous or not arr.flags.writeable:
        raise ValueError(f"{op}: the array (shape {arr.shape}) must be C-contiguous and "
                         f"writeable, since the collective writes into it; pass "
                         f"t.contiguous() or a copy")


_group: ProcessGroup | None = None
_previous_excepthook: Any = None


def is_initialized() -> bool:
    """True between :func:`init_process_group` and :func:`destroy_process_group`."""
    return _group is not None


def _default(group: ProcessGroup | None, what: str) -> ProcessGroup:
    if group is not None:
        return group
    if _group is None:
        raise RuntimeError(f"deepwise.distributed.{what}: the default process group is not "
                           f"initialised; call deepwise.distributed.init_process_group() first "
                           f"(and start the script with mpirun -n N)")
    return _group


def _abort_on_uncaught(exc_type: Any, exc: Any, tb: Any) -> None:
    """sys.excepthook while a group exists: print as usual, then end every rank."""
    (_previous_excepthook or sys.__excepthook__)(exc_type, exc, tb)
    if _group is not None and not issubclass(exc_type, KeyboardInterrupt):
        abort(f"{exc_type.__name__}: {exc}")


def abort(message: str, code: int = 1) -> None:
    """Print ``deepwise.distributed: rank R of N failed: message; aborting all ranks`` to stderr
    and end the whole job (``MPI_Abort``): the other ranks stop instead of waiting forever."""
    if _group is None:
        raise RuntimeError(f"deepwise.distributed.abort: no process group ({message})")
    print(f"deepwise.distributed: rank {_group.rank} of {_group.size} failed: {message}; "
          f"aborting all ranks", file=sys.stderr, flush=True)
    sys.stdout.flush()
    _group.comm.Abort(code)


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: Any = None, world_size: int = -1, rank: int = -1,
                       **kwargs: Any) -> None:
    """Join the job started by ``mpirun``: the rank and world size come from MPI.

    ``backend`` may be None or ``"mpi"`` (the only one); ``world_size`` and ``rank``, when
    given, must agree with what ``mpirun`` assigned (they are checked, not set). ``timeout``
    and PyTorch's other arguments are accepted and have no effect. Run outside ``mpirun`` it
    makes a world of one process.
    """
    global _group, _previous_excepthook
    if _group is not None:
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialised (call destroy_process_group() first)")
    if backend not in (None, "mpi"):
        raise ValueError(f"init_process_group: backend {backend!r} is not available; deepwise "
                         f"runs its collectives on MPI (backend='mpi' or None)")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_process_group: init_method {init_method!r}: the ranks are "
                         f"found by mpirun; leave it None")
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as e:
        raise RuntimeError(f"init_process_group: MPI is not available ({e}); install Open MPI "
                           f"(apt-get install openmpi-bin libopenmpi-dev) and "
                           f"pip install 'deepwise[distributed]'") from e
    group = ProcessGroup(MPI.COMM_WORLD)
    for name, given, actual in (("world_size", world_size, group.size),
                                ("rank", rank, group.rank)):
        if given not in (-1, None) and int(given) != actual:
            raise ValueError(f"init_process_group: {name}={given}, but mpirun started this "
                             f"process as {name} {actual} (start with mpirun -n N instead)")
    _group = group
    _previous_excepthook = sys.excepthook
    sys.excepthook = _abort_on_uncaught
    _nn_distributed._bind_default_group(group)
    _data_distributed._bind_default_group(group)


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    """Leave the default group (waits for every rank first); MPI itself ends at exit."""
    global _group, _previous_excepthook
    if _group is None:
        return
    _group.barrier()
    sys.excepthook = _previous_excepthook or sys.__excepthook__
    _previous_excepthook = None
    _nn_distributed._bind_default_group(None)
    _data_distributed._bind_default_group(None)
    _group = None


def get_rank(group: ProcessGroup | None = None) -> int:
    """This process's rank (0 .. world size - 1); 0 when no group is initialised, so code
    that logs on rank 0 only also runs in a single process."""
    if group is None and _group is None:
        return 0
    return _default(group, "get_rank").rank


def get_world_size(group: ProcessGroup | None = None) -> int:
    """The number of processes; 1 when no group is initialised."""
    if group is None and _group is None:
        return 1
    return _default(group, "get_world_size").size


def get_backend(group: ProcessGroup | None = None) -> str:
    _default(group, "get_backend")
    return "mpi"


def _array(tensor: Any, op: str) -> np.ndarray:
    arr = tensor.data if isinstance(tensor, Tensor) else tensor
    _check_array(arr, op)
    return arr


def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM, group: ProcessGroup | None = None,
               async_op: bool = False) -> Work | None:
    """Combine ``tensor`` over all ranks (``op``: SUM, AVG, PRODUCT, MIN, MAX), in place.

    Returns a :class:`Work` to ``wait()`` on when ``async_op=True``, else None.
    """
    if not isinstance(op, ReduceOp):
        raise TypeError(f"all_reduce: op must be a deepwise.distributed.ReduceOp, got {op!r}")
    work = _default(group, "all_reduce").allreduce(_array(tensor, "all_reduce"), op, async_op)
    return work if async_op else None


def broadcast(tensor: Any, src: int = 0, group: ProcessGroup | None = None,
              async_op: bool = False) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``, in place."""
    work = _default(group, "broadcast").broadcast(_array(tensor, "broadcast"), int(src),
                                                  async_op)
    return work if async_op else None


def barrier(group: ProcessGroup | None = None) -> None:
    """Block until every rank has called ``barrier``."""
    _default(group, "barrier").barrier()

