"""Where calls go: boto3 clients of a real AWS account (the normal credential chain) or of the local
AWS (its URL, dummy keys), behind one small interface, so the same invocation code runs on both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

Clients = Callable[[str], Any]
"""Anything that returns a boto3 client for a service name (``"s3"``, ``"sagemaker-runtime"`` ...);
:class:`AwsClients` is one, and so is ``lambda service: boto3.client(service, ...)``."""

LOCAL_ACCESS_KEY = "local"
"""The local AWS takes any keys; these dummy ones keep the user's real credentials out of it."""


class AwsClients:
    """boto3 clients of one session, each made once. ``where`` names the target in messages."""

    def __init__(
        self,
        session: boto3.session.Session,
        *,
        where: str,
        endpoint_url: str | None = None,
        config: Config | None = None,
    ) -> None:
        self.session = session
        self.where = where
        self.endpoint_url = endpoint_url
        self.config = config
        self._made: dict[str, Any] = {}

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None

    def __call__(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = self.session.client(
                service, endpoint_url=self.endpoint_url, config=self.config
            )
        return self._made[service]

    @classmethod
    def real(cls, region: str) -> AwsClients:
        """The account of the normal credential chain (environment, profile, SSO, instance role) in
        ``region``; botocore's standard retries."""
        session = boto3.session.Session(region_name=region)
        return cls(session, where=f"region {region}", config=Config(retries={"mode": "standard"}))

    @classmethod
    def local(cls, url: str, region: str) -> AwsClients:
        """The local AWS at ``url``, with dummy keys whatever profile the environment names, path-style
        S3 addresses and no retries (a local AWS that does not answer will not answer on retry)."""
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        session = boto3.session.Session(
            botocore_session=core,
            aws_access_key_id=LOCAL_ACCESS_KEY,
            aws_secret_access_key=LOCAL_ACCESS_KEY,
            region_name=region,
        )
        config = Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"})
        return cls(session, where=f"the local AWS at {url}", endpoint_url=url, config=config)
