"""Archiving certificate evidence to object storage, and verifying it later.

The checks and manifest format are Airflow-free (``certificates/checks.py``);
this package adds the storage side, through ``airflow.sdk.ObjectStoragePath``.
Command line: ``python -m airflow_provider_mensatek.certificates verify <path-or-url> [--expect ID ...]``.
"""
