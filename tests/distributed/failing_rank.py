"""Run under mpirun: rank 1 fails (raises, or is killed) while rank 0 waits in an Allreduce.

Without the abort, rank 0 would wait forever; with it the job ends, and mpirun's exit code is
not 0.

    mpirun -n 2 python tests/distributed/failing_rank.py raise|kill
"""

import os
import signal
import sys
import time

import numpy as np

import deepwise.distributed as dist


def main() -> int:
    how = sys.argv[1] if len(sys.argv) > 1 else "raise"
    dist.init_process_group()
    x = np.ones(4, np.float32)
    dist.all_reduce(x)  # a first collective that works
    if dist.get_rank() == 1:
        time.sleep(0.2)
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise ValueError("rank 1 broke on purpose")
    dist.all_reduce(x)  # rank 0 waits here for a partner that never comes
    print("rank 0 passed the second all_reduce (it should not have)", flush=True)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
