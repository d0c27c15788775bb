"""Apache Airflow provider for Mensatek and LegallyMail certified communications."""

__version__ = "0.1.0"
