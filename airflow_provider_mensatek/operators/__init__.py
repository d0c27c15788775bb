"""operators of the Mensatek / LegallyMail provider."""
