"""Run scikit-learn's full check_estimator on the neurodecode estimators and print every result.

Not collected by pytest (about 90 s per estimator on 2 cores): the results are recorded in
docs/guarantees.md. Usage: ``python tests/encoders/run_check_estimator.py [classifier|regressor|spike]``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sklearn.utils.estimator_checks import check_estimator  # noqa: E402
from test_sklearn_contract import _clf, _reg, _spike  # noqa: E402


def main(names: list[str]) -> None:
    warnings.filterwarnings("ignore")
    makers = {"classifier": _clf, "regressor": _reg, "spike": _spike}
    for name in names or list(makers):
        est = makers[name]()
        if name == "spike":
            est.set_params(max_epochs=2)
        results = check_estimator(est, on_fail=None)
        counts: dict[str, int] = {}
        for r in results:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
            if r["status"] != "passed":
                print(f"{name}: {r['status']} {r['check_name']}: {str(r.get('exception') or '')[:160]}")
        print(f"{name}: {counts}")


if __name__ == "__main__":
    main(sys.argv[1:])
