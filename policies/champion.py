"""The champion a new policy must beat: the better of ``segmented`` and ``best-simple``.

``segmented`` is the expert strategy; ``best-simple`` is the best one-treatment-at-a-fixed-
cadence rule found on training debtors. A policy that beats only the expert may have
found nothing a three-line rule would not: the champion is whichever of the two earns
more net value per case on the evaluation's own debtors.
"""

from __future__ import annotations

from collections.abc import Sequence

from policies.evaluate import Evaluation
from simulator.kpis import compute_kpis

CHAMPION_CANDIDATES = ("segmented", "best-simple")
CHAMPION_MEASURE = "net_value_per_case"


def champion(evaluation: Evaluation, candidates: Sequence[str] = CHAMPION_CANDIDATES) -> str:
    """The candidate with the highest mean net value per case in ``evaluation``.

    A tie goes to the earlier candidate (``segmented``: the rule a person can read). Raises
    ValueError naming the missing runs when a candidate was not evaluated.
    """
    missing = [name for name in candidates if name not in evaluation.runs]
    if missing:
        raise ValueError(
            f"the champion is chosen among {', '.join(candidates)}, but the evaluation has no "
            f"run of {', '.join(missing)}; evaluate with --policies {','.join(candidates)},..."
        )
    churn = evaluation.scenario.churn.enabled
    values = {
        name: compute_kpis(evaluation.runs[name].outcomes, churn_applies=churn)[
            CHAMPION_MEASURE
        ].mean
        for name in candidates
    }
    return max(candidates, key=lambda name: values[name])


__all__ = ["CHAMPION_CANDIDATES", "CHAMPION_MEASURE", "champion"]
