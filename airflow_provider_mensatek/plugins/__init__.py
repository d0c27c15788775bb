"""plugins of the Mensatek / LegallyMail provider."""
