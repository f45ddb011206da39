"""Contract suites: the tests that define each kind of kjs backend, for a backend's author.

One module per kind: `store`, `queue`, `notifier`, `election`, `balancer`, `log_sink`. Each is
a set of pytest test functions that take a fixture of a conventional name, which you define:

=========== =========================================================================
module      fixture you define
=========== =========================================================================
store       `store`: a migrated, empty store for each test
queue       `queue`: a started queue (async fixture), closed afterwards
notifier    `notifier_factory`: `(secret, timeout_s) -> notifier` allowed to call 127.0.0.1
election    `election_factory`: `() -> election` contending for one leadership
            (optional `election_cut_off`: cuts one off from what it renews through)
balancer    `balancer`: your balancer
log_sink    see its module docstring
=========== =========================================================================

Write a test module that defines the fixture and star-imports the suite (only its tests and
the fixtures it brings come in), e.g. `test_my_queue.py`::

    import pytest_asyncio
    from kjs.testing.contracts.queue import *  # noqa: F403

    @pytest_asyncio.fixture
    async def queue():
        q = MyQueue(...)
        await q.start()
        yield q
        await q.close()

and run `pytest test_my_queue.py`. Each module's docstring says what its fixture must provide.
The async suites need pytest-asyncio (`pip install 'kjs[test]'`) and mark their tests
themselves, so they run in its strict mode too. Importing `kjs` never imports these modules,
nor pytest; importing a suite does.
"""
