"""The idle guard's Lambda handler: when the endpoint's idle alarm enters ALARM, delete the endpoint
named by the ``ENDPOINT_NAME`` environment variable, and nothing else. boto3 and the standard
library only (Lambda runtime).

CloudWatch invokes the function directly as the alarm's action, asynchronously, with an event whose
``alarmData.state.value`` is the alarm's new state.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-actions

- Any state but ALARM: nothing is done.
- The endpoint is deleted only; its endpoint config and model stay, so
  ``aws sagemaker create-endpoint --endpoint-name <name> --endpoint-config-name <config>`` restores
  it as it was. Names in the event are never acted on.
- An endpoint already gone is success (a retried invocation, a second alarm).
- An endpoint in a transitional state (Creating, Updating, SystemUpdating, RollingBack, Deleting) is
  left alone: something is changing it right now.
- After acting on ALARM, the alarm named by ``ALARM_NAME`` is reset to OK. An alarm acts only when
  its state changes, and an endpoint that stays idle (restored, or skipped above) keeps it in
  ALARM; reset, it fires again after the idle hours. A failed reset is logged, not raised: the
  endpoint's fate is decided by then.

Returns, and logs as one JSON line, what it did: ``{"endpoint": ..., "action": ..., "reason": ...}``
with ``action`` one of ``deleted``, ``already-gone``, ``skipped``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

TRANSITIONAL = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
"""EndpointStatus values in which the endpoint is being changed, so not deleted."""


def handler(event: dict[str, Any], context: object) -> dict[str, str]:
    """Delete ``ENDPOINT_NAME`` if ``event`` says its idle alarm is in ALARM."""
    endpoint_name = os.environ["ENDPOINT_NAME"]
    state = _alarm_state(event)
    if state != "ALARM":
        return _report(endpoint_name, "skipped", f"the alarm state is {state}, not ALARM")
    client = boto3.client("sagemaker")
    try:
        status = client.describe_endpoint(EndpointName=endpoint_name)["EndpointStatus"]
        if status in TRANSITIONAL:
            action, reason = "skipped", f"the endpoint is {status}; it was not deleted"
        else:
            client.delete_endpoint(EndpointName=endpoint_name)
            action, reason = (
                "deleted",
                f"idle alarm in ALARM; the endpoint was {status}; config and model kept",
            )
    except ClientError as error:
        if not _is_missing(error):
            raise
        action, reason = "already-gone", "the endpoint does not exist"
    return _report(endpoint_name, action, reason + _rearm())


def _rearm() -> str:
    """Reset the idle alarm to OK so that it fires again after the idle hours; what happened."""
    alarm_name = os.environ.get("ALARM_NAME")
    if not alarm_name:
        return ""
    try:
        boto3.client("cloudwatch").set_alarm_state(
            AlarmName=alarm_name,
            StateValue="OK",
            StateReason="The idle guard acted on the endpoint; watching it again.",
        )
    except ClientError as error:
        logger.warning(json.dumps({"alarm": alarm_name, "rearm_failed": str(error)}))
        return f"; the alarm {alarm_name} could not be reset ({error.response['Error'].get('Code')})"
    return f"; alarm {alarm_name} reset to OK"


def _alarm_state(event: dict[str, Any]) -> str:
    try:
        return str(event["alarmData"]["state"]["value"])
    except (KeyError, TypeError):
        return "unknown (not a CloudWatch alarm event)"


def _is_missing(error: ClientError) -> bool:
    """SageMaker's answer for an endpoint that does not exist: ValidationException "Could not find
    endpoint ..." (DescribeEndpoint and DeleteEndpoint alike)."""
    details = error.response.get("Error", {})
    return (
        details.get("Code") == "ValidationException"
        and "could not find endpoint" in str(details.get("Message", "")).lower()
    )


def _report(endpoint_name: str, action: str, reason: str) -> dict[str, str]:
    result = {"endpoint": endpoint_name, "action": action, "reason": reason}
    logger.info(json.dumps(result))
    return result
