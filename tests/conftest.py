"""Shared test configuration: Hypothesis profiles (derandomized in CI)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=25,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile(os.environ.get("SYMNN_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
