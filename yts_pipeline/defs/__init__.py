"""The Dagster layer: thin assets over the cores, their partitions, checks and automation."""

import warnings

import dagster as dg

# BackfillPolicy is marked beta in Dagster 1.13; the warning would greet every command and test.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
