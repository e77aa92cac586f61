"""The bottom of the import graph: typed settings and the identifiers clients name things by.

Imports nothing of ours, so every other package (features up to the CLI) can depend on it.
"""
