"""fashion_model: the library behind the pipeline, one subpackage per stage.

The stage subpackages (ingest, model, score, scaleout, warehouse, analytics, match, demo) never
import Prefect; `fashion_model.tasks` and `fashion_model.flows` (the repository's top-level
`tasks/` and `flows/` folders) wrap and compose them. `fashion_model.sql` is the top-level `sql/`.
"""

__version__ = "0.1.0"
