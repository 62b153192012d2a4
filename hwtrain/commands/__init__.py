"""The command line's sub-commands beyond the registry verbs, one module each.

``hwtrain/cli.py`` owns ``generate``, ``verify``, ``synth``, ``sweep`` and ``demo``
(every design of :mod:`hwtrain.flows.designs`); each module here adds one more verb
with ``add_parser(subparsers)`` and runs it with ``run(args)``. This is the top layer:
nothing below imports from it.
"""
