"""Reliability scenarios: faults, crashes, concurrent runs, hostile input and secrets (``make reliability``)."""
