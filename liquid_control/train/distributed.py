"""Data-parallel training when the process was started by ``torchrun``.

``torchrun --nproc_per_node=N -m liquid_control train ...`` starts N copies of the training with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` in their environment. Each copy then holds the whole
model, trains on its own share of the windows (``DistributedSampler``) with ``batch_size`` windows
per step, and ``DistributedDataParallel`` averages the gradients, so every copy takes the same
optimiser step. One copy (rank 0) validates, checkpoints and writes the model; the others wait.

A process started without those variables gets ``None`` from ``from_environment()`` and the
trainer takes its plain single-process path: no process group, no wrapper, no sampler.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

LAUNCH_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK")
_groups_created = itertools.count()


@dataclass(frozen=True)
class Distributed:
    world_size: int
    rank: int
    local_rank: int
    backend: str
    device: torch.device
    owns_group: bool  # False when the caller had already initialised the process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.parallel.DistributedDataParallel:
        """The model on this process's device, its gradients averaged across processes."""
        model.to(self.device)
        device_ids = [self.local_rank] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def sampler(self, dataset, seed: int) -> torch.utils.data.DistributedSampler:
        """This process's share of ``dataset``, reshuffled per epoch (``set_epoch``) from ``seed``.

        Every process gets ceil(len / world_size) items (a few repeated to even the shares), so all
        take the same number of steps, which the gradient averaging needs."""
        return torch.utils.data.DistributedSampler(dataset, num_replicas=self.world_size, rank=self.rank,
                                                   shuffle=True, seed=seed, drop_last=False)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all processes."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def barrier(self) -> None:
        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.local_rank])
        else:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in LAUNCH_VARIABLES)


def from_environment() -> Distributed | None:
    """Join the process group that torchrun set up (NCCL on CUDA, else gloo); None when not launched so."""
    if not launched_by_torchrun():
        return None
    if not dist.is_available():
        raise RuntimeError("started by torchrun, but this torch build has no torch.distributed")
    local_rank = int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s) "
                               "are visible; start at most one process per GPU (--nproc_per_node)")
        device, backend = torch.device("cuda", local_rank), "nccl"
        torch.cuda.set_device(device)
    else:
        device, backend = torch.device("cpu"), "gloo"
    owns_group = not dist.is_initialized()
    if owns_group:
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        store, _, _ = next(dist.rendezvous("env://", rank, world_size))  # MASTER_ADDR/MASTER_PORT: torchrun's store
        # That store outlives a process group, and a re-created default group reuses its key names: give
        # each group this process creates its own prefix, or a second train() reads the first's stale addresses.
        store = dist.PrefixStore(f"liquid_control/{next(_groups_created)}", store)
        dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world_size)
    return Distributed(world_size=dist.get_world_size(), rank=dist.get_rank(), local_rank=local_rank,
                       backend=dist.get_backend(), device=device, owns_group=owns_group)
