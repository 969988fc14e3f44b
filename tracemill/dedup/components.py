"""Connected components of the verified near-duplicate graph; a component's keeper is its smallest id.

Two implementations of the same answer:
- `components(edges)`: union-find in one process, for small inputs, tests and the standalone path.
- Hash-to-Min rounds (Rastogi et al., "Finding Connected Components in Map-Reduce in Logarithmic
  Rounds", 2013) for Beam: each node v holds a cluster C(v); per round it sends C(v) to min C(v)
  and {min C(v)} to every member, and the new C(v) is the union of what it receives. Every message
  is keyed by a node, so a worker holds one node's cluster at a time: memory is bounded by the
  largest duplicate cluster, never by the corpus. A path of diameter d converges in O(log d)
  rounds; Beam graphs are static, so the rounds are unrolled (`DEFAULT_ROUNDS`) and any edge whose
  ends still disagree afterwards is counted (see `unconverged`), leaving that cluster split into
  parts that each keep their own smallest id (duplicates kept, never records lost).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

DEFAULT_ROUNDS = 12


def components(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """node -> smallest node of its component, for every node that appears in `edges`."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression keeps later finds O(1)
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            # Union by smaller id makes every root its component's minimum.
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    return {x: find(x) for x in parent}


def initial_clusters(node: str, neighbours: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    """C(v) = {v} and its neighbours, sorted."""
    return node, tuple(sorted({node, *neighbours}))


def hash_to_min_messages(node: str, cluster: tuple[str, ...]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """One round's messages from v: C(v) to min C(v), and (min C(v),) to each member."""
    low = cluster[0]
    yield low, cluster
    for member in cluster[1:]:
        yield member, (low,)


def merge_messages(node: str, received: Iterable[tuple[str, ...]]) -> tuple[str, tuple[str, ...]]:
    """The new C(v): the union of everything v received."""
    merged: set[str] = set()
    for part in received:
        merged.update(part)
    return node, tuple(sorted(merged))


def label(node: str, cluster: tuple[str, ...]) -> tuple[str, str]:
    """node -> its component label (the smallest id it has heard of, itself included)."""
    return node, min(cluster[0], node)


def hash_to_min(edges: Iterable[tuple[str, str]], rounds: int = DEFAULT_ROUNDS) -> dict[str, str]:
    """The Beam algorithm run in memory (for tests): node -> label after `rounds` rounds."""
    adjacency: dict[str, set[str]] = {}
    for a, b in edges:
        adjacency.setdefault(a, set()).add(b)
        adjacency.setdefault(b, set()).add(a)
    clusters = dict(initial_clusters(v, ns) for v, ns in adjacency.items())
    for _ in range(rounds):
        inbox: dict[str, list[tuple[str, ...]]] = {}
        for v, c in clusters.items():
            for target, msg in hash_to_min_messages(v, c):
                inbox.setdefault(target, []).append(msg)
        clusters = dict(merge_messages(v, msgs) for v, msgs in inbox.items())
    return dict(label(v, c) for v, c in clusters.items())


def unconverged(edges: Iterable[tuple[str, str]], labels: dict[str, str]) -> int:
    """Edges whose two ends ended with different labels (0 once the rounds sufficed)."""
    return sum(1 for a, b in edges if labels[a] != labels[b])
