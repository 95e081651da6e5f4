"""Logger, tracer and metrics: created once, here, and imported everywhere else."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def trace_job(job_id: str) -> None:
    """Every log line from here on names the job, as ``job_id`` and as Powertools' ``correlation_id``."""
    logger.append_keys(job_id=job_id)
    logger.set_correlation_id(job_id)
