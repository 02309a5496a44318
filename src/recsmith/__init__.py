"""recsmith: a self-hosted Amazon Personalize.

The core library. Everything the CLI, the Airflow DAGs, the Kubeflow components and the BentoML service do is a
function here; those faces only adapt their inputs. Nothing in this package imports Airflow, KFP or BentoML.
"""

__version__ = "0.1.0"
