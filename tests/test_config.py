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
        (DownloadConfig, {"concurrency": 0}, "--concurrency 0: must be at least 1",
         "parameter download.concurrency=0: must be at least 1"),
        (DownloadConfig, {"jpeg_quality": 99}, "--jpeg-quality 99: must be at most 95",
         "parameter download.jpeg_quality=99: must be at most 95"),
        (DownloadConfig, {"per_host_rate": -1}, "--per-host-rate -1: must be 0 or more",
         "parameter download.per_host_rate=-1: must be 0 or more"),
        (DownloadConfig, {"cpu_pool": "fork"}, "--cpu-pool fork: is not one of 'thread', 'process'",
         "parameter download.cpu_pool='fork': is not one of 'thread', 'process'"),
        (TrainConfig, {"image_size": 8},
         "--image-size 8: must be at least 32 (ResNet34 downsamples 32x)",
         "parameter download.image_size=8: must be at least 32"),
        (TrainConfig, {"devices": "two"}, "--devices two: is not a positive number or auto",
         "parameter download.devices='two': is not a positive number or auto"),
        (TrainConfig, {"max_steps": 0}, "--max-steps 0: must be -1 (the epochs decide)",
         "parameter download.max_steps=0: must be -1"),
        (NightlyConfig, {"stage_timeout_minutes": -1},
         "--stage-timeout-minutes -1: must be above 0",
         "parameter download.stage_timeout_minutes=-1: must be above 0"),
        (NightlyConfig, {"report": {"task": "fabric"}}, "--report.task fabric: is not one of",
         "parameter download.report.task='fabric': is not one of category, color"),
        (ScoreConfig, {"as_of": "2026-13-45"}, "--as-of 2026-13-45: is not a date like 2026-11-27",
         "parameter download.as_of='2026-13-45': is not a date like 2026-11-27"),
        (ScoreConfig, {"batch": 3}, "--batch 3: is not a known option",
         "parameter download.batch=3: is not a known option"),
        (DemoConfig, {"products": 0}, "--products 0: must be at least 1",
         "parameter download.products=0: must be at least 1"),
    ],
)  # fmt: skip
def test_a_bad_value_is_one_line_naming_the_option_or_the_parameter(config, fields, cli, parameter):
    for where, expected in (("--", cli), ("parameter download", parameter)):
        with pytest.raises(BadInput) as refused:
            config.parse(where=where, **fields)
        message = str(refused.value)
        assert message.startswith(expected), message
        assert "\n" not in message


def test_defaults_are_declared_once_and_mappings_from_a_deployment_are_parsed():
    assert DownloadConfig().concurrency == 64 and DownloadConfig().per_host_rate is None
    assert TrainConfig().epochs == 6 and DemoConfig().epochs == 12
    assert TrainConfig().task_weights == {} and DemoConfig().task_weights == {"pattern": 3.0}
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
