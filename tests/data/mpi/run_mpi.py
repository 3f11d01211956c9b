"""A mozaik run script that is a real MPI program (mpi4py), for the Slurm tests: mozaik's command line; each
rank reads the job's parameters file and leaves what it saw in ``rank<N>.json``; rank 0 gathers every rank's
value into the job's single values (``metrics.json``). The rank ``fail_rank`` of the tree raises instead."""

import json
import sys

from mpi4py import MPI

from launcher.mozaik.parameter_files import read_parameters

simulator, threads, parameter_file, run_name = sys.argv[1:]
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
tree = read_parameters(parameter_file)
with open(f"rank{rank}.json", "w") as out:
    json.dump({"rank": rank, "size": size, "value": tree["value"], "threads": int(threads)}, out)
if rank == tree["fail_rank"]:
    raise RuntimeError(f"rank {rank} of {size} fails")
values = comm.gather(tree["value"], root=0)
if rank == 0:
    with open("metrics.json", "w") as out:
        json.dump({"mpi_size": size, "value_sum": sum(values)}, out)
