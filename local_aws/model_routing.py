"""Answer invocations of deployed endpoints with the deployed model itself.

moto's SageMaker runtime returns canned bodies. :class:`LocalModels` is the model router that the
invocation fixes in :mod:`local_aws.moto_fixes` consult (``sagemaker-invoke-endpoint`` and
``sagemaker-invoke-endpoint-async``): for a deployed endpoint it picks the production variant
SageMaker would send the request to, reads that variant's model artifact from the local S3 (where
``cdk deploy`` uploaded the asset), and runs it through ``local_serving.LocalModelServer`` (the
SageMaker container contract, with the inference toolkit's handler path). One server per artifact,
started on first use; the payload limit is the endpoint kind's, per invocation, because one
artifact may serve endpoints of several kinds.

It is also the :class:`local_aws.transform_jobs.ModelRunner` of batch transform jobs
(``sagemaker-transform-jobs``): :meth:`LocalModels.run_model` runs a request on a model by name,
with the job's ``MaxPayloadInMB``, on the same server as the endpoints of that artifact.

A model in a large-model container (TGI, LMI: ``model.serving``) is not run: its invocations fail
as the model's error (SageMaker's ModelError, original status 501) saying that the local AWS
cannot run the GPU container, instead of moto's canned answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from moto.s3.models import s3_backends
from moto.sagemaker.models import FakeEndpointConfig, sagemaker_backends
from moto.utilities.utils import get_partition

from endpoint_configs import limits
from local_aws.moto_fixes import RoutedInvocation, install, use_model_router
from local_serving import LocalModelServer

__all__ = ["LocalModels", "chosen_variant", "payload_limit", "route_invocations"]

logger = logging.getLogger(__name__)


GPU_ONLY_REPOSITORIES = {
    "huggingface-pytorch-tgi-inference": "the Hugging Face TGI container",
    "djl-inference": "the DJL LMI container",
}
"""ECR repositories of the large-model serving containers (``model.serving``): nothing here runs them."""


def chosen_variant(config: FakeEndpointConfig) -> dict[str, Any]:
    """The production variant that serves requests: the one with the largest weight, first on ties.

    SageMaker splits traffic by ``InitialVariantWeight`` (1.0 when not given); locally one variant
    answers every request, so it is the one that would get the most traffic.
    """
    variants: list[dict[str, Any]] = list(config.production_variants)
    return max(variants, key=lambda variant: float(variant.get("InitialVariantWeight", 1.0)))


def payload_limit(config: FakeEndpointConfig, variant: dict[str, Any]) -> int:
    """The request payload limit SageMaker applies to this deployed endpoint, in bytes: a serverless
    variant's, an asynchronous config's, or else the real-time one."""
    megabytes = limits.REALTIME_MAX_PAYLOAD_MB
    if variant.get("ServerlessConfig"):
        megabytes = limits.SERVERLESS_MAX_PAYLOAD_MB
    elif config.async_inference_config:
        megabytes = limits.ASYNC_MAX_PAYLOAD_MB
    return megabytes * 1024 * 1024


class LocalModels:
    """Local model servers for deployed endpoints and transform jobs, keyed by artifact; ``close()``
    stops them all.

    A :class:`local_aws.moto_fixes.ModelRouter` and a :class:`local_aws.transform_jobs.ModelRunner`:
    pass it to :func:`route_invocations`.
    """

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._servers: dict[str, LocalModelServer] = {}
        self._lock = threading.Lock()

    def invoke(
        self,
        account_id: str,
        region: str,
        endpoint_name: str,
        body: bytes,
        *,
        content_type: str,
        accept: str | None,
    ) -> RoutedInvocation | None:
        """Run one invocation on the endpoint's model, with its kind's payload limit; None when
        there is no such endpoint or no artifact for it here (moto answers then)."""
        sagemaker = sagemaker_backends[account_id][region]
        endpoint = sagemaker.endpoints.get(endpoint_name)
        if endpoint is None:
            logger.info("no endpoint %s in %s/%s: moto answers", endpoint_name, account_id, region)
            return None
        config = sagemaker.endpoint_configs[endpoint.endpoint_config_name]
        variant = chosen_variant(config)
        gpu_only = self._gpu_only_container(account_id, region, str(variant["ModelName"]))
        if gpu_only is not None:
            message = (
                f"the local AWS cannot run {gpu_only} (it needs an NVIDIA GPU and the model's weights); "
                f"{endpoint_name} is deployed here but answers only on AWS"
            )
            logger.info("%s: %s", endpoint_name, message)
            return RoutedInvocation(
                variant_name=str(variant["VariantName"]),
                status=501,
                body=json.dumps({"message": message}).encode(),
                content_type="application/json",
                reason=message,
            )
        server = self._server(account_id, region, endpoint_name, variant)
        if server is None:
            return None
        result = server.invoke(
            body, content_type=content_type, accept=accept, max_payload_bytes=payload_limit(config, variant)
        )
        return RoutedInvocation(
            variant_name=str(variant["VariantName"]),
            status=result.status,
            body=result.body,
            content_type=result.content_type,
            reason=result.reason,
        )

    def run_model(
        self,
        account_id: str,
        region: str,
        model_name: str,
        body: bytes,
        *,
        content_type: str | None,
        accept: str | None,
        max_payload_bytes: int,
    ) -> RoutedInvocation | None:
        """Run one request of a transform job on the SageMaker model ``model_name``, with the job's
        payload limit; None when the model or its artifact is not here (the job then keeps moto's
        behaviour). ``variant_name`` is empty: a transform job has no production variant."""
        server = self._model_server(account_id, region, model_name, f"model {model_name}")
        if server is None:
            return None
        result = server.invoke(
            body, content_type=content_type, accept=accept, max_payload_bytes=max_payload_bytes
        )
        return RoutedInvocation(
            variant_name="",
            status=result.status,
            body=result.body,
            content_type=result.content_type,
            reason=result.reason,
        )

    @staticmethod
    def _gpu_only_container(account_id: str, region: str, model_name: str) -> str | None:
        """The name of a large-model container (TGI, LMI) the model runs, which needs a GPU."""
        model = sagemaker_backends[account_id][region]._models.get(model_name)
        image = str((model.primary_container or {}).get("Image", "")) if model else ""
        repository = image.split("/", 1)[-1].split(":", 1)[0]
        return GPU_ONLY_REPOSITORIES.get(repository)

    def _server(
        self, account_id: str, region: str, endpoint_name: str, variant: dict[str, Any]
    ) -> LocalModelServer | None:
        """The running server of the variant's model, started on first use."""
        return self._model_server(account_id, region, str(variant["ModelName"]), f"endpoint {endpoint_name}")

    def _model_server(
        self, account_id: str, region: str, model_name: str, user: str
    ) -> LocalModelServer | None:
        """The running server of the model's artifact, started on first use; ``user`` names who
        asks, for the log."""
        model = sagemaker_backends[account_id][region]._models.get(model_name)
        url = (model.primary_container or {}).get("ModelDataUrl") if model else None
        if model is None or not url:
            logger.info("%s has no model artifact URL: moto answers", user)
            return None
        with self._lock:
            if url not in self._servers:
                archive = self._download(url, s3_backends[account_id][get_partition(region)])
                if archive is None:
                    return None
                environment = dict(model.primary_container.get("Environment") or {})
                logger.info("starting the model of %s from %s", user, url)
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
        """Stop every server started."""
        with self._lock:
            for server in self._servers.values():
                server.stop()
            self._servers.clear()


def route_invocations(models: LocalModels | None) -> None:
    """Apply the moto fixes and send invocations of deployed endpoints to ``models`` (None: stop)."""
    install()
    use_model_router(models)
