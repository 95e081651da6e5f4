"""`make events`: the provider webhook samples in events/, signed for the local stack, so that
`sam local invoke CallbackFunction -e events/<provider>_webhook.json --env-vars env.json` against a
running `make local` is authenticated as a real webhook is.

Each sample of the webhook route (``POST /webhooks/{provider}/{job_id}``) gets, as of the moment it is
made:

- a token for its job made with the local stack's webhook token secret, expiring as late as the pipeline
  accepts: ``JOB_MAX_AGE_SECONDS`` + ``WEBHOOK_RETRY_WINDOW_SECONDS`` on (26 hours by default). A token
  expiring later is refused as forged (`videojobs.security`), so none can live longer;
- for a provider that signs its webhooks, a timestamp of that moment and the signature `make local`'s
  simulator would make (its dialects' ``signature_headers``, its seeded keys): EachLabs' HMAC with the
  job's signing secret, Atlas Cloud's and fal's Ed25519, Replicate's Standard Webhooks HMAC with the
  account secret. Every adapter refuses a timestamp more than ``WEBHOOK_MAX_AGE_SECONDS`` (300 s) from its
  clock, either way, so a signed sample is good for five minutes: run `make events` just before invoking.

Nothing else changes (body, ids, other headers), so two runs differ only in tokens, timestamps and
signatures.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.env_json import function_settings
from local.simulator import atlascloud, eachlabs, fal, replicate
from local.simulator.signing import Ed25519KeyRing
from local.stack import LocalStackConfig, local_simulator
from local.template import ROOT
from videojobs.catalog.capabilities import Callbacks, capabilities_of
from videojobs.models import ProviderName
from videojobs.security import WebhookAuthenticator
from videojobs.settings import Settings

EVENTS_DIR = ROOT / "events"
WEBHOOK_ROUTE = "POST /webhooks/{provider}/{job_id}"
#: Left in a sample by hand, never by `make events`.
PLACEHOLDER = "REPLACE_"


@dataclass(frozen=True)
class LocalKeys:
    """What the local stack signs and checks webhooks with."""

    #: The callback function's settings on env.json, with the local stack's secret.
    settings: Settings
    authenticator: WebhookAuthenticator
    atlascloud_keys: Ed25519KeyRing
    fal_keys: Ed25519KeyRing
    #: The user id fal's webhooks carry: the simulator's for the local stack's fal key.
    fal_user: str
    replicate_secret: str


def local_keys(now: datetime, config: LocalStackConfig | None = None) -> LocalKeys:
    """The local stack's webhook token secret (as the callback function reads it on env.json) and the
    signing keys of a simulator made as `make local` makes it, at `now`."""
    config = config or LocalStackConfig.from_environment()
    settings = function_settings("CallbackFunction", config)
    authenticator = WebhookAuthenticator(
        settings.webhook_token_secrets(), lifetime=settings.webhook_token_lifetime(), clock=lambda: now
    )
    simulator = local_simulator(config)
    try:
        dialect = simulator.dialect("replicate")
        if not isinstance(dialect, replicate.ReplicateDialect):
            raise TypeError("the local simulator mounts no Replicate dialect")
        fal_key = settings.provider_api_keys("fal")[0].get_secret_value()
        return LocalKeys(
            settings=settings,
            authenticator=authenticator,
            atlascloud_keys=simulator.signing_keys,
            fal_keys=simulator.key_ring("fal"),
            fal_user=fal.user_id(fal_key),
            replicate_secret=dialect.secret,
        )
    finally:
        simulator.stop()


type Signer = Callable[[LocalKeys, str, Mapping[str, str], str, bytes], Mapping[str, str]]

#: A signed provider's headers for (keys, job id, the sample's headers, timestamp, body).
SIGNERS: dict[ProviderName, Signer] = {
    "eachlabs": lambda keys, job_id, _headers, timestamp, body: eachlabs.signature_headers(
        keys.authenticator.signing_secret_for(job_id), timestamp, body
    ),
    "atlascloud": lambda keys, _job_id, _headers, timestamp, body: atlascloud.signature_headers(
        keys.atlascloud_keys, timestamp, body
    ),
    "fal": lambda keys, _job_id, headers, timestamp, body: fal.signature_headers(
        keys.fal_keys, headers[fal.REQUEST_ID_HEADER.lower()], keys.fal_user, timestamp, body
    ),
    "replicate": lambda keys, _job_id, headers, timestamp, body: {
        replicate.TIMESTAMP_HEADER: timestamp,
        replicate.SIGNATURE_HEADER: replicate.sign(
            keys.replicate_secret, headers[replicate.ID_HEADER], timestamp, body
        ),
    },
}


def is_webhook_sample(event: Mapping[str, Any]) -> bool:
    return event.get("routeKey") == WEBHOOK_ROUTE


def signed_for_local(event: Mapping[str, Any], keys: LocalKeys, now: datetime) -> dict[str, Any]:
    """The sample with a fresh token, and for a signed provider a fresh timestamp and signature."""
    signed: dict[str, Any] = json.loads(json.dumps(event))
    provider, job_id = signed["pathParameters"]["provider"], signed["pathParameters"]["job_id"]
    token = keys.authenticator.token_for(job_id)
    signed["rawQueryString"] = f"token={token}"
    signed["queryStringParameters"] = {"token": token}
    if capabilities_of(provider).callbacks is Callbacks.SIGNED:
        headers = signed["headers"]
        stamp = str(int(now.timestamp()))
        made = SIGNERS[provider](keys, job_id, headers, stamp, signed["body"].encode())
        headers.update({name.lower(): value for name, value in made.items()})
    return signed


def sample_events(keys: LocalKeys, now: datetime, events_dir: Path = EVENTS_DIR) -> dict[Path, str]:
    """Each webhook sample's path -> its text, signed with `keys` at `now`."""
    samples: dict[Path, str] = {}
    for path in sorted(events_dir.glob("*.json")):
        event = json.loads(path.read_text())
        if is_webhook_sample(event):
            samples[path] = (
                json.dumps(signed_for_local(event, keys, now), indent=2, ensure_ascii=False) + "\n"
            )
    return samples


def main() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    keys = local_keys(now)
    samples = sample_events(keys, now)
    for path, text in samples.items():
        path.write_text(text)
    print(f"signed for the local stack at {now:%H:%M:%S} UTC: {', '.join(path.name for path in samples)}")
    print(
        f"signatures are good for WEBHOOK_MAX_AGE_SECONDS ({keys.settings.webhook_max_age_seconds} s), "
        f"tokens until {now + keys.settings.webhook_token_lifetime():%Y-%m-%d %H:%M} UTC: "
        "`make events` again after that"
    )
    left = sorted(path.name for path in EVENTS_DIR.glob("*.json") if PLACEHOLDER in path.read_text())
    if left:
        raise SystemExit(f"placeholders left in {', '.join(left)}")


if __name__ == "__main__":
    main()
