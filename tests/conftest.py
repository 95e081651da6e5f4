"""Test-wide setup. Powertools reads these when the observability module is first imported."""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "seedance-pipeline")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SeedancePipelineTests")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
