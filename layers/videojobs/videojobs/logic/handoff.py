"""Slot hand-off: a job that gives a provider slot back wakes the job that has waited longest for one.

A job that finds every slot of its provider taken joins the provider's line (`ports.ProviderCapacity`)
and goes back on the dispatch queue with a delay, as before: that delayed look is the safety net. Whoever
frees a slot (the job's end, a refused create, a lost claim, a spill-over that lost its job) claims
the oldest waiter and sends it a dispatch message with no delay. The woken job takes a slot through the
same conditional take as anyone, so a wake only ever decides who looks first, never who holds what.

A wake that its job cannot use (the job ended, was moved on, or is past its deadline) is passed on to
the next in line by the woken delivery, so a free slot never waits on a job that will not take it.
"""

from __future__ import annotations

from videojobs.dependencies import Dependencies
from videojobs.errors import DependencyUnavailable
from videojobs.models import DispatchRequest, ProviderName
from videojobs.observability import logger
from videojobs.ports import SlotWaiter


def give_back_slot(slot: str, job_id: str, deps: Dependencies) -> None:
    """Free ``slot`` if ``job_id`` holds it, and wake the job that has waited longest for one."""
    waiter = deps.capacity.release(slot, job_id)
    if waiter is not None:
        wake(waiter, deps)


def pass_on(provider: ProviderName, deps: Dependencies) -> None:
    """A wake its job could not use: wake the next job in ``provider``'s line instead."""
    waiter = deps.capacity.next_in_line(provider)
    if waiter is not None:
        wake(waiter, deps)


def wake(waiter: SlotWaiter, deps: Dependencies) -> None:
    try:
        deps.dispatches.enqueue(DispatchRequest(job_id=waiter.job_id, slot_wait=waiter.wait))
    except DependencyUnavailable:
        # Claimed and not woken: its own delayed look joins it to the line again, unclaimed.
        logger.warning("a waiting job was not woken; its own look comes later", job_id=waiter.job_id)
        return
    logger.info("slot handed on", job_id=waiter.job_id, provider=waiter.wait.provider)
