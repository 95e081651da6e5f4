"""Where a request may go (catalog.routing): the candidates, their order, and the 422 when none serves."""

from decimal import Decimal
from typing import Any

import pytest

from videojobs.catalog.routing import plan_route
from videojobs.errors import NoProviderServes, RequestRejected
from videojobs.models import JobRequest
from videojobs.providers import UNITS
from videojobs.validation import detail_from_rejection

EVERY = list(UNITS)
#: 720p, 5 s, 16:9: ModelArk 0.756, EachLabs 1.2095, Atlas Cloud 1.2096, fal 1.512; the others unpriced.
PRICED = {"prompt": "a lighthouse", "resolution": "720p", "duration": 5, "aspect_ratio": "16:9"}


def plan(
    body: dict[str, Any], *, enabled: list[str] | None = None, order: list[str] | None = None, **prices: str
):
    return plan_route(
        JobRequest.model_validate(body),
        enabled=enabled or EVERY,  # type: ignore[arg-type]
        order=order or EVERY,  # type: ignore[arg-type]
        price_per_second_usd={name: Decimal(value) for name, value in prices.items()},  # type: ignore[misc]
    )


def test_auto_tries_the_cheapest_estimate_first_then_the_unpriced_in_routing_order() -> None:
    route = plan({**PRICED, "provider": "auto"}).route
    assert route.candidates == [
        "byteplus",
        "eachlabs",
        "atlascloud",
        "fal",
        "gateway",
        "jobs_api",
        "replicate",
    ]
    assert route.chosen == "byteplus"


def test_routing_order_orders_the_unpriced_and_breaks_no_price_order() -> None:
    order = ["replicate", "jobs_api", "gateway", "fal", "atlascloud", "eachlabs", "byteplus"]
    route = plan({**PRICED, "provider": "auto"}, order=order).route
    assert route.candidates == [
        "byteplus",
        "eachlabs",
        "atlascloud",
        "fal",
        "replicate",
        "jobs_api",
        "gateway",
    ]


def test_an_operators_price_per_second_puts_an_unpriced_provider_among_the_priced() -> None:
    route = plan({**PRICED, "provider": "auto"}, gateway="0.01").route
    assert route.candidates[0] == "gateway"  # 0.05 for 5 s


def test_the_estimate_of_the_first_candidate_is_the_jobs() -> None:
    planned = plan({**PRICED, "provider": "auto"})
    assert planned.first_estimate == 0.756
    assert planned.estimates["fal"] == 1.512


def test_only_enabled_providers_are_candidates() -> None:
    route = plan({**PRICED, "provider": "auto"}, enabled=["fal", "replicate"]).route
    assert route.candidates == ["fal", "replicate"]


def test_providers_with_auto_restricts_the_choice_and_keeps_the_price_order() -> None:
    route = plan({**PRICED, "provider": "auto", "providers": ["fal", "eachlabs", "replicate"]}).route
    assert route.candidates == ["eachlabs", "fal", "replicate"]


def test_providers_that_cannot_serve_the_request_are_left_out() -> None:
    # 4k with a reference video: only the gateway, Replicate and ModelArk render 4k.
    body = {
        "provider": "auto",
        "prompt": "x",
        "resolution": "4k",
        "reference_video_urls": ["https://a.example/v.mp4"],
    }
    assert plan(body).route.candidates == ["gateway", "replicate", "byteplus"]


def test_no_capable_enabled_provider_is_a_rejection_naming_the_field() -> None:
    body = {"provider": "auto", "prompt": "x", "resolution": "4k"}
    with pytest.raises(NoProviderServes) as raised:
        plan(body, enabled=["eachlabs", "fal"])
    detail = detail_from_rejection(raised.value)
    assert [item.loc for item in detail] == [["body", "resolution"]]
    assert detail[0].msg.startswith("no enabled provider serves this request: ")
    assert "eachlabs" in detail[0].msg
    assert "fal" in detail[0].msg


def test_each_field_that_stopped_a_provider_is_named_once() -> None:
    body = {"provider": "auto", "prompt": "x", "resolution": "4k", "providers": ["eachlabs", "byteplus"]}
    body["end_user_id"] = "u-1"  # ModelArk has no end_user_id; EachLabs no 4k
    with pytest.raises(NoProviderServes) as raised:
        plan(body)
    fields = sorted(item.loc[1] for item in detail_from_rejection(raised.value))
    assert fields == ["end_user_id", "resolution"]


def test_providers_naming_only_disabled_ones_is_rejected_at_providers() -> None:
    with pytest.raises(NoProviderServes) as raised:
        plan({**PRICED, "provider": "auto", "providers": ["fal"]}, enabled=["eachlabs"])
    (detail,) = detail_from_rejection(raised.value)
    assert detail.loc == ["body", "providers"]
    assert (
        detail.msg == "no enabled provider serves this request: none of the providers named is enabled here"
    )


def test_a_named_provider_alone_is_its_only_candidate_as_before() -> None:
    route = plan({**PRICED, "provider": "fal"}).route
    assert route.candidates == ["fal"]
    assert route.chosen == "fal"


def test_a_named_provider_with_providers_fails_over_in_the_order_given() -> None:
    route = plan({**PRICED, "provider": "fal", "providers": ["replicate", "fal", "eachlabs"]}).route
    assert route.candidates == ["fal", "replicate", "eachlabs"]


def test_a_named_provider_keeps_its_own_refusal_and_drops_backups_that_cannot_serve() -> None:
    with pytest.raises(RequestRejected) as raised:
        plan({"provider": "eachlabs", "prompt": "x", "resolution": "4k"})
    assert raised.value.field == "resolution"
    route = plan(
        {"provider": "byteplus", "prompt": "x", "resolution": "4k", "providers": ["eachlabs", "replicate"]}
    )
    assert route.route.candidates == ["byteplus", "replicate"]


def test_a_named_provider_that_is_not_enabled_is_refused_at_provider() -> None:
    with pytest.raises(RequestRejected) as raised:
        plan({**PRICED, "provider": "fal"}, enabled=["eachlabs"])
    assert (raised.value.field, raised.value.reason) == (
        "provider",
        "fal is not configured in this deployment",
    )


def test_providers_must_name_each_provider_once() -> None:
    with pytest.raises(ValueError, match="each provider once"):
        JobRequest.model_validate({**PRICED, "provider": "auto", "providers": ["fal", "fal"]})


def test_a_free_provider_comes_first() -> None:
    # An estimate of 0.00 is an estimate: the cheapest, not an unpriced one.
    route = plan({**PRICED, "provider": "auto"}, gateway="0").route
    assert route.candidates[0] == "gateway"
