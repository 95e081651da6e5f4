"""Adapters of the ports to AWS services and HTTP. Each receives its client ready-made."""
