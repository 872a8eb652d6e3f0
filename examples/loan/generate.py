"""Write data/loans.csv: a synthetic credit data set, the same every time (seeded).

Each row is a past loan: the applicant (age, income, employment, months in the job, credit history,
country), the loan, and whether it defaulted. Months in the job and the credit history are missing for
some applicants (a thin file), as they are in practice; the Bayesian network of the example reasons about
default risk without them. Run:  python examples/loan/generate.py [ROWS] [PATH] [SEED]
(another seed: other applicants from the same world).
"""

from __future__ import annotations

import csv
import math
import random
import sys
from pathlib import Path

COUNTRIES = ["NL", "DE", "FR", "BE", "XX"]  # XX: a country under sanctions (the example's regulatory exclusion)


def generate(rows: int = 4000, path: Path | None = None, seed: int = 11) -> Path:
    """The data set of ``rows`` loans at ``path`` (default: data/loans.csv beside this file)."""
    path = path or Path(__file__).with_name("data") / "loans.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["age", "income_k", "loan_k", "employment", "months_employed", "credit_history", "country",
                      "default"])
        for _ in range(rows):
            age = rng.randint(18, 75)
            employment = rng.choices(["employed", "self_employed", "unemployed"], [0.72, 0.18, 0.10])[0]
            income = max(8.0, rng.lognormvariate(math.log(42 if employment != "unemployed" else 16), 0.45))
            loan = max(1.0, rng.lognormvariate(math.log(14), 0.7))
            months = None if employment == "unemployed" else min(12 * (age - 17), int(rng.expovariate(1 / 60)))
            history = rng.choices(["good", "fair", "poor"], [0.6, 0.28, 0.12])[0]
            country = rng.choices(COUNTRIES, [0.4, 0.25, 0.2, 0.13, 0.02])[0]
            logit = (-2.6 + 2.2 * (loan / income) + {"good": -0.7, "fair": 0.3, "poor": 1.5}[history]
                     + {"employed": 0.0, "self_employed": 0.4, "unemployed": 1.2}[employment]
                     - 0.02 * (age - 40) - (0.004 * months if months is not None else 0))
            default = rng.random() < 1 / (1 + math.exp(-logit))
            if rng.random() < 0.15:  # a thin file: neither the job's length nor the history is known
                months, history = None, None
            out.writerow([age, round(income, 1), round(loan, 1), employment, "" if months is None else months,
                          history or "", country, "yes" if default else "no"])
    return path


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    print(generate(count, Path(sys.argv[2]) if len(sys.argv) > 2 else None, int(sys.argv[3]) if len(sys.argv) > 3
                   else 11))
