"""Sphinx configuration: ``make docs`` builds into docs/_build/html, with warnings as errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

# autodoc imports the provider, hence Airflow, which reads (and creates) its home at
# import time: a throwaway one under _build keeps the build away from ~/airflow and
# from whatever configuration the machine has.
os.environ["AIRFLOW_HOME"] = str(DOCS / "_build" / "airflow-home")

from airflow_provider_mensatek import __version__  # noqa: E402

project = "airflow-provider-mensatek"
author = "airflow-provider-mensatek maintainers"
copyright = "2026, the airflow-provider-mensatek maintainers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "provider_info",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
root_doc = "index"

# The API reference: one page per public module, generated from the docstrings.
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
# Our operators, sensors, hooks and triggers subclass Airflow's. Documenting
# inherited members would pull in Airflow's own docstrings, which are not ours to
# document and do not all parse as reStructuredText here; and an override without a
# docstring (``execute``) would show BaseOperator's text as if it were ours. The
# vendor clients are the exception: their facades are made of our own mixins, so
# their page asks for inherited members explicitly.
autodoc_inherit_docstrings = False
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True

# Cross-references to the provider's own API must resolve, so a renamed class or module
# breaks the build instead of leaving a dead link. Everything else cannot be checked:
# other projects' objects (no intersphinx: the build makes no network call), short
# names in docstrings (which Sphinx resolves only within their module), private names
# (bases shown by show-inheritance), and the campaign and certificate cores, which the
# guides document and the API reference leaves out.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!airflow_provider_mensatek\.).*"),
    (r"py:.*", r"airflow_provider_mensatek\..*\._.*"),
    (r"py:.*", r"airflow_provider_mensatek\.(campaigns|certificates)\.(?!limits\b).*"),
]

html_theme = "alabaster"
html_title = f"{project} {release}"
html_theme_options = {
    "description": "Apache Airflow provider for Mensatek and LegallyMail",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "260px",
}
html_show_sourcelink = False
