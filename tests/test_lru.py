from tracemill.lru import LruCache


def test_keeps_the_most_recently_used_and_evicts_the_rest():
    evicted = []
    cache = LruCache(2, on_evict=lambda k, v: evicted.append((k, v)))
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert evicted == [("b", 2)]
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_evicted_pristine_trees_are_deleted(tmp_path, monkeypatch):
    from tracemill.verify import workspace

    tree = tmp_path / "tree"
    tree.mkdir()
    cache = LruCache(1, on_evict=workspace._PRISTINE._on_evict)
    cache.put(("repo", "c1"), tree)
    cache.put(("repo", "c2"), tmp_path)
    assert not tree.exists()
