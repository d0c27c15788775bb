"""DAGs that name every public operator, sensor and notifier class, and the report Assets, as parsed.

Not run: ``tests/test_dag_parse_imports.py`` imports it in a fresh process and
looks at what that import pulled in. A test there checks that every public class
of ``operators/``, ``sensors/`` and ``notifications/`` is named here.
"""

from __future__ import annotations

import importlib.util

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_mensatek.hooks.legallymail import LegallyMailHook
from airflow_provider_mensatek.hooks.mensatek import MensatekHook
from airflow_provider_mensatek.notifications import MensatekEmailNotifier, MensatekSmsNotifier
from airflow_provider_mensatek.operators.campaigns import (
    MensatekCampaignControlOperator,
    MensatekCampaignSummaryOperator,
    MensatekPlanCampaignOperator,
    MensatekSendCampaignBatchOperator,
    MensatekSendCampaignOperator,
)
from airflow_provider_mensatek.operators.certificates import (
    LegallyMailDownloadCertificatesOperator,
    MensatekDownloadCertificatesOperator,
)
from airflow_provider_mensatek.operators.certified_email import (
    MensatekCancelCertifiedEmailOperator,
    MensatekRescheduleCertifiedEmailOperator,
    MensatekSendCertifiedEmailOperator,
)
from airflow_provider_mensatek.operators.email import MensatekSendEmailOperator
from airflow_provider_mensatek.operators.files import MensatekUploadFileOperator
from airflow_provider_mensatek.operators.legallymail import (
    LegallyMailBaseOperator,
    LegallyMailRequestSignatureOperator,
    LegallyMailSendCertifiedEmailOperator,
    LegallyMailSendCertifiedSmsOperator,
)
from airflow_provider_mensatek.operators.rcs import MensatekSendRcsOperator
from airflow_provider_mensatek.operators.sms import (
    MensatekCancelSmsOperator,
    MensatekRescheduleSmsOperator,
    MensatekSendSmsOperator,
)
from airflow_provider_mensatek.retry_policy import MensatekRetryPolicy
from airflow_provider_mensatek.sensors.delivery import (
    DeliveryStatusSensor,
    LegallyMailEmailSensor,
    LegallyMailSignatureSensor,
    LegallyMailSmsSensor,
    MensatekCertifiedEmailSensor,
    MensatekSmsDeliverySensor,
)
from airflow_provider_mensatek.webhooks.assets import CERTIFIED_EMAIL_REPORTS, SMS_REPORTS

IDS = "{{ ti.xcom_pull(task_ids='send') | tojson }}"
LAKE = "file:///tmp/every-public-class/lake"
CAMPAIGN = "file:///tmp/every-public-class/campaign"
#: Airflow 3.2 has no task-level retry policy (MensatekRetryPolicy() refuses there, naming 3.3): the class is
#: imported on every Airflow, and used where Airflow can take it.
RETRY_POLICY = ({"retry_policy": MensatekRetryPolicy()}
                if importlib.util.find_spec("airflow.sdk.definitions.retry_policy") else {})

#: Base classes: importable from the module a DAG file names, not meant to be instantiated.
BASES = (LegallyMailBaseOperator, DeliveryStatusSensor)

with DAG(
    dag_id="every_public_class",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid"),
    on_failure_callback=[MensatekSmsNotifier(recipients=["+34600000001"]),
                         MensatekEmailNotifier(sender_email="a@example.com", recipients=["b@example.com"])],
):
    send = MensatekSendCertifiedEmailOperator(task_id="send", sender="a@example.com", recipients=["b@example.com"],
                                              subject="Aviso {{Nombre}}", message="Hola",
                                              retries=3, **RETRY_POLICY)
    MensatekCancelCertifiedEmailOperator(task_id="cancel", message_id=IDS)
    MensatekRescheduleCertifiedEmailOperator(task_id="reschedule", message_id=IDS, send_at="2030-01-01T09:00+01:00")
    MensatekSendSmsOperator(task_id="sms", recipients=["+34600000001"], message="Hola")
    MensatekCancelSmsOperator(task_id="cancel_sms", message_id=IDS)
    MensatekRescheduleSmsOperator(task_id="reschedule_sms", message_id=IDS, send_at="2030-01-01T09:00+01:00")
    MensatekSendEmailOperator(task_id="email", sender_email="a@example.com", recipients=["b@example.com"],
                              subject="Hola", html="<p>Hola</p>")
    MensatekSendRcsOperator(task_id="rcs", template_id=1, recipients=["+34600000001"])
    MensatekUploadFileOperator(task_id="upload", source="/tmp/every-public-class/a.pdf")
    LegallyMailSendCertifiedEmailOperator(task_id="lm_email", recipients=["b@example.com"], subject="Hola",
                                          message="<p>Hola</p>")
    LegallyMailRequestSignatureOperator(task_id="lm_sign", document="/tmp/every-public-class/a.pdf",
                                        signers=[{"name": "Ana", "email": "b@example.com"}])
    LegallyMailSendCertifiedSmsOperator(task_id="lm_sms", phone="+34600000001", message="Hola")
    MensatekDownloadCertificatesOperator(task_id="archive", message_ids=IDS, destination=LAKE)
    LegallyMailDownloadCertificatesOperator(task_id="lm_archive", kind="signature", ids=IDS, destination=LAKE)
    plan = MensatekPlanCampaignOperator(task_id="plan", campaign_path=CAMPAIGN, campaign_reference="c-1",
                                        channel="certified_email", recipients=["b@example.com"])
    MensatekSendCampaignBatchOperator.partial(task_id="send_batch", sender="a@example.com", subject="Aviso",
                                              message="Hola").expand(batch=plan.output)
    MensatekSendCampaignOperator(task_id="send_all", plan=plan.output, sender="a@example.com", subject="Aviso",
                                 message="Hola")
    MensatekCampaignControlOperator(task_id="control", campaign_path=CAMPAIGN, action="cancel")
    MensatekCampaignSummaryOperator(task_id="summary", campaign_path=CAMPAIGN, trigger_rule="all_done")
    MensatekCertifiedEmailSensor(task_id="wait", message_ids=IDS, deferrable=True)
    MensatekSmsDeliverySensor(task_id="wait_sms", message_ids=IDS, mode="reschedule")
    LegallyMailEmailSensor(task_id="wait_lm_email", message_ids=IDS)
    LegallyMailSignatureSensor(task_id="wait_lm_sign", message_ids=IDS)
    LegallyMailSmsSensor(task_id="wait_lm_sms", message_ids=IDS)

    @task
    def credits() -> float:
        LegallyMailHook().get_conn().close()
        return MensatekHook().get_conn().get_credits()

    send >> credits()


with DAG(dag_id="on_reports", schedule=[CERTIFIED_EMAIL_REPORTS, SMS_REPORTS],
         start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Madrid")):

    @task
    def report() -> None: ...

    report()
