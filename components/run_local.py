"""Run ``recsmith_pipeline`` here with ``kfp.local``: ``python -m components.run_local`` (``make pipeline-local``).

Each step runs as a subprocess of this one with the installed recsmith (no container, no cluster, no network): the
stores are those of this process's ``RECSMITH_*`` environment (by default ``.recsmith`` under the working
directory, as for ``make demo``), and the Kubernetes secret and config map of the compiled pipeline play no part.
With no data given, it imports the demo's generated sample. Prints where each step's outputs are.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    from kfp import local

    from components.pipeline import recsmith_pipeline
    from recsmith.data.sample import generate_sample
    from recsmith.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-location", help="CSV or Parquet to import (default: the demo's sample)")
    parser.add_argument("--schema-file", help="its Avro schema JSON (default: the sample's)")
    parser.add_argument("--dataset-group", default="demo")
    parser.add_argument("--solution", default="")
    parser.add_argument("--recipe", default="automl")
    parser.add_argument("--perform-hpo", action="store_true")
    parser.add_argument("--solution-config", default="{}", help="Personalize's solutionConfig JSON")
    parser.add_argument("--campaign", default="demo-campaign")
    parser.add_argument("--update-mode", default="AUTO", choices=["AUTO", "MANUAL"])
    parser.add_argument("--pipeline-root", type=Path, help="where step outputs go (default: <home>/kfp-local)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    home = load_settings().resolved_home
    if args.data_location is None:
        sample = generate_sample(home / "sample")
        data_location, schema_file = str(sample.interactions), str(sample.interactions_schema)
    else:
        data_location, schema_file = args.data_location, args.schema_file
        if schema_file is None:
            parser.error("--schema-file is required with --data-location")
    root = (args.pipeline_root or home / "kfp-local").resolve()
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    recsmith_pipeline(
        data_location=data_location,
        schema_file=schema_file,
        dataset_group=args.dataset_group,
        solution=args.solution,
        recipe=args.recipe,
        perform_hpo=args.perform_hpo,
        solution_config=json.loads(args.solution_config),
        campaign=args.campaign,
        update_mode=args.update_mode,
    )
    logger.info("pipeline run finished; step outputs under %s", root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
