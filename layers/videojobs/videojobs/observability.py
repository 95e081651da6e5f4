"""Logger, tracer and metrics: created once, here, and imported everywhere else."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
