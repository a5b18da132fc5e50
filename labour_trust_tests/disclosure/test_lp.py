import numpy as np
import scipy.sparse as sp

from labour_trust.disclosure.lp import AttackerLp


def test_warm_highs_and_linprog_agree_including_bound_changes():
    # x0 = x1 + x2 (published x1 in [38, 42]), x0 in [43, 47], x2 suppressed.
    m = sp.csr_matrix(np.array([[1.0, -1.0, -1.0]]))
    lower, upper = np.array([43.0, 38.0, 0.0]), np.array([47.0, 42.0, np.inf])
    for force in (False, True):
        lp = AttackerLp(m, lower, upper, force_linprog=force)
        assert lp.optimise(2, maximise=False).value == 1
        assert lp.optimise(2, maximise=True).value == 9
        lp.set_bounds(1, 0.0, np.inf)  # suppress x1 too
        assert lp.optimise(2, maximise=True).value == 47
        lp.set_bounds(0, 0.0, np.inf)  # and the total
        assert lp.optimise(2, maximise=True).status == "unbounded"
