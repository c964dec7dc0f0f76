"""Task wiring: what is retried, what is never cached."""

from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from fashion_model.errors import FashionError
from tasks.common import retry_unless_bad_input
from tasks.ingest import download_images
from tasks.report import write_trend_report
from tasks.score import load_catalog_run, score_manifest_images
from tasks.train import train_model_version


def test_bad_input_is_never_retried_but_transient_faults_are():
    assert retry_unless_bad_input(None, None, Failed(data=FashionError("bad file"))) is False
    assert retry_unless_bad_input(None, None, Failed(data=ConnectionResetError("reset"))) is True


def test_network_tasks_retry_and_writes_are_never_cached():
    assert download_images.retries == 2
    assert download_images.retry_condition_fn is retry_unless_bad_input
    for task in (
        download_images,
        load_catalog_run,
        score_manifest_images,
        train_model_version,
        write_trend_report,
    ):
        assert task.cache_policy is NO_CACHE, task.name
