"""DistributedDataParallel: every rank holds the whole model and sees 1/N of each batch.

Data parallelism in three steps:

1. **Same start.** At construction, rank 0's parameters and buffers are broadcast to every rank.
2. **Same gradient.** Each rank runs forward and backward on its own batch; the gradients are then
   averaged over the ranks: ``g = (g_0 + g_1 + ... + g_{N-1}) / N``. With a mean loss over B
   samples per rank, that is exactly the gradient of the mean loss over all N*B samples, so
   N ranks with batch B take the same step as one process with batch N*B.
3. **Same update.** Every rank's optimizer then applies the same step to the same weights, so the
   replicas never drift apart; nothing else needs to be sent.

How the averaging is done: the parameters are packed, last layer first, into a few flat *buckets*
(``bucket_cap_mb`` each; one bucket when they all fit). A gradient hook on each parameter adds its
gradient into the bucket while backward is still running; when every parameter of a bucket has
its gradient, that bucket's ``Allreduce`` (the sum over ranks) is started at once, without
waiting, and backward goes on with the earlier layers while it travels - communication overlaps
computation. When the last bucket is in flight, the hook waits for all of them, divides by N, and
writes the averaged gradients into ``.grad``. Buckets start in a fixed order on every rank (MPI
needs the same order of collectives everywhere).

To know when a parameter's gradient is complete (a weight may be used more than once), the
forward pass counts how many edges of the recorded graph lead into each parameter; a parameter
the forward did not use is complete from the start (its share is zero). Every rank must use the
same parameters in the same forward calls, and every loss term that reaches the parameters must
go through this module's forward (a penalty computed on ``module.parameters()`` outside it raises
a clear error).

BatchNorm: each rank normalises with its own batch's statistics (local, as PyTorch's DDP with
plain ``BatchNorm2d``); with ``broadcast_buffers=True`` (the default) the running statistics of
rank 0 are copied to every rank at each forward, so evaluation is the same everywhere. A model
with BatchNorm therefore trains like a single process whose BatchNorm sees batches of B, not
N*B - unless its BatchNorm layers are ``SyncBatchNorm`` (``SyncBatchNorm.convert_sync_batchnorm``),
which takes the statistics over all ranks' batches.

The process group is ``deepwise.distributed``'s default group (bound by ``init_process_group``)
or any object with ``rank``, ``size``, ``allreduce(array, op, async_op) -> work`` (``work.wait()``)
and ``broadcast(array, src)``; this module itself needs no MPI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...autograd import is_grad_enabled
from ...tensor import Tensor
from ..module import Module

__all__ = ["DistributedDataParallel"]

_default_group: Any = None  # bound by deepwise.distributed.init_process_group


def _bind_default_group(group: Any) -> None:
    global _default_group
    _default_group = group


class _Bucket:
    __slots__ = ("flat", "members", "pending", "work")

    def __init__(self, flat: np.ndarray, members: list[int]) -> None:
        self.flat, self.members = flat, members
        self.pending = 0
        self.work: Any = None


def _tensors_in(out: Any) -> Iterator[Tensor]:
    if isinstance(out, Tensor):
        yield out
    elif isinstance(out, (tuple, list)):
        for o in out:
            yield from _tensors_in(o)
    elif isinstance(out, dict):
        for o in out.values():
            yield from _tensors_in(o)


def _broadcast_arrays(group: Any, arrays: list[np.ndarray], src: int = 0) -> None:
    """Broadcast many arrays with one call per dtype: pack, send, unpack."""
    by_dtype: dict[np.dtype, list[np.ndarray]] = {}
    for a in arrays:
        by_dtype.setdefault(a.dtype, []).append(a)
    for dtype, group_arrays in by_dtype.items():
        flat = np.concatenate([a.reshape(-1) for a in group_arrays]) if group_arrays else \
            np.zeros(0, dtype)
        group.broadcast(flat, src)
        off = 0
        for a in group_arrays:
            a[...] = flat[off:off + a.size].reshape(a.shape)
            off += a.size


class DistributedDataParallel(Module):
    """Wrap ``module`` so that its gradients are averaged over all ranks after each backward.

    Args:
        module: the model; every rank builds the same architecture (rank 0's weights win).
        broadcast_buffers: copy rank 0's buffers (BatchNorm running statistics) to every rank at
            the start of each forward.
        process_group: the ranks to average over (default: ``deepwise.distributed``'s group).
        bucket_cap_mb: the size of one flat gradient bucket (one Allreduce each); PyTorch's
            default, 25 MB, puts a small model in one bucket.
        device_ids, output_device, dim, find_unused_parameters, gradient_as_bucket_view,
        static_graph: PyTorch's arguments, accepted; unused parameters are always found (the
        forward counts the uses), and there is one device per process.

    Shape: whatever ``module`` takes and returns.

    Example::

        dist.init_process_group()
        model = DistributedDataParallel(SmallCNN())
        loss = F.cross_entropy(model(xb), yb)   # xb: this rank's shard of the batch
        loss.backward()                         # .grad now holds the average over the ranks
        opt.step()
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True, process_group: Any = None,
                 bucket_cap_mb: float = 25.0, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, **kwargs: Any) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got "
                            f"{type(module).__name__}")
        group = process_group if process_group is not None else _default_group
        if group is None:
            raise RuntimeError("DistributedDataParallel: no process group; call "
                               "deepwise.distributed.init_process_group() first (and start the "
                               "script with mpirun -n N)")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got "
                             f"{bucket_cap_mb!r}")
        self.module = module
        self.process_group = group
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = float(bucket_cap_mb)
        names, params, seen = [], [], set()
        for name, p in module.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                names.append(name)
                params.append(p)
        self._names, self._params = names, params
        self._index = {id(p): i for i, p in enumerate(params)}
        _broadcast_arrays(group, [p.data for p in module.parameters()]
                          + [b.data for b in module.buffers()])
        self._buckets, self._slot, self._bucket_of = self._make_buckets()
        self._zeros = [np.zeros(p.data.shape, p.data.dtype) for p in params]
        for z in self._zeros:
            z.flags.writeable = False
        self._expected = [0] * len(params)
        self._seen = [0] * len(params)
        self._armed = False
        self._fired = 0
        self._next_bucket = 0
        self._sync = True
        self._handles = [p.register_hook(self._make_hook(i)) for i, p in enumerate(params)]

    # ---- buckets -------------------------------------------------------------------------
    def _make_buckets(self) -> tuple[list[_Bucket], list[np.ndarray], list[int]]:
        """Parameters in reverse order (backward reaches the last layer first), cut into
        buckets of at most ``bucket_cap_mb`` and one dtype each."""
        cap = self.bucket_cap_mb * 2**20
        groups: list[list[int]] = []
        size = 0
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            nbytes = p.data.nbytes
            if not groups or (size + nbytes > cap and groups[-1]) \
                    or self._params[groups[-1][0]].data.dtype != p.data.dtype:
                groups.append([])
                size = 0
            groups[-1].append(i)
            size += nbytes
        buckets, slot = [], [None] * len(self._params)
        bucket_of = [0] * len(self._params)
        for b, members in enumerate(groups):
            dtype = self._params[members[0]].data.dtype
            flat = np.zeros(sum(self._params[i].data.size for i in members), dtype)
            off = 0
            for i in members:
                p = self._params[i]
                slot[i] = flat[off:off + p.data.size].reshape(p.data.shape)
                bucket_of[i] = b
                off += p.data.size
            buckets.append(_Bucket(flat, members))
        return buckets, slot, bucket_of

    # ---- forward: count the uses of every parameter -----------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.broadcast_buffers:
            buffers = [b.data for b in self.module.buffers()]
            if buffers:
                _broadcast_arrays(self.process_group, buffers)
        out = self.module(*args, **kwargs)
        if self._sync and is_grad_enabled():
            self._arm(out)
        return out

    def _arm(self, out: Any) -> None:
        if self._armed and self._fired:
            raise RuntimeError(
                "DistributedDataParallel: a new forward started before the previous backward "
                "had reduced all gradients (only part of the graph was backpropagated?); call "
                "backward on the whole loss of each forward, or run the forward under no_grad()")
        counts = [0] * len(self._params)
        index = self._index
        stack = [t.grad_fn for t in _tensors_in(out) if t.grad_fn is not None]
        seen = set(stack)
        while stack:
            node = stack.pop()
            for t in node.inputs:
                if t is None or not t._requires_grad:
                    continue
                f = t.grad_fn
                if f is None:
                    i = index.get(id(t))
                    if i is not None:
                        counts[i] += 1
                elif f not in seen:
                    seen.add(f)
                    stack.append(f)
        if not any(counts):
            self._armed = False
            return
        self._expected = counts
        self._seen = [0] * len(counts)
        for b in self._buckets:
            b.flat.fill(0)
            b.pending = sum(1 for i in b.members if counts[i])
            b.work = None
        self._armed, self._fired, self._next_bucket = True, 0, 0

    # ---- backward: hooks fill the buckets and start their Allreduce -------------------------
    def _make_hook(self, i: int) -> Any:
        def hook(grad: Tensor) -> np.ndarray | None:
            if not self._armed:
                return None  # a backward this module's forward did not prepare: local grads
            self._seen[i] += 1
            if self._seen[i] > self._expected[i]:
                self._armed = False
                raise RuntimeError(
                    f"DistributedDataParallel: parameter {self._names[i]!r} got more gradients "
                    f"({self._seen[i]}) than the forward used it ({self._expected[i]}); every "
                    f"loss term must come from this module's forward (a penalty on "
                    f"module.parameters() computed outside it is not averaged)")
            self._slot[i] += grad.data
            self._fired += 1
            if self._seen[i] == self._expected[i]:
                self._buckets[self._bucket_of[i]].pending -= 1
                self._launch_ready()
            else:
                self._poke()
            return self._zeros[i]  # the averaged gradient is written into .grad at the end

        return hook

    def _launch_ready(self) -> None:
        buckets = self._buckets
        while self._next_bucket < len(buckets) and buckets[self._next_bucket].pending == 0:
            b = buckets[self._next_bucket]
            for i in b.members:  # a .grad kept from an earlier backward (no_sync) is reduced too
                g = self._params[i].grad
                if g is not None:
                    self._slot[i] += g.data
            b.work = self.process_group.allreduce(b.flat, async_op=True)
            self._next_bucket += 1
        if self._next_bucket == len(buckets):
            self._finish()
        else:
            self._poke()

    def _poke(self) -> None:
        """Let MPI move the buckets in flight along (it progresses inside MPI calls)."""
        for b in self._buckets[:self._next_bucket]:
            test = getattr(b.work, "_request", None)
            if test is not None:
                test.Test()

    def _finish(self) -> None:
        scale = 1.0 / self.process_group.size
        for b in self._buckets:
            b.work.wait()
            b.flat *= scale
        for i, p in enumerate(self._params):
            if p.grad is None:
                if self._expected[i]:
                    p.grad = Tensor._make(self._slot[i].copy())
            else:
                p.grad.data[...] = self._slot[i]
        self._armed = False

    # ---- PyTorch's extras ---------------------------------------------------------------
    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, backward keeps gradients local (accumulate micro-batches); the first synced
        backward after it averages everything accumulated."""
        old, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = old

    def extra_repr(self) -> str:
        sizes = ", ".join(str(b.flat.size) for b in self._buckets)
        return (f"ranks={self.process_group.size}, buckets=[{sizes}] elements, "
                f"broadcast_buffers={self.broadcast_buffers}")
