"""triggers of the Mensatek / LegallyMail provider."""
