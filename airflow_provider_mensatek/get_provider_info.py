"""Provider entry point (``apache_airflow_provider`` group), laid out as the official providers do.

A mistake here breaks ``import airflow`` for every user of the environment, so
it is validated in the tests against Airflow's own provider_info schema.
Connection form fields live here (``conn-fields`` / ``ui-field-behaviour``):
the hook classmethods for them are deprecated since Airflow 3.2.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mensatek import __version__

PACKAGE = "airflow_provider_mensatek"


def _timeouts_fields() -> dict[str, Any]:
    return {
        "connect_timeout": {
            "label": "Connect timeout (s)",
            "schema": {"type": ["number", "null"], "default": 10},
        },
        "read_timeout": {
            "label": "Read timeout (s)",
            "schema": {"type": ["number", "null"], "default": 60},
        },
        "max_retries": {
            "label": "Attempts per call",
            "description": "Attempts for calls that are safe to repeat; sends are only retried when "
            "they certainly did not arrive.",
            "schema": {"type": ["integer", "null"], "default": 4},
        },
        "max_retry_wait": {
            "label": "Longest Retry-After waited in a task (s)",
            "description": "A longer Retry-After fails the call with a rate-limit error, so the task's "
            "retry_policy (MensatekRetryPolicy) reschedules it instead of holding a worker slot.",
            "schema": {"type": ["number", "null"], "default": 120},
        },
        "deadline": {
            "label": "Deadline per call (s)",
            "description": "The most one call may take: every attempt and its answer, however slowly it "
            "arrives, and the waits between attempts. Hit on a send, the send counts as possibly sent.",
            "schema": {"type": ["number", "null"], "default": 300},
        },
        "max_response_bytes": {
            "label": "Largest answer read (bytes)",
            "description": "Answers are refused beyond this, decoded size (certificate downloads have "
            "their own limits).",
            "schema": {"type": ["integer", "null"], "default": 8388608},
        },
        "proxy": {
            "label": "Egress proxy (optional)",
            "description": "http://host:port or https://host:port, used for an https base URL only (a CONNECT "
            "tunnel: the proxy never sees the token). Without it the environment's proxies are ignored. "
            "No credentials in the URL.",
            "schema": {"type": ["string", "null"]},
        },
        "ca_bundle": {
            "label": "CA bundle path (optional)",
            "description": "Absolute path to a PEM file or folder that replaces the default CAs (e.g. a "
            "TLS-inspecting gateway's CA plus the usual roots). Verification is never turned off.",
            "schema": {"type": ["string", "null"]},
        },
        "scheme": {
            "label": "Scheme (https or http)",
            "description": "For a host without a scheme (the URI form); empty means https. http is refused "
            "except for loopback hosts such as the local sandbox.",
            "schema": {"type": ["string", "null"], "enum": ["https", "http", None]},
        },
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-mensatek",
        "name": "Mensatek and LegallyMail",
        "description": "Certified email, SMS, RCS, email and e-signature through Mensatek and LegallyMail, "
        "with polite sensors and verified certificate archiving.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Mensatek",
                "external-doc-url": "https://www.mensatek.com/",
                "tags": ["service"],
            },
            {
                "integration-name": "LegallyMail",
                "external-doc-url": "https://legallymail.com/",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {"integration-name": "Mensatek", "python-modules": [f"{PACKAGE}.hooks.mensatek"]},
            {"integration-name": "LegallyMail", "python-modules": [f"{PACKAGE}.hooks.legallymail"]},
            {"integration-name": "Mensatek", "python-modules": [f"{PACKAGE}.hooks.mensatek_reports"]},
        ],
        "operators": [
            {
                "integration-name": "Mensatek",
                "python-modules": [
                    f"{PACKAGE}.operators.certified_email",
                    f"{PACKAGE}.operators.sms",
                    f"{PACKAGE}.operators.email",
                    f"{PACKAGE}.operators.rcs",
                    f"{PACKAGE}.operators.files",
                    f"{PACKAGE}.operators.certificates",
                    f"{PACKAGE}.operators.campaigns",
                ],
            },
            {
                "integration-name": "LegallyMail",
                "python-modules": [f"{PACKAGE}.operators.legallymail"],
            },
        ],
        "sensors": [
            {"integration-name": "Mensatek", "python-modules": [f"{PACKAGE}.sensors.delivery"]},
            {"integration-name": "LegallyMail", "python-modules": [f"{PACKAGE}.sensors.delivery"]},
        ],
        "triggers": [
            {"integration-name": "Mensatek", "python-modules": [f"{PACKAGE}.triggers.delivery"]},
            {"integration-name": "LegallyMail", "python-modules": [f"{PACKAGE}.triggers.delivery"]},
        ],
        "notifications": [
            f"{PACKAGE}.notifications.mensatek.MensatekSmsNotifier",
            f"{PACKAGE}.notifications.mensatek.MensatekEmailNotifier",
        ],
        "connection-types": [
            {
                "hook-class-name": f"{PACKAGE}.hooks.mensatek.MensatekHook",
                "hook-name": "Mensatek",
                "connection-type": "mensatek",
                "conn-fields": {
                    **_timeouts_fields(),
                    "reports": {
                        "label": "Real-time reports configured",
                        "description": "The Mensatek panel's API configuration posts reports to this deployment's "
                        "receiver (/mensatek/reports): sends ask for them (Report=1) and the sensors listen to "
                        "them instead of polling (wait_for='auto').",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["extra"],
                    "relabeling": {"login": "API User", "password": "API Token", "host": "Base URL",
                                   "port": "Port (optional)", "schema": "Base path (optional)"},
                    "placeholders": {
                        "login": "API User (panel: Your Data -> Configure Account)",
                        "password": "API Token",
                        "host": "https://api.mensatek.com/v7 (default; http:// only for loopback hosts)",
                    },
                },
            },
            {
                "hook-class-name": f"{PACKAGE}.hooks.mensatek_reports.MensatekReportsHook",
                "hook-name": "Mensatek real-time reports (receiver)",
                "connection-type": "mensatek_reports",
                "conn-fields": {
                    "previous_password": {
                        "label": "Previous password (during a rotation)",
                        "description": "Also accepted until the panel sends the new password; then remove it.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "max_body_bytes": {
                        "label": "Largest report accepted (bytes)",
                        "description": "Larger bodies are answered 413.",
                        "schema": {"type": ["integer", "null"], "default": 65536},
                    },
                    "asset_events": {
                        "label": "Asset events",
                        "description": "partitioned: partition key = message id (PartitionedAssetTimetable DAGs); "
                        "plain: no key (schedule=[Asset] DAGs); off: store reports only.",
                        "schema": {"type": ["string", "null"], "enum": ["partitioned", "plain", "off", None]},
                    },
                    "personal_data": {
                        "label": "Recipients and SMS text in Asset events",
                        "description": "Events are readable by everyone allowed to see assets; the stored "
                        "reports always keep them.",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "anonymous_url_check": {
                        "label": "Answer the panel's URL check without credentials",
                        "description": "GET/HEAD only; reports always need the credential.",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "port", "schema", "extra"],
                    "relabeling": {"login": "Basic user (set in the Mensatek panel)",
                                   "password": "Basic password (set in the Mensatek panel)"},
                    "placeholders": {"login": "mensatek-reports",
                                     "password": "a long random value, not the API token"},
                },
            },
            {
                "hook-class-name": f"{PACKAGE}.hooks.legallymail.LegallyMailHook",
                "hook-name": "LegallyMail",
                "connection-type": "legallymail",
                "conn-fields": {
                    "requests_per_minute": {
                        "label": "Requests per minute",
                        "description": "Shared by every task of this token in a worker process; LegallyMail "
                        "allows 10 per minute per IP (HTTP 429 beyond).",
                        "schema": {"type": ["number", "null"], "default": 10},
                    },
                    "max_recipients": {
                        "label": "Recipients per email",
                        "description": "LegallyMail's default limit is 10; raise only if support raised it.",
                        "schema": {"type": ["integer", "null"], "default": 10},
                    },
                    **_timeouts_fields(),
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "extra"],
                    "relabeling": {"password": "API Token", "host": "Base URL", "port": "Port (optional)",
                                   "schema": "Base path (optional)"},
                    "placeholders": {
                        "password": "API token (LegallyMail panel)",
                        "host": "https://legallymail.com/api (default; http:// only for loopback hosts)",
                    },
                },
            },
        ],
        # The receiver's tables (airflow db migrate). Its plugin is registered through the
        # ``airflow.plugins`` entry point only: Airflow reads the provider-info ``plugins`` key
        # only when lazy provider discovery is off, and both at once is a duplicate-plugin error.
        "db-managers": [f"{PACKAGE}.webhooks.db_manager.MensatekReportsDBManager"],
        "config": {
            "mensatek": {
                "description": "Settings of the Mensatek and LegallyMail provider.",
                "options": {
                    "allowed_local_roots": {
                        "description": "Comma-separated absolute folders from which the provider's operators "
                        "may read local attachments, documents and campaign recipients files, in addition to "
                        "each DAG file's own folder and the system temp dir (an operator's allowed_roots argument "
                        "replaces all of them). /proc, /sys, /dev and Kerberos credential caches ([kerberos] "
                        "ccache, krb5cc*) are never read.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/srv/notices,/data/contracts",
                        "default": "",
                    },
                    "trigger_threads": {
                        "description": "Threads of the pool in which the provider's triggers make their HTTP "
                        "requests, one pool per triggerer process shared by all of them (not the event loop's "
                        "default executor). A thread never sleeps: rate-limit waits are awaited in the event "
                        "loop. 16 serve about 80 status checks a second against a vendor answering in 200 ms.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "32",
                        "default": "16",
                    },
                    "report_watch_interval": {
                        "description": "Seconds between two reads of each channel's report journal by the triggerer "
                        "(one read per channel for all deferred waits listening to Mensatek's reports): a stored "
                        "report wakes its wait within about this time. From 0.05 to 3600.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "2",
                        "default": "5",
                    },
                },
            },
        },
    }
