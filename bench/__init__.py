"""The side-by-side benchmark of linesock and its peers (run it with ``./do_bench``).

Modules:

* :mod:`bench.servers`: every server under test, each run in its own process
  (``python -m bench.servers NAME``), the raw reference among them.
* :mod:`bench.workloads`: the one client code that drives all of them.
* :mod:`bench.environment`: what a run was measured on (machine, versions).
* :mod:`bench.run`: the runner: starts the servers, interleaves them within
  each repetition, takes medians, prints the table and writes the chart.
* :mod:`bench.report` and :mod:`bench.chart`: the tables and the chart of a run.
* :mod:`bench.targets`: the targets, as plain data, and the judging of a run.
* :mod:`bench.baseline`: the raw reference's usual rates (``bench/baseline.json``).
* :mod:`bench.judging`: the load average, the baseline and the verdicts of a run.
* :mod:`bench.cost`: system calls and page faults per command
  (``strace -c -f``, ``/usr/bin/time -v``).
* :mod:`bench.profile`: where the serving thread's time goes (py-spy).
"""
