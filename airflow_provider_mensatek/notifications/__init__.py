"""notifications of the Mensatek / LegallyMail provider."""
