"""The Amazon Forecast side of recsmith: time-series dataset groups and datasets, validated imports, predictors
(AutoPredictor over ETS, ARIMA, NPTS, Prophet, DeepAR+ and CNN-QR) with backtests and accuracy metrics, forecasts
queried by item, and export jobs.

It shares the platform with the Personalize side: the catalog (its own resource types, Forecast's ARNs), data
versions and DVC, S3, MLflow tracking and the model registry. Every face (the API operations in
:mod:`recsmith.forecast.operations`, the CLI, the Airflow DAG, the KFP components) calls the typed functions of
these modules.
"""
