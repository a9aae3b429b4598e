"""The shipped demo config and the generated sample data it samples from."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from imperium_desk.config import load_config
from imperium_desk.models.config import HistoricalLatency

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "imperium_desk" / "configs" / "demo.yaml"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_sample_data", REPO / "scripts" / "generate_sample_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_config_loads() -> None:
    config = load_config(DEMO)
    assert config.latency_model.per_asset["NIFTY"].type == "historical"


def test_demo_nifty_latency_samples_the_shipped_csv_resolved_from_the_config_file() -> None:
    nifty = load_config(DEMO).latency_model.per_asset["NIFTY"]
    assert isinstance(nifty, HistoricalLatency)
    assert nifty.source == (REPO / "imperium_desk" / "resources" / "latency_nifty.csv").resolve()
    assert nifty.bandwidth_ms == "silverman"
    assert nifty.samples.size == 5_000 and float(nifty.samples.min()) > 0


def test_demo_config_shows_mixture_shifted_student_t_and_scale_with() -> None:
    config = load_config(DEMO)
    latency = {key: model.type for key, model in config.latency_model.per_asset.items()}
    slippage = {key: model.type for key, model in config.slippage_model.per_asset.items()}
    assert {"mixture", "shifted", "student_t", "historical"} <= set(latency.values())
    assert {"mixture", "student_t", "historical"} <= set(slippage.values())
    assert config.latency_model.global_.scale_with is not None
    assert config.slippage_model.global_.scale_with is not None


def test_shipped_sample_data_is_what_the_generator_writes() -> None:
    for path, text in generator().files().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} differs: run scripts/generate_sample_data.py"


def test_generated_latency_has_the_stated_floor_and_slow_tail() -> None:
    latency = generator().latency_ms()
    assert latency.min() > 12.0
    assert 0.02 < float(np.mean(latency > 150.0)) < 0.06  # the 4% slow component, and little of the body
