"""`labour-trust bench`: speed and memory figures, one module per benchmark.

Reports, not tests: each prints its figures and the ratio to its target. The hand-written
baselines here stay independent of the pipeline's SQL, so that a ratio compares two ways
of computing the same thing.
"""
