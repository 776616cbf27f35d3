"""The one error packaging raises: a message for the user, no traceback."""

from __future__ import annotations


class PackagingError(Exception):
    """A packaging or upload step failed; ``str()`` says what, where, and what to do."""


def aws_error_message(error: Exception, *, doing: str) -> str:
    """One line for a failed AWS call: what failed while ``doing`` what, and what to do about it."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return (
            f"no AWS credentials while {doing}: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (aws configure); for the local AWS use make deploy-local"
        )
    if isinstance(error, NoRegionError):
        return f"no AWS region while {doing}: set AWS_REGION or the environment's region"
    if isinstance(error, EndpointConnectionError):
        where = error.kwargs.get("endpoint_url", "the AWS endpoint")
        return f"cannot reach {where} while {doing}: check the network or AWS_ENDPOINT_URL"
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"AWS refused {doing}: {details.get('Code', 'error')}: {details.get('Message', error)}"
    return f"{doing} failed: {error}"
