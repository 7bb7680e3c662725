"""``membrane test RULES… CASES``: check a rules file against expected decisions.

Prints one line per case and, for each mismatch, the expected and actual
values side by side. Exit status: 0 all passed, 1 any failed or a file is
invalid, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys

from bus.errors import ConfigError
from bus.policy.cases import Result, run_cases
from bus.policy.compile import load_policy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rules", nargs="+", metavar="RULES", help="rules files (merged in order)")
    parser.add_argument("cases", metavar="CASES", help="a YAML or TOML file of test cases")
    parser.add_argument("--quiet", "-q", action="store_true", help="print failures only")


def _report(result: Result, quiet: bool) -> None:
    if result.passed:
        if not quiet:
            print(f"ok    {result.case.title}")
        return
    print(f"FAIL  {result.case.title}  ({result.where})")
    width = max(len(name) for name, _, _ in result.differences)
    for name, expected, got in result.differences:
        print(f"        {name:<{width}}  - expected: {expected}")
        print(f"        {'':<{width}}  + got:      {got}")


def run(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(*args.rules)
        results = run_cases(policy, args.cases)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for result in results:
        _report(result, args.quiet)
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed (policy {policy.version})")
    return 1 if failed or not results else 0
