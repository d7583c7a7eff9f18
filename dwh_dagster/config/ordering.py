"""Ordering of pipelines: dependency cycles and the one run order every job can share.

The walks are iterative: a chain of thousands of pipelines (a long sequential job) must not hit
Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import pairwise


def _closing_paths(graph: Mapping[str, Sequence[str]], roots: Iterable[str]) -> Iterator[list[str]]:
    """Walk ``graph`` depth-first from each unvisited root; yield ``[a, b, a]`` at every edge back
    into the current path. Every cycle reachable from the roots closes at least once."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        path = [root]
        depth = {root: 0}  # position of each node of the current path
        pending: list[Iterator[str]] = [iter(graph.get(root, []))]
        while pending:
            for nxt in pending[-1]:
                if state.get(nxt) == 1:
                    yield [*path[depth[nxt] :], nxt]
                elif nxt not in state:
                    state[nxt] = 1
                    depth[nxt] = len(path)
                    path.append(nxt)
                    pending.append(iter(graph.get(nxt, [])))
                    break
            else:
                node = path.pop()
                del depth[node]
                pending.pop()
                state[node] = 2


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each distinct cycle of a dependency graph once, as a closed path ``[a, b, a]``."""
    cycles: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    for cycle in _closing_paths(graph, sorted(graph)):
        key = frozenset(cycle)
        if key not in seen_sets:
            seen_sets.add(key)
            cycles.append(cycle)
    return cycles


def has_cycle_through(graph: Mapping[str, Sequence[str]], roots: Iterable[str]) -> bool:
    """Whether a cycle is reachable from ``roots`` (every cycle through a root is); stops at the first."""
    return next(_closing_paths(graph, roots), None) is not None


def cycle_text(before: Mapping[str, Sequence[str]]) -> str | None:
    """The first cycle of ``before`` (node -> nodes that must come earlier) in run order,
    ``a -> b -> a``; None when there is none."""
    cycles = find_cycles(before)
    return " -> ".join(reversed(cycles[0])) if cycles else None


def topological_order(before: Mapping[str, Sequence[str]], nodes: Sequence[str]) -> list[str]:
    """``nodes`` ordered so that every node comes after the nodes listed in ``before[node]``.

    Ties keep the order of ``nodes``. Raises ``ValueError`` with the cycle when there is one.
    """
    cycle = cycle_text(before)
    if cycle:
        raise ValueError(cycle)
    placed: list[str] = []
    done: set[str] = set()
    for root in nodes:
        if root in done:
            continue
        done.add(root)
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(before.get(root, [])))]
        while stack:
            node, earlier_nodes = stack[-1]
            for earlier in earlier_nodes:
                if earlier not in done:
                    done.add(earlier)
                    stack.append((earlier, iter(before.get(earlier, []))))
                    break
            else:
                stack.pop()
                placed.append(node)
    return placed


def run_order_constraints(
    depends_on: Mapping[str, Sequence[str]],
    dag_jobs: Iterable[Mapping[str, Sequence[str]]] = (),
    sequential_jobs: Iterable[Sequence[str]] = (),
) -> dict[str, list[str]]:
    """For each pipeline, the pipelines that must run before it.

    ``depends_on``: each pipeline's own ``depends_on`` (every pipeline is a key); ``dag_jobs``: per
    dag job, each entry's ``depends_on``; ``sequential_jobs``: per sequential job, its enabled
    pipelines in run order (each runs after the one before it).
    """
    before = {name: list(earlier) for name, earlier in depends_on.items()}
    for job in dag_jobs:
        for name, earlier_names in job.items():
            for earlier in earlier_names:
                if earlier not in before[name]:
                    before[name] = [*before[name], earlier]
    for names in sequential_jobs:
        for earlier, later in pairwise(names):
            if earlier not in before[later]:
                before[later] = [*before[later], earlier]
    return before
