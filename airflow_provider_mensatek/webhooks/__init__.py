"""Mensatek's real-time reports received by Airflow: the api-server plugin, its tables, Assets and CLI.

Kept import-free: Airflow imports the plugin module (and so this package) in every process.
"""
