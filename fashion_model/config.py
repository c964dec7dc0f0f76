"""One typed configuration per stage: every default and every check is declared here, once.

The CLI builds these from its options, the flows take them as parameters (Prefect 3 validates
pydantic parameters natively, and `prefect.yaml` writes them as nested mappings), and the
library takes them as they are. Whatever the entry point, a bad value is the same one-line
`BadInput` before any work: `parse` turns pydantic's report into "--concurrency 0: must be at
least 1" for the CLI and "parameter download.concurrency=0: must be at least 1" elsewhere.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fashion_model import __version__
from fashion_model.errors import BadInput

USER_AGENT = f"fashion-attributes/{__version__} (+catalog image fetcher)"
DASK_ADDRESS_ENV = "FASHION_DASK_ADDRESS"
MAX_PIXELS = 64_000_000  # default decompression-bomb limit (an 8000 x 8000 photo)
SIMILAR_K = 10  # similar products returned when not asked: CLI, API, web app, contact sheet
REVIEW_MARGIN = 0.1  # the band of |score - threshold| analytics_uncertain keeps (sql/load)


class StageConfig(BaseModel):
    """Frozen, unknown fields refused; `parse` is the one way in from user input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def parse(cls, value: Any = None, *, where: str = "parameter", **fields: Any) -> Self:
        """An instance from another instance, a mapping (a deployment's parameters) or None,
        with `fields` laid over it; a bad value is one line naming it. `where` is "--" for the
        CLI (options named --like-this) or a parameter path ("parameter download")."""
        if isinstance(value, cls) and not fields:
            return value
        data = value.model_dump() if isinstance(value, BaseModel) else dict(value or {})
        data.update(fields)
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise BadInput(describe_error(error, where)) from None

    def replace(self, **fields: Any) -> Self:
        """A copy with some fields changed, validated like any other input."""
        return type(self).parse(self, **fields)


def describe_error(error: ValidationError, where: str) -> str:
    """pydantic's first complaint as one line: the field, the value, what is allowed."""
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    value = first.get("input")
    reason = _reason(first)
    if not path:  # a check across fields
        return f"{'options' if where == '--' else where}: {reason}"
    if where == "--":
        return f"--{path.replace('_', '-')} {value}: {reason}"
    prefix = f"{where}." if where != "parameter" else "parameter "
    return f"{prefix}{path}={value!r}: {reason}"


def _reason(error: dict) -> str:
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "greater_than_equal":
        return "must be 0 or more" if ctx["ge"] == 0 else f"must be at least {ctx['ge']}"
    if kind == "greater_than":
        return f"must be above {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "less_than":
        return f"must be below {ctx['lt']}"
    if kind == "literal_error":
        return f"is not one of {ctx['expected'].replace(' or ', ', ')}"
    if kind.startswith("date_"):
        return "is not a date like 2026-11-27"
    if kind == "extra_forbidden":
        return "is not a known option"
    return str(error["msg"]).removeprefix("Value error, ")


def default_of(config: type[StageConfig], field: str) -> Any:
    """A knob's one default, for the library functions that take the knob on its own."""
    return config.model_fields[field].get_default(call_default_factory=True)


class DownloadConfig(StageConfig):
    """How the ingest stage fetches and stores images (see fashion_model.ingest.download)."""

    concurrency: int = Field(64, ge=1, description="requests in flight across all hosts")
    per_host: int = Field(16, ge=1, description="requests in flight to one host")
    per_host_rate: float | None = Field(
        None,
        ge=0,
        description="a hard cap of requests per second to one host (0: no limit at "
        "all) [default: adaptive: no limit until a host answers 429/503, then half the rate it "
        "got and 2% more per good answer; a Retry-After pauses the host]",
    )
    image_size: int = Field(
        256, ge=1, description="shorter side of stored images (a 512 px model: 512)"
    )
    jpeg_quality: int = Field(90, ge=1, le=95, description="JPEG quality of stored images (1-95)")
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(20.0, gt=0, description="longest silence reading a response")
    total_timeout: float = Field(60.0, gt=0, description="one attempt, redirects included")
    retries: int = Field(2, ge=0, description="extra attempts for transient failures")
    circuit_failures: int = Field(
        3,
        ge=1,
        description="URLs of one host in a row with no answer (timeouts, connection "
        "failures) that open its circuit: its other URLs are host_unreachable at once (retried "
        "on the next run)",
    )
    circuit_probe_after: float = Field(
        30.0,
        gt=0,
        description="seconds before an open circuit lets one probe through (it "
        "closes when the host answers)",
    )
    backoff: float = Field(0.5, ge=0, description="seconds, doubled per attempt, with jitter")
    max_retry_wait: float = Field(60.0, ge=0, description="a longer Retry-After ends the URL")
    max_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_pixels: int = Field(MAX_PIXELS, ge=1)
    max_redirects: int = Field(5, ge=0)
    max_feed_bytes: int = Field(2 * 1024**3, ge=1, description="a feed fetched from a URL")
    allow_private: bool = Field(False, description="allow loopback/private hosts (local servers)")
    allow_networks: tuple[str, ...] = Field((), description="non-public networks allowed anyway")
    honor_robots: bool = Field(True, description="X-Robots-Tag noai/noimageai -> disallowed")
    user_agent: str = USER_AGENT
    cpu_workers: int = Field(0, ge=0, description="image workers; 0: one per core")
    cpu_pool: Literal["thread", "process"] = "thread"


class IngestConfig(StageConfig):
    """What one ingest run does besides downloading (see fashion_model.ingest.pipeline). The
    nightly run has its own `retry_failed`, on by default: a night retries the last one's
    transient failures; an ad-hoc ingest only when asked."""

    retry_failed: bool = Field(
        False,
        description="also retry earlier retryable failures (timeouts, connection errors, "
        "429/5xx); a rerun always skips what is ok and picks up new records",
    )
    strict: bool = Field(
        False,
        description="label ids not in the label map, and catalog values that do not "
        "parse (prices, dates, availability), are an error",
    )


CATALOG_FIELDS = (
    "product_id",
    "image_url",
    "retailer",
    "brand",
    "title",
    "first_seen",
    "price",
    "currency",
    "sale_price",
    "availability",
)


class FeedConfig(StageConfig):
    """How a catalog feed is read (see fashion_model.ingest.feeds): its format (detected from
    the file by default), a column mapping onto the catalog fields, and the defaults for what
    the feed leaves unsaid."""

    format: Literal["auto", "catalog", "merchant", "merchant-xml", "shopify"] = Field(
        "auto",
        description="feed format: auto (from the extension, header or XML root), "
        "catalog (CSV/Parquet with product_id, image_url), merchant (Google Merchant TSV), "
        "merchant-xml (RSS/Atom), shopify (product export)",
    )
    mapping: dict[str, str] = Field(
        default_factory=dict, description="catalog field -> the feed's column (product_id=sku)"
    )
    delimiter: str | None = Field(
        None, description="CSV delimiter: , ; | or tab [default: detected]"
    )
    date_order: Literal["dmy", "mdy"] = Field(
        "dmy", description="dmy or mdy: how 01/02/2026 is read when both parts are <= 12"
    )
    currency: str | None = Field(
        None, description="currency of prices the feed writes without one (EUR)"
    )
    retailer: str | None = Field(None, description="retailer of a feed without a retailer column")

    @field_validator("mapping")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for key, column in value.items():
            if key not in CATALOG_FIELDS:
                raise ValueError(f"{key!r} is not a catalog field ({', '.join(CATALOG_FIELDS)})")
            if not str(column).strip():
                raise ValueError(f"{key} is mapped to an empty column name")
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ","}.get(value, value)
        if len(value) != 1 or value in '"\r\n':
            raise ValueError("must be one character, or tab")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_code(cls, value: str | None) -> str | None:
        return None if value is None else iso_currency(value)


def iso_currency(text: str) -> str:
    """A three-letter ISO 4217 code as feeds and users write it (`usd`, ` EUR `): the one rule,
    for --currency and a feed's currency column."""
    code = text.strip()
    if not (len(code) == 3 and code.isascii() and code.isalpha()):
        raise ValueError("is not a three-letter currency code like EUR")
    return code.upper()


class FeedSpec(FeedConfig):
    """One feed of a nightly run: where it is (a path or an https:// URL), whose it is, and
    the manifest name it is ingested under [default: NAME-retailer]."""

    source: str = Field(min_length=1)
    name: str | None = Field(None, min_length=1)


class ScaleOut(StageConfig):
    """Where the download and scoring stages run: `default` in the flow's own process, `dask`
    in shards on a Dask cluster (the scheduler at `dask_address`, else $FASHION_DASK_ADDRESS,
    else a LocalCluster of `dask_workers` processes started for the stage)."""

    task_runner: Literal["default", "dask"] = Field(
        "default",
        description="default (this process) or dask: download and score in shards "
        "on a Dask cluster",
    )
    dask_address: str | None = Field(
        None,
        description="Dask scheduler, e.g. tcp://scheduler:8786 [env FASHION_DASK_ADDRESS; "
        "default a local cluster]",
    )
    dask_workers: int | None = Field(
        None, ge=1, description="worker processes of the local cluster [default cores]"
    )

    @model_validator(mode="before")
    @classmethod
    def _address_from_environment(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("task_runner") == "dask":
            data = {
                **data,
                "dask_address": data.get("dask_address")
                or os.environ.get(DASK_ADDRESS_ENV)
                or None,
            }
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.task_runner != "dask" and (self.dask_address or self.dask_workers):
            raise ValueError("a Dask address or worker count needs task runner 'dask'")
        if self.dask_address and self.dask_workers:
            raise ValueError(
                "dask workers sets the size of a local cluster; with an address the cluster "
                "has the workers it has"
            )
        return self

    @property
    def sharded(self) -> bool:
        return self.task_runner == "dask"

    @property
    def local_workers(self) -> int:
        """Processes of the local cluster started when no address is given."""
        return self.dask_workers or max(1, os.cpu_count() or 1)

    def describe(self) -> str:
        """For summaries: where the stage ran."""
        if not self.sharded:
            return "default (this process)"
        if self.dask_address:
            return f"dask at {self.dask_address}"
        return f"dask, local cluster of {self.local_workers} workers"


class TrainConfig(StageConfig):
    """Training of a model version (see fashion_model.model.train)."""

    epochs: int = Field(6, ge=1, description="passes over the training images")
    # 64 px: 80 img/s on 2 cores in bf16; batch 16 beat 32 on the demo (0.886 vs 0.862)
    image_size: int = Field(64, ge=1, description="training image size (px)")
    batch_size: int = Field(16, ge=1, description="images per optimiser step")
    learning_rate: float = Field(2e-3, gt=0, description="peak of the one-cycle schedule")
    weight_decay: float = Field(1e-4, ge=0)
    validation_share: float = Field(0.15, gt=0, lt=1, description="held out without a split")
    num_workers: int | None = Field(None, ge=0, description="[1 on CPU, up to 8 on CUDA]")
    seed: int = Field(0, description="random seed: same seed, same data split and model")
    max_steps: int = Field(
        -1, ge=-1, description="stop after N optimiser steps (-1: epochs decide)"
    )
    accelerator: str = "auto"
    devices: int | Literal["auto"] = Field(
        "auto", description="devices to train on: N (DDP when above 1) or auto"
    )
    weights: str = Field(
        "auto",
        description="initial weights: imagenet (torchvision's file in "
        "$TORCH_HOME/hub/checkpoints, never downloaded), none (from scratch) or a weights file; "
        "auto: imagenet when the file is there, else none",
    )
    init: str | None = Field(
        None,
        min_length=1,
        description="fine-tune a registered version (an imported one): its "
        "architecture, input size and normalisation are kept",
    )
    reviewed_in_validation: bool = Field(
        False,
        description="let the hold-out draw from the --extra files too (only without a "
        "validation file)",
    )
    force_promote: bool = Field(False, description="make it production even if it validates worse")
    resume: bool = Field(
        False, description="continue the interrupted run of the same data and options"
    )
    max_minutes: float | None = Field(
        None, gt=0, description="stop training after M minutes, then tune and register"
    )
    compile: bool = Field(
        False, description="compile the network with torch.compile (long GPU runs)"
    )
    precision: Literal["auto", "32", "bf16"] = Field(
        "auto",
        description="auto (bf16 mixed on a CUDA GPU or a CPU with native bf16, "
        "AVX512-BF16 or AMX; else 32), 32 or bf16",
    )
    task_weights: dict[str, float] = Field(
        default_factory=dict,
        description="loss weight of a task's labels (e.g. pattern: 3); unnamed tasks weigh 1",
    )
    # Backbone learning rate as a share of the head's: None = 0.1 from pretrained weights (keep
    # what they learnt), 1.0 from scratch (the backbone has everything to learn).
    backbone_lr_factor: float | None = Field(None, gt=0, le=1)

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "auto":
            if not (value.isdigit() and int(value) >= 1):
                raise ValueError("is not a positive number or auto")
            return int(value)
        if isinstance(value, int) and value < 1:
            raise ValueError("is not a positive number or auto")
        return value

    @field_validator("task_weights")
    @classmethod
    def _task_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for task, weight in value.items():
            if not (weight > 0 and weight < float("inf")):
                raise ValueError(f"{task}={weight}: a weight must be a positive number")
        return value

    @field_validator("image_size")
    @classmethod
    def _image_size(cls, value: int) -> int:
        if value < 32:
            raise ValueError("must be at least 32 (ResNet34 downsamples 32x)")
        return value

    @field_validator("max_steps")
    @classmethod
    def _max_steps(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be -1 (the epochs decide) or at least 1")
        return value


class ScoreConfig(StageConfig):
    """Scoring of manifest images into the warehouse (see fashion_model.score)."""

    model: str = Field("production", min_length=1, description="model version, or production")
    as_of: date | None = Field(None, description="the run's date, YYYY-MM-DD [default today]")
    retailer: str | None = Field(
        None, description="retailer for a catalog without a retailer column"
    )
    batch_size: int = Field(64, ge=1, description="images per forward pass")
    rescore: bool = Field(False, description="replace this model's existing scores")
    colors: bool = Field(
        True, description="measure each image's dominant colours (image_colors) while scoring"
    )
    runtime: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto",
        description="auto, torch, onnx or onnx-int8: what runs the model (auto: its "
        "fastest registered variant here, `fashion model optimize`)",
    )


class OptimizeConfig(StageConfig):
    """`fashion model optimize`: faster runtime variants of a registered version."""

    int8: bool = Field(False, description="also a statically quantised int8 variant")
    images: int = Field(300, ge=8, le=5000, description="calibration images (int8)")
    max_f1_drop: float = Field(
        0.5,
        ge=0,
        le=100,
        description="refuse a variant whose "
        "validation micro-F1 falls more points than this below the "
        "version's",
    )


class ReportConfig(StageConfig):
    """The trend report written at the end of a nightly run."""

    task: str = Field("pattern", description="label task: pattern, color, category, ...")
    retailer: str | None = None

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        from fashion_model.labels import default_label_map

        tasks = default_label_map().tasks
        if value not in tasks:
            raise ValueError(f"is not one of {', '.join(tasks)}")
        return value


class NightlyConfig(StageConfig):
    """The nightly run around its stages (see flows/nightly.py)."""

    name: str = Field(
        "catalog",
        min_length=1,
        description="stable manifest name across nights (several feeds: NAME-retailer)",
    )
    retailer: str | None = Field(None, description="for a catalog without a retailer column")
    as_of: date | None = Field(None, description="the run's date, YYYY-MM-DD [default today]")
    model: str = Field("production", min_length=1)
    report: ReportConfig = ReportConfig()
    feed: FeedConfig = Field(FeedConfig(), description="how the one catalog is read")
    feeds: tuple[FeedSpec, ...] = Field((), description="several feeds, each its own manifest")
    retry_failed: bool = Field(True, description="retry the earlier nights' transient failures")
    stage_timeout_minutes: float = Field(240.0, gt=0, description="time limit of each stage")
    lock_wait_minutes: float = Field(
        0.0, ge=0, description="wait this long for a run that is writing the database"
    )
    notify_url: str | None = Field(None, description="webhook [env FASHION_NOTIFY_URL]")


class DemoConfig(StageConfig):
    """`make demo`: about 7 minutes on 2 CPU cores with native bf16 (about 33 products per
    retailer and month, 12 epochs at 64 px)."""

    products: int = Field(1200, ge=1, description="catalog products to draw")
    seed: int = Field(0, description="random seed: same seed, same catalog and model")
    # 12 epochs at 64 px, bf16: val micro-F1 0.956
    epochs: int = Field(12, ge=1, description="passes over the training images")
    image_size: int = Field(64, ge=32, description="training image size (px)")
    task_weights: dict[str, float] = Field(
        default_factory=lambda: {"pattern": 3.0},
        description="TASK=W: that task's loss weight (pattern 3: the prints are learnt within "
        "the demo's epochs)",
    )
    train_images: int = Field(1200, ge=1, description="labelled training photos")
    validation_images: int = Field(300, ge=1, description="labelled validation photos")
