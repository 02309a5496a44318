"""Compile ``recsmith_pipeline`` to ``components/recsmith_pipeline.yaml``.

``python components/compile.py [PATH]`` or ``python -m components.compile [PATH]``.
"""

import sys
from pathlib import Path

from kfp import compiler

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "components" / "recsmith_pipeline.yaml"


def compile_pipeline(output: Path = DEFAULT_OUTPUT) -> Path:
    """Write the pipeline's IR YAML to ``output`` and return it."""
    from components.pipeline import recsmith_pipeline

    compiler.Compiler().compile(recsmith_pipeline, str(output))
    return output


if __name__ == "__main__":
    if str(REPO_ROOT) not in sys.path:  # run as a script: make `components` importable
        sys.path.insert(0, str(REPO_ROOT))
    print(compile_pipeline(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT))
