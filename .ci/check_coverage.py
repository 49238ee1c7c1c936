"""Fail when the line coverage in a coverage.py JSON report is below a threshold.

Usage: check_coverage.py REPORT_JSON MIN_PERCENT

coverage.py's own ``fail_under`` tests the combined line and branch figure when branch
coverage is on. This gate tests lines only and prints the branch figure for information.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: check_coverage.py REPORT_JSON MIN_PERCENT", file=sys.stderr)
        return 2
    report_path = Path(argv[1])
    minimum = float(argv[2])
    if not report_path.is_file():
        print(
            f"Coverage report {report_path} is missing: the test run wrote no coverage data.",
            file=sys.stderr,
        )
        return 1

    totals = json.loads(report_path.read_text())["totals"]
    statements = int(totals["num_statements"])
    if statements == 0:
        print(
            "Coverage measured no statements of the package: no test imported it.",
            file=sys.stderr,
        )
        return 1
    line_percent = 100.0 * int(totals["covered_lines"]) / statements
    branches = int(totals.get("num_branches", 0))
    if branches:
        branch_percent = 100.0 * int(totals["covered_branches"]) / branches
        branch_text = f"{branch_percent:.1f}% of {branches} branches"
    else:
        branch_text = "no branches measured"

    print(
        f"Line coverage {line_percent:.1f}% of {statements} statements "
        f"(minimum {minimum:g}%); branch coverage {branch_text}."
    )
    if line_percent < minimum:
        print(
            f"Line coverage {line_percent:.1f}% is below the minimum of {minimum:g}% "
            "(Makefile variable COVERAGE_MIN).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
