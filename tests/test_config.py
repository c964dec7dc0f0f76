"""The typed stage configs: one default and one check per option, the same one-line error from
every entry point (the CLI's option names, a deployment's parameter paths)."""

from datetime import date

import pytest

from fashion_model.config import (
    DemoConfig,
    DownloadConfig,
    NightlyConfig,
    ReportConfig,
    ScaleOut,
    ScoreConfig,
    TrainConfig,
)
from fashion_model.errors import BadInput


@pytest.mark.parametrize(
    ("config", "fields", "cli", "parameter"),
    [
        (
            DownloadConfig,
            {"concurrency": 0},
            "--concurrency 0: must be at least 1",
            "parameter download.concurrency=0: must be at least 1",
        ),
        (
            DownloadConfig,
            {"jpeg_quality": 99},
            "--jpeg-quality 99: must be at most 95",
            "parameter download.jpeg_quality=99: must be at most 95",
        ),
        (
            DownloadConfig,
            {"per_host_rate": -1},
            "--per-host-rate -1: must be 0 or more",
            "parameter download.per_host_rate=-1: must be 0 or more",
        ),
        (
            DownloadConfig,
            {"cpu_pool": "fork"},
            "--cpu-pool fork: is not one of 'thread', 'process'",
            "parameter download.cpu_pool='fork': is not one of 'thread', 'process'",
        ),
        (
            TrainConfig,
            {"image_size": 8},
            "--image-size 8: must be at least 32 (ResNet34 downsamples 32x)",
            "parameter download.image_size=8: must be at least 32",
        ),
        (
            TrainConfig,
            {"devices": "two"},
            "--devices two: is not a positive number or auto",
            "parameter download.devices='two': is not a positive number or auto",
        ),
        (
            TrainConfig,
            {"max_steps": 0},
            "--max-steps 0: must be -1 (the epochs decide)",
            "parameter download.max_steps=0: must be -1",
        ),
        (
            NightlyConfig,
            {"stage_timeout_minutes": -1},
            "--stage-timeout-minutes -1: must be above 0",
            "parameter download.stage_timeout_minutes=-1: must be above 0",
        ),
        (
            NightlyConfig,
            {"report": {"task": "fabric"}},
            "--report.task fabric: is not one of",
            "parameter download.report.task='fabric': is not one of category, color",
        ),
        (
            ScoreConfig,
            {"as_of": "2026-13-45"},
            "--as-of 2026-13-45: is not a date like 2026-11-27",
            "parameter download.as_of='2026-13-45': is not a date like 2026-11-27",
        ),
        (
            ScoreConfig,
            {"batch": 3},
            "--batch 3: is not a known option",
            "parameter download.batch=3: is not a known option",
        ),
        (
            DemoConfig,
            {"products": 0},
            "--products 0: must be at least 1",
            "parameter download.products=0: must be at least 1",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_option_or_the_parameter(config, fields, cli, parameter):
    for where, expected in (("--", cli), ("parameter download", parameter)):
        with pytest.raises(BadInput) as refused:
            config.parse(where=where, **fields)
        message = str(refused.value)
        assert message.startswith(expected), message
        assert "\n" not in message


def test_no_library_function_repeats_a_knobs_default_as_a_literal():
    """A function parameter named like a stage config's knob takes its default from the config
    (`default_of`), never a literal of its own: the knobs are read off the configs."""
    import ast
    from pathlib import Path

    from fashion_model.config import FeedConfig, IngestConfig, ScaleOut, ScoreConfig, StageConfig

    ROOT = Path(__file__).resolve().parents[1]
    configs = [DownloadConfig, ScoreConfig, FeedConfig, ScaleOut, NightlyConfig, IngestConfig]
    knobs = {field for config in configs for field in config.model_fields}
    # names with other meanings elsewhere (an API's response format, a demo feed's delimiter)
    knobs -= {"name", "model", "retailer", "as_of", "image_size", "source", "format", "delimiter"}
    assert {"batch_size", "concurrency", "per_host", "retry_failed"} <= knobs
    repeated = []
    for path in [
        *ROOT.glob("fashion_model/**/*.py"),
        *ROOT.glob("tasks/*.py"),
        *ROOT.glob("flows/**/*.py"),
    ]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args.args[len(node.args.args) - len(node.args.defaults) :]
            pairs = [
                *zip(args, node.args.defaults, strict=True),
                *zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True),
            ]
            for arg, default in pairs:
                literal = isinstance(default, ast.Constant) and default.value is not None
                if arg.arg in knobs and literal:
                    repeated.append(f"{path.relative_to(ROOT)}:{node.lineno} {arg.arg}")
    assert not repeated, repeated
    assert issubclass(ScoreConfig, StageConfig)


def test_mappings_from_a_deployment_are_parsed():
    nightly = NightlyConfig.parse({"as_of": "2026-11-27", "report": {"task": "color"}})
    assert nightly.as_of == date(2026, 11, 27) and nightly.report == ReportConfig(task="color")
    assert TrainConfig.parse(devices="2").devices == 2
    same = DownloadConfig(concurrency=8)
    assert DownloadConfig.parse(same) is same
    assert same.replace(per_host=2) == DownloadConfig(concurrency=8, per_host=2)
    with pytest.raises(BadInput, match="parameter per_host=0: must be at least 1"):
        same.replace(per_host=0)
    with pytest.raises(Exception, match="frozen"):
        same.concurrency = 2


def test_cross_field_rules_are_one_line_too():
    with pytest.raises(BadInput, match=r"^parameter scale_out: a Dask address or worker count"):
        ScaleOut.parse({"dask_workers": 2}, where="parameter scale_out")
    with pytest.raises(BadInput, match=r"^options: a Dask address or worker count"):
        ScaleOut.parse(where="--", dask_workers=2)


def test_every_deployment_names_its_flows_parameters_and_its_configs_parse():
    """prefect.yaml cannot drift from the flows and their configs: each deployment's parameters
    are parameters of its entrypoint, and each config-typed one parses into its config."""
    import importlib
    import inspect
    import typing
    from pathlib import Path

    import yaml

    from fashion_model.config import StageConfig

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "prefect.yaml").read_text())
    checked = 0
    for deployment in spec["deployments"]:
        module, name = deployment["entrypoint"].rsplit(".", 1)
        flow = getattr(importlib.import_module(module), name)
        hints = typing.get_type_hints(flow.fn)
        parameters = inspect.signature(flow.fn).parameters
        for key, value in (deployment.get("parameters") or {}).items():
            assert key in parameters, (deployment["name"], key)
            kind = hints.get(key)
            if isinstance(kind, type) and issubclass(kind, StageConfig):
                kind.parse(value, where=f"parameter {key}")
                checked += 1
    assert checked >= 4
