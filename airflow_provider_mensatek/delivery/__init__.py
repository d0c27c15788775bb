"""Airflow-free delivery tracking shared by polls and webhooks.

``report.py`` holds :class:`~airflow_provider_mensatek.delivery.report.DeliveryReport`,
the one report type both produce, and ``rank.py`` the order that keeps a
message's latest status from moving backwards.
"""
