"""Ordering of pipelines: dependency cycles and the one run order every job can share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each distinct cycle of a dependency graph once, as a closed path ``[a, b, a]``."""
    cycles: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                key = frozenset(cycle)
                if key not in seen_sets:
                    seen_sets.add(key)
                    cycles.append(cycle)
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def topological_order(before: Mapping[str, Sequence[str]], nodes: Sequence[str]) -> list[str]:
    """``nodes`` ordered so that every node comes after the nodes listed in ``before[node]``.

    Ties keep the order of ``nodes``. Raises ``ValueError`` with the cycle when there is one.
    """
    cycles = find_cycles(before)
    if cycles:
        raise ValueError(" -> ".join(reversed(cycles[0])))
    placed: list[str] = []
    done: set[str] = set()

    def place(node: str) -> None:
        if node in done:
            return
        done.add(node)
        for earlier in before.get(node, []):
            place(earlier)
        placed.append(node)

    for node in nodes:
        place(node)
    return placed
