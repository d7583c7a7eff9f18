"""Ordering of pipelines: dependency cycles and the one run order every job can share.

The walks are iterative: a chain of thousands of pipelines (a long sequential job) must not hit
Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each distinct cycle of a dependency graph once, as a closed path ``[a, b, a]``."""
    cycles: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        state[root] = 1
        path = [root]
        depth = {root: 0}  # position of each node of the current path
        pending: list[Iterator[str]] = [iter(graph.get(root, []))]
        while pending:
            for nxt in pending[-1]:
                if state.get(nxt) == 1:
                    cycle = [*path[depth[nxt] :], nxt]
                    key = frozenset(cycle)
                    if key not in seen_sets:
                        seen_sets.add(key)
                        cycles.append(cycle)
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
    return cycles


def has_cycle_through(graph: Mapping[str, Sequence[str]], roots: Iterable[str]) -> bool:
    """Whether a cycle is reachable from ``roots`` (every cycle through a root is)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        path = [root]
        pending: list[Iterator[str]] = [iter(graph.get(root, []))]
        while pending:
            for nxt in pending[-1]:
                seen = state.get(nxt)
                if seen == 1:
                    return True
                if seen is None:
                    state[nxt] = 1
                    path.append(nxt)
                    pending.append(iter(graph.get(nxt, [])))
                    break
            else:
                state[path.pop()] = 2
                pending.pop()
    return False


def topological_order(before: Mapping[str, Sequence[str]], nodes: Sequence[str]) -> list[str]:
    """``nodes`` ordered so that every node comes after the nodes listed in ``before[node]``.

    Ties keep the order of ``nodes``. Raises ``ValueError`` with the cycle when there is one.
    """
    cycles = find_cycles(before)
    if cycles:
        raise ValueError(" -> ".join(reversed(cycles[0])))
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
