"""Speed paths of the trust core: SKIPPABLE for an auditor.

Every module here computes exactly what a reference module of :mod:`evidence.verify`
computes, faster (bulk intake, audits of large ledgers, thousands of receipts at a
time), and says in its docstring which reference it equals and which test in
``tests/equivalence/`` holds the two together. The reference modules never import
this package (an import-linter contract in ``pyproject.toml``), so the rules can be
read, and trusted, without it.
"""
