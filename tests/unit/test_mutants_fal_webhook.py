"""Survivors of `make mutate` in fal's webhook reading (after its signature is checked, so read here
through ``_webhook_update`` directly): an error with no words of fal's, and an OK whose payload is not
the output's shape."""

from typing import Any

from videojobs.models import ProviderState, ProviderUpdate
from videojobs.providers.fal.adapter import _Webhook, _webhook_update


def read(**fields: Any) -> ProviderUpdate:
    return _webhook_update(_Webhook.model_validate({"request_id": "req-1", **fields}))


def test_an_error_without_words_of_fals_fails_with_ours() -> None:
    update = read(status="ERROR")

    assert (update.state, update.error_message) == (ProviderState.FAILED, "fal reported an error")


def test_an_ok_whose_payload_is_not_the_outputs_shape_leaves_the_result_to_the_status_checks() -> None:
    update = read(status="OK", payload={"video": 5})

    assert (update.provider_job_id, update.state, update.output_url) == (
        "req-1",
        ProviderState.PROCESSING,
        None,
    )


def test_an_ok_with_a_video_succeeds_with_its_url() -> None:
    update = read(status="ok", payload={"video": {"url": "https://v3.fal.media/files/out.mp4"}})

    assert (update.state, update.output_url) == (
        ProviderState.SUCCEEDED,
        "https://v3.fal.media/files/out.mp4",
    )
