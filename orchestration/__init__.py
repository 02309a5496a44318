"""Glue between orchestrators and recsmith: nothing here holds workflow logic of its own.

``airflow_tasks`` is what the DAGs in ``dags/`` share (Params, the platform of a task, shared tasks);
``airflow_local`` runs those DAGs in this process on an embedded Airflow (SQLite, no scheduler), for tests and the
demo. Core (``recsmith``) never imports Airflow; only this package and ``dags/`` do.
"""
