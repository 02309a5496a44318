"""The DAGs, one per file, ``dag_id`` = file stem; installed with recsmith so a deployment finds this folder."""
