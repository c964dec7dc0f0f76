from pathlib import Path

from fashion_model.home import Home


def test_the_home_comes_from_the_option_then_the_environment_then_the_default(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FASHION_HOME", raising=False)
    assert Home.resolve().root == tmp_path / "fashion-home"
    monkeypatch.setenv("FASHION_HOME", str(tmp_path / "env"))
    assert Home.resolve().root == tmp_path / "env"
    home = Home.resolve(tmp_path / "option")
    assert home.root == tmp_path / "option"
    assert home.db == tmp_path / "option" / "fashion.duckdb"
    assert {home.images.name, home.manifests.name, home.models.name, home.reports.name} == {
        "images",
        "manifests",
        "models",
        "reports",
    }


def test_each_path_can_be_overridden_alone(tmp_path):
    home = Home.resolve(tmp_path, db=tmp_path / "elsewhere" / "w.duckdb", images=None)
    assert home.db == tmp_path / "elsewhere" / "w.duckdb"
    assert home.images == tmp_path / "images"
    home.ensure()
    assert all(Path(p).is_dir() for p in (home.images, home.models, home.reports))
    assert home.db.parent.is_dir()
