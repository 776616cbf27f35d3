"""Answer InvokeEndpoint and InvokeEndpointAsync with the deployed model itself.

moto's SageMaker runtime returns canned bodies. Here an invocation of a deployed endpoint finds the
endpoint's model, reads its artifact from the local S3 (where ``cdk deploy`` uploaded the asset),
and runs it through ``local_serving.LocalModelServer`` (the SageMaker container contract, with
the inference toolkit's handler path). One server per artifact, started on first use.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends
from moto.sagemakerruntime.models import SageMakerRuntimeBackend
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from local_serving import LocalModelServer

logger = logging.getLogger(__name__)
_PATCHED = "_local_aws_routes_to_local_models"


class LocalModels:
    """Local model servers for deployed endpoints, keyed by artifact; ``close()`` stops them all."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._servers: dict[str, LocalModelServer] = {}
        self._lock = threading.Lock()

    def server_for(self, account_id: str, region: str, endpoint_name: str) -> LocalModelServer | None:
        """The running server of the endpoint's first variant, or None when it has no artifact here."""
        sagemaker = sagemaker_backends[account_id][region]
        endpoint = sagemaker.endpoints.get(endpoint_name)
        if endpoint is None:
            logger.info("no endpoint %s in %s/%s: moto answers", endpoint_name, account_id, region)
            return None
        config = sagemaker.endpoint_configs[endpoint.endpoint_config_name]
        model = sagemaker._models.get(config.production_variants[0]["ModelName"])
        url = (model.primary_container or {}).get("ModelDataUrl") if model else None
        if model is None or not url:
            logger.info("endpoint %s has no model artifact URL: moto answers", endpoint_name)
            return None
        with self._lock:
            if url not in self._servers:
                archive = self._download(url, s3_backends[account_id]["aws"])
                if archive is None:
                    return None
                environment = dict(model.primary_container.get("Environment") or {})
                logger.info("starting the model of %s from %s", endpoint_name, url)
                server = LocalModelServer(archive, environment=environment)
                server.start()
                self._servers[url] = server
            return self._servers[url]

    def _download(self, url: str, storage: Any) -> Path | None:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        try:
            stored = storage.get_object(bucket, key)
        except Exception:  # moto raises its own S3 errors for a missing bucket or key
            logger.warning("artifact %s is not in the local S3", url)
            return None
        if stored is None:
            return None
        self._workdir.mkdir(parents=True, exist_ok=True)
        path = self._workdir / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.tar.gz"
        path.write_bytes(stored.value)
        return path

    def close(self) -> None:
        with self._lock:
            for server in self._servers.values():
                server.stop()
            self._servers.clear()


def route_invocations(models: LocalModels) -> None:
    """Patch moto's runtime so invocations of deployed endpoints reach their local model."""
    original_invoke = SageMakerRuntimeResponse.invoke_endpoint
    if getattr(original_invoke, _PATCHED, False):
        return

    @functools.wraps(original_invoke)
    def invoke_endpoint(self: SageMakerRuntimeResponse) -> Any:
        endpoint_name = self._get_params().get("EndpointName") or self.path.split("/")[2]
        server = models.server_for(self.current_account, self.region, endpoint_name)
        if server is None:
            return original_invoke(self)
        content_type = self.headers.get("Content-Type", "application/json")
        raw = self.raw_body
        payload = raw if isinstance(raw, bytes) else str(raw).encode()
        result = server.invoke(payload, content_type=content_type, accept=self.headers.get("Accept"))
        if result.status >= 400:
            # SageMaker reports a container error as ModelError (424) with the original status.
            message = f'Received client error ({result.status}) from primary with message "{result.reason}"'
            body = {"__type": "ModelError", "message": message, "OriginalStatusCode": result.status}
            return 424, {"x-amzn-ErrorType": "ModelError"}, json.dumps(body)
        return (
            200,
            {"Content-Type": result.content_type, "x-Amzn-Invoked-Production-Variant": "AllTraffic"},
            result.body,
        )

    original_async = SageMakerRuntimeBackend.invoke_endpoint_async

    @functools.wraps(original_async)
    def invoke_endpoint_async(
        self: SageMakerRuntimeBackend, endpoint_name: str, input_location: str
    ) -> tuple[str, str]:
        output_location, failure_location = original_async(self, endpoint_name, input_location)
        server = models.server_for(self.account_id, self.region_name, endpoint_name)
        if server is None:
            return output_location, failure_location
        storage = s3_backends[self.account_id]["aws"]
        bucket, _, key = input_location.removeprefix("s3://").partition("/")
        request = storage.get_object(bucket, key)
        result = server.invoke(request.value if request else b"", content_type="application/json")
        target = output_location if result.status < 400 else failure_location
        target_bucket, _, target_key = target.removeprefix("s3://").partition("/")
        for location in (output_location, failure_location):
            stale_bucket, _, stale_key = location.removeprefix("s3://").partition("/")
            storage.delete_object(stale_bucket, stale_key)
        storage.put_object(
            target_bucket, target_key, result.body if result.status < 400 else str(result.reason).encode()
        )
        return output_location, failure_location

    for function in (invoke_endpoint, invoke_endpoint_async):
        setattr(function, _PATCHED, True)
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]
    SageMakerRuntimeBackend.invoke_endpoint_async = invoke_endpoint_async  # type: ignore[method-assign]
