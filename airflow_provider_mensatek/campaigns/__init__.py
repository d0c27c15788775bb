"""Campaign tooling outside DAGs: ``python -m airflow_provider_mensatek.campaigns ledger ...``."""
