"""AWS's published on-demand prices in us-east-1 (US East, N. Virginia), the only place they are kept.

Each price is the first tier's (what a pipeline below the volume discounts pays); free tiers are left
out, since a job's cost is what one more job adds. ``source`` is AWS's own pricing page; ``read_via``
is where the figure was read on ``read_on`` (a stored copy of that page, or of AWS documentation, or
a page quoting it where no copy of AWS's page was stored: see docs/performance.md, "AWS cost per job").
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

READ_ON = "2026-12-07"


@dataclass(frozen=True)
class Price:
    usd: Decimal
    #: What ``usd`` buys, e.g. "1,000,000 requests".
    per: Decimal
    unit: str
    source: str
    read_via: str
    read_on: str = READ_ON

    @property
    def usd_per_unit(self) -> Decimal:
        return self.usd / self.per


MILLION = Decimal(1_000_000)

#: By billing dimension: the keys of ``aws_usage.Usage``.
PRICES: dict[str, Price] = {
    "lambda_requests": Price(
        Decimal("0.20"),
        MILLION,
        "requests",
        "https://aws.amazon.com/lambda/pricing/",
        "https://git.mcrn.ar/mariano/lambda_local_runner/src/commit/957e45b8adae23ce50b966346229585b5df18b4d/docs/lambdas-md/lambda-13-cost.md",
    ),
    # Arm, first 7.5 billion GB-s a month.
    "lambda_gb_seconds": Price(
        Decimal("0.0000133334"),
        Decimal(1),
        "GB-s (arm64)",
        "https://aws.amazon.com/lambda/pricing/",
        "https://cloudchipr.com/blog/aws-lambda-pricing",
    ),
    # On-demand, Standard table class (the prices after AWS's November 2024 cut).
    "dynamodb_wru": Price(
        Decimal("0.625"),
        MILLION,
        "write request units",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "https://airbyte.com/data-engineering-resources/dynamodb-pricing",
    ),
    "dynamodb_rru": Price(
        Decimal("0.125"),
        MILLION,
        "read request units",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "https://airbyte.com/data-engineering-resources/dynamodb-pricing",
    ),
    "dynamodb_gb_months": Price(
        Decimal("0.25"),
        Decimal(1),
        "GB-month of table storage (after the first 25 GB)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "https://infratally.com/articles/aws-dynamodb-pricing-explained-on-demand-vs-provisioned-capacity-free-tier-2026/",
    ),
    # Standard queues, 1 million to 100 billion requests a month; each 64 KB chunk of a payload is
    # one request.
    "sqs_requests": Price(
        Decimal("0.40"),
        MILLION,
        "requests (64 KB chunks)",
        "https://aws.amazon.com/sqs/pricing/",
        "https://unanswered.io/guide/aws-sqs-pricing-and-cost-optimization",
    ),
    # Custom events published to an event bus; each 64 KB chunk of a payload is one event.
    "eventbridge_events": Price(
        Decimal("1.00"),
        MILLION,
        "custom events (64 KB chunks)",
        "https://aws.amazon.com/eventbridge/pricing/",
        "https://hykell.com/uncategorized/aws-eventbridge-pricing-and-cost-management",
    ),
    # PUT, COPY, POST and LIST requests (a multipart upload's create, each part and its complete).
    "s3_write_requests": Price(
        Decimal("0.005"),
        Decimal(1000),
        "PUT, COPY, POST, LIST requests",
        "https://aws.amazon.com/s3/pricing/",
        "https://devnotes.tech/understanding-aws-s3-pricing-a-complete-cost-breakdown-with-examples",
    ),
    "s3_read_requests": Price(
        Decimal("0.0004"),
        Decimal(1000),
        "GET, SELECT and all other requests (DELETE is free)",
        "https://aws.amazon.com/s3/pricing/",
        "https://cloudoptimo.com/blog/a-look-into-aws-s3-pricing-models",
    ),
    # S3 Standard, first 50 TB a month.
    "s3_gb_months": Price(
        Decimal("0.023"),
        Decimal(1),
        "GB-month, S3 Standard",
        "https://aws.amazon.com/s3/pricing/",
        "https://devnotes.tech/understanding-aws-s3-pricing-a-complete-cost-breakdown-with-examples",
    ),
    # HTTP APIs, first 300 million requests a month, metered in 512 KB increments.
    "api_requests": Price(
        Decimal("1.00"),
        MILLION,
        "HTTP API requests (512 KB increments)",
        "https://aws.amazon.com/api-gateway/pricing/",
        "https://docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/cost-optimization.html",
    ),
    "secrets_calls": Price(
        Decimal("0.05"),
        Decimal(10_000),
        "Secrets Manager API calls",
        "https://aws.amazon.com/secrets-manager/pricing/",
        "https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms",
    ),
}

#: The service each dimension is billed under, for the breakdown.
SERVICES: dict[str, str] = {
    "lambda_requests": "Lambda",
    "lambda_gb_seconds": "Lambda",
    "dynamodb_wru": "DynamoDB",
    "dynamodb_rru": "DynamoDB",
    "dynamodb_gb_months": "DynamoDB",
    "sqs_requests": "SQS",
    "eventbridge_events": "EventBridge",
    "s3_write_requests": "S3",
    "s3_read_requests": "S3",
    "s3_gb_months": "S3",
    "api_requests": "API Gateway",
    "secrets_calls": "Secrets Manager",
}
