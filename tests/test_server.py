import urllib.error
import urllib.request

import pytest

from fashion_model.demo.server import free_port, make_app, running_image_server
from fashion_model.errors import FashionError


def test_serves_files_and_refuses_paths_outside_the_folder(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a.jpg").write_bytes(b"jpeg bytes")
    (tmp_path / "secret.txt").write_text("secret")
    with running_image_server(tmp_path / "site") as base_url:
        with urllib.request.urlopen(f"{base_url}/a.jpg", timeout=10) as response:
            assert response.read() == b"jpeg bytes"
        for path in ("/missing.jpg", "/../secret.txt", "/%2e%2e/secret.txt"):
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(f"{base_url}{path}", timeout=10).close()
            assert error.value.code in (403, 404)


def test_only_loopback_and_existing_folders(tmp_path):
    with (
        pytest.raises(FashionError, match="not a loopback address"),
        running_image_server(tmp_path, host="0.0.0.0"),
    ):
        pass
    with pytest.raises(FashionError, match="image folder not found"):
        make_app(tmp_path / "nope")


def test_free_port_reports_a_taken_port(tmp_path):
    with running_image_server(tmp_path) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        assert free_port("127.0.0.1", port) == 0
