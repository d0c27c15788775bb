"""hooks of the Mensatek / LegallyMail provider."""
