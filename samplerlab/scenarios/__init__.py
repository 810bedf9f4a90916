"""Scenarios: inverse problems with exact posteriors, described in small TOML files
(:mod:`~samplerlab.scenarios.files`), built from their parts (:mod:`~samplerlab.scenarios.builders`),
from real images (:mod:`~samplerlab.scenarios.images`, :mod:`~samplerlab.scenarios.medical`), and
the families the diagnostics are validated on (:mod:`~samplerlab.scenarios.validation_families`)."""

from samplerlab.scenarios.files import (
                                        MIN_N,
                                        SCENARIO_DIR,
                                        Scenario,
                                        ScenarioError,
                                        data_path,
                                        list_scenarios,
                                        load_scenario,
                                        read_header,
                                        scenario_path,
)

__all__ = ["Scenario", "ScenarioError", "load_scenario", "list_scenarios", "scenario_path", "read_header",
           "data_path", "SCENARIO_DIR", "MIN_N"]
