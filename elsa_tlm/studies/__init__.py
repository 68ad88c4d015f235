"""Multi-run studies: what runs many simulations (or reads their results) to answer one question.

``sweep`` (sweep files, ``run_sweep`` over any executor, a sweep study's tables and figure), ``pipelines``
(the measured networks under the three schedules), ``elastic`` (functional digits runs: accuracy per step,
early exit; the schedules compared), ``compare`` and ``baselines`` (runs beside the published chips), ``bench``
(the reference benchmark) and ``noc`` (the synthetic-traffic driver of a standalone NoC and the routers'
overlay). Each is plain functions that check their input, write through the output guard and return their
rows; the commands (``elsa-tlm sweep | study | pipelines | elastic | compare | baselines | bench | noc |
noc-plot``) are in :mod:`elsa_tlm.cli`, their figures in :mod:`elsa_tlm.figures`. Nothing is imported here,
so ``import elsa_tlm`` stays cheap.
"""
