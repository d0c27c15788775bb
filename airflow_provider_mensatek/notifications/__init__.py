"""notifications of the Mensatek / LegallyMail provider."""

from airflow_provider_mensatek.notifications.mensatek import MensatekEmailNotifier, MensatekSmsNotifier

__all__ = ["MensatekEmailNotifier", "MensatekSmsNotifier"]
