"""notifications of the Mensatek / LegallyMail provider."""

from typing import TYPE_CHECKING

from airflow_provider_mensatek._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_mensatek.notifications.mensatek import MensatekEmailNotifier, MensatekSmsNotifier

# Imported on first use (PEP 562), so that importing one module of the package costs only that module.
__getattr__, __dir__ = lazy_exports(__name__, {
    "MensatekEmailNotifier": "airflow_provider_mensatek.notifications.mensatek",
    "MensatekSmsNotifier": "airflow_provider_mensatek.notifications.mensatek",
})

__all__ = ["MensatekEmailNotifier", "MensatekSmsNotifier"]
