"""A simulator made with a signing seed holds the same webhook keys and account secret at every start
(what the local stack relies on for `make events`); one made without holds random ones."""

from pathlib import Path

from local.simulator.replicate import ReplicateDialect
from local.simulator.signing import Ed25519KeyRing
from local.simulator.testing import quick_simulator

SEED = b"a seed for the tests"


def published(ring: Ed25519KeyRing) -> list[str]:
    return [key["x"] for key in ring.jwks()["keys"]]


def test_a_seeded_ring_derives_the_same_keys_and_rotations_every_time() -> None:
    first, second = Ed25519KeyRing(SEED), Ed25519KeyRing(SEED)
    assert published(first) == published(second)

    first.rotate()
    second.rotate()

    assert published(first) == published(second)
    assert len(set(published(first))) == 2
    assert first.sign(b"m") == second.sign(b"m")
    assert published(Ed25519KeyRing(b"another seed")) != published(Ed25519KeyRing(SEED))
    assert published(Ed25519KeyRing()) != published(Ed25519KeyRing())


def test_a_seeded_simulator_starts_with_the_same_rings_and_replicate_secret(tmp_path: Path) -> None:
    def state(seed: bytes | None) -> tuple[list[str], list[str], str]:
        sim = quick_simulator(tmp_path, signing_seed=seed, dialects=[ReplicateDialect])
        dialect = sim.dialect("replicate")
        assert isinstance(dialect, ReplicateDialect)
        try:
            return published(sim.signing_keys), published(sim.key_ring("fal")), dialect.secret
        finally:
            sim.stop()

    seeded = state(SEED)

    assert state(SEED) == seeded
    assert seeded[0] != seeded[1]
    assert seeded[2].startswith("whsec_")
    unseeded = state(None)
    assert all(a != b for a, b in zip(unseeded, state(None), strict=True))
