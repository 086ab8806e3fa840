"""The real API responses of ../shared/yts-api/samples (CI clones the repository beside shared/)."""

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "yts-api" / "samples"
