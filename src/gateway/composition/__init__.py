"""The composition root: the one place that builds a process's engines, Redis
clients and processors, for the API, the workers, cron, every command and the
tests. Nothing below it builds its own; `core` and the domain packages are given
what they need.

`resources` is light (core and the processor registry only), so a domain module
may name its `Resources` type; `processors` and `process` import the processors'
implementations and are for entry points only.
"""
