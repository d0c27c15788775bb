"""sensors of the Mensatek / LegallyMail provider."""
