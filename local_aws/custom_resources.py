"""CloudFormation custom resources of registered types, run in this process on the local AWS.

moto's CloudFormation answers every ``Custom::`` type with ``CustomModel``, which invokes the
``ServiceToken`` Lambda (in Docker) and waits for a SUCCESS response at its ``cfnresponse`` URL:
without Docker the stack waits forever, a FAILED response is ignored, an update leaves no resource
and a delete sends nothing. For the types in :data:`HANDLERS` (resource type -> module with the CDK
Provider framework's ``on_event(event, context, clients=...)`` and ``is_complete``), moto gets
:class:`LocalCustomResource`, which runs that module's handlers here, as the Provider framework would
(https://docs.aws.amazon.com/cdk/api/v2/python/aws_cdk.custom_resources/README.html):

- Create runs ``on_event``, then ``is_complete`` once, so a resource that is done at once has its
  ``Fn::GetAtt`` values before the resources that read them are created; otherwise a thread polls
  ``is_complete`` every ``poll_interval_seconds`` until it is done (the stack becomes
  ``CREATE_COMPLETE``) or fails, or ``timeout_seconds`` pass. CreateStack then returns with the
  stack ``CREATE_IN_PROGRESS``, unless a resource after it reads one of its attributes: moto's
  creation pass then waits for the poll, as CloudFormation creates that resource only afterwards;
- a failure is reported as CloudFormation reports it: a ``CREATE_FAILED`` event of the resource with
  the handler's message in its reason, then the stack rolls back (its resources are deleted) and ends
  ``ROLLBACK_COMPLETE``, which the cdk CLI reports as "failed creation" (and deletes before the next
  deploy); ``CREATE_FAILED`` instead when the stack has rollback disabled;
- Update runs ``on_event`` and waits for ``is_complete`` within the UpdateStack call; a new physical
  id has the old one deleted afterwards (CloudFormation's clean-up). A failure is an ``UPDATE_FAILED``
  event and the stack ends ``UPDATE_ROLLBACK_COMPLETE`` (moto cannot undo the other resources'
  changes);
- Delete (stack deletion, rollback, removal from the template) runs the Delete event; a running
  Create poll stops. A failing Delete is logged and recorded as a ``DELETE_FAILED`` event, and moto
  deletes the stack anyway.

The ``ServiceToken`` function is never invoked. Handlers get boto3 clients (``clients.<service>``,
dashes as underscores) with dummy keys in the stack's region: plain ones when ``mock_aws`` intercepts
calls, otherwise pointed at the local AWS server (:func:`run_custom_resources_locally`).
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import boto3
from botocore.config import Config
from moto.cloudformation import parsing
from moto.cloudformation.custom_model import CustomModel
from moto.cloudformation.models import Event, Stack, cloudformation_backends
from moto.cloudformation.parsing import OutputMap
from moto.core.models import botocore_stubber
from moto.settings import moto_server_port

__all__ = [
    "HANDLERS",
    "HandlerClients",
    "LocalCustomResource",
    "register_handler",
    "run_custom_resources_in_process",
    "run_custom_resources_locally",
]

logger = logging.getLogger(__name__)

HANDLERS: dict[str, str] = {
    "Custom::NeoCompilationJob": "sagemaker_constructs.neo_compilation_handler.index",
}
"""Custom resource type -> module whose ``on_event`` and ``is_complete`` handle it."""
HOST: Final = "127.0.0.1"
_WITHOUT_RESOURCES: Final = frozenset(
    {"DELETE_COMPLETE", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"}
)


def register_handler(resource_type: str, module: str) -> None:
    """Run ``resource_type`` (``Custom::...``) with ``module``'s handlers from now on."""
    if not resource_type.startswith("Custom::"):
        raise ValueError(f"custom resource types start with 'Custom::', got {resource_type!r}")
    HANDLERS[resource_type] = module


@dataclass
class _Settings:
    server_port: int | None = None
    poll_interval_seconds: float = 2.0
    timeout_seconds: float = 600.0


_SETTINGS = _Settings()


def run_custom_resources_locally(
    server_port: int | None, *, poll_interval_seconds: float = 2.0, timeout_seconds: float = 600.0
) -> None:
    """Point the handlers' clients at the local AWS server on ``server_port`` of this process (None:
    ``$MOTO_PORT``, when no ``mock_aws`` intercepts calls), and set how often and how long a Create
    polls ``is_complete``."""
    _SETTINGS.server_port = server_port
    _SETTINGS.poll_interval_seconds = poll_interval_seconds
    _SETTINGS.timeout_seconds = timeout_seconds


class HandlerClients:
    """boto3 clients for a handler, one per service, made on first use: ``clients.sagemaker``."""

    def __init__(self, region_name: str) -> None:
        self._region_name = region_name
        self._intercepted = bool(botocore_stubber.enabled)
        port = _SETTINGS.server_port or moto_server_port()
        self._endpoint_url = None if self._intercepted else f"http://{HOST}:{port}"
        self._session = boto3.session.Session()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_region(cls, region_name: str) -> HandlerClients:
        """The clients of ``region_name`` for where calls go now (made once: a client takes 0.1 s)."""
        intercepted = bool(botocore_stubber.enabled)
        key = (region_name, intercepted, None if intercepted else _SETTINGS.server_port or moto_server_port())
        with _CLIENTS_LOCK:
            if key not in _CLIENTS:
                _CLIENTS[key] = cls(region_name)
            return _CLIENTS[key]

    @property
    def endpoint_url(self) -> str | None:
        return self._endpoint_url

    @property
    def outlived_mock(self) -> bool:
        """Made under ``mock_aws``, which has ended: a call would reach AWS itself."""
        return self._intercepted and not botocore_stubber.enabled

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        service = name.replace("_", "-")
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(
                    service,
                    region_name=self._region_name,
                    endpoint_url=self._endpoint_url,
                    aws_access_key_id="local",
                    aws_secret_access_key="local",
                    config=Config(retries={"max_attempts": 2}),
                )
            return self._clients[service]


_CLIENTS: dict[tuple[str, bool, int | str | None], HandlerClients] = {}
_CLIENTS_LOCK = threading.Lock()


@dataclass
class LocalContext:
    """The parts of Lambda's context object a handler may read."""

    function_name: str
    aws_request_id: str
    deadline: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass
class _Failure:
    resource: LocalCustomResource
    status: str
    reason: str


@dataclass
class _StackState:
    """What the runner keeps per stack: one lock for the stack's changes, whether moto's creation
    pass is over, and the failures and clean-ups an operation collects."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    created: threading.Event = field(default_factory=threading.Event)
    updating: bool = False
    failures: list[_Failure] = field(default_factory=list)
    cleanups: list[LocalCustomResource] = field(default_factory=list)


_STATES: dict[str, _StackState] = {}
_STATES_LOCK = threading.Lock()


def _state(stack_id: str) -> _StackState:
    with _STATES_LOCK:
        return _STATES.setdefault(stack_id, _StackState())


def _as_cloudformation_sends(value: Any) -> Any:
    """CloudFormation hands custom resources every scalar property as a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return {key: _as_cloudformation_sends(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_cloudformation_sends(item) for item in value]
    return value


class HandlerError(Exception):
    """A handler raised, or did not complete in time."""


class _CreationFailed(Exception):  # noqa: N818 (not an error of its own: it ends moto's creation pass)
    """Ends moto's creation pass: a resource failed, so nothing after it (nothing reading it) is created."""


_CREATING = threading.local()


def _creating(stack_id: str) -> bool:
    """Whether this thread is in moto's creation pass of the stack ``stack_id``."""
    return bool(getattr(_CREATING, "stack_id", None) == stack_id)


class LocalCustomResource(CustomModel):
    """A custom resource whose handlers run in this process (see the module docstring)."""

    def __init__(
        self,
        *,
        stack: Stack,
        logical_id: str,
        resource_name: str,
        resource_type: str,
        properties: dict[str, Any],
    ) -> None:
        super().__init__(stack.region_name, str(uuid.uuid4()), logical_id, resource_name)
        self.stack = stack
        self.resource_type = resource_type
        self.properties = properties
        self.physical_id: str | None = None
        self.cancelled = threading.Event()
        self.clients = HandlerClients.for_region(stack.region_name)
        self._polling = False
        self._done = threading.Event()
        self._outcome: tuple[dict[str, Any] | None, str | None] | None = None
        self._outcome_lock = threading.Lock()

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id or self.resource_name

    @property
    def state(self) -> _StackState:
        return _state(self.stack.stack_id)

    # -- running the handlers ---------------------------------------------------------------------

    def _event(self, request_type: str, **extra: Any) -> dict[str, Any]:
        return {
            "RequestType": request_type,
            "ServiceToken": self.properties.get("ServiceToken", ""),
            "ResponseURL": f"http://{HOST}/cloudformation_{self.region_name}/cfnresponse?stack={self.stack.stack_id}",
            "StackId": self.stack.stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": self.logical_id,
            "ResourceType": self.resource_type,
            "ResourceProperties": self.properties,
            **extra,
        }

    def _call(self, handler: str, event: Mapping[str, Any]) -> dict[str, Any]:
        function: Callable[..., dict[str, Any]] = getattr(
            importlib.import_module(HANDLERS[self.resource_type]), handler
        )
        context = LocalContext(
            function_name=f"local-{handler}",
            aws_request_id=str(event["RequestId"]),
            deadline=time.monotonic() + _SETTINGS.timeout_seconds,
        )
        try:
            return function(event, context, clients=self.clients) or {}
        except Exception as error:
            raise HandlerError(str(error) or type(error).__name__) from error

    def _on_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """``on_event``'s result merged into the event, as the framework hands it to ``is_complete``."""
        result = self._call("on_event", event)
        physical = result.get("PhysicalResourceId") or event.get("PhysicalResourceId") or event["RequestId"]
        return {**event, **result, "PhysicalResourceId": physical, "Data": result.get("Data") or {}}

    def _is_complete(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The resource's data when ``is_complete`` says done, else None."""
        result = self._call("is_complete", event)
        if not result.get("IsComplete"):
            return None
        return {**event["Data"], **(result.get("Data") or {})}

    def _wait(self, event: dict[str, Any]) -> dict[str, Any]:
        """Poll ``is_complete`` in this thread until done; HandlerError on timeout."""
        deadline = time.monotonic() + _SETTINGS.timeout_seconds
        while True:
            data = self._is_complete(event)
            if data is not None:
                return data
            if time.monotonic() > deadline:
                raise HandlerError(self._timed_out())
            time.sleep(_SETTINGS.poll_interval_seconds)

    def _timed_out(self) -> str:
        return (
            f"Operation timed out: {self.logical_id} was not complete after {_SETTINGS.timeout_seconds:g} s"
        )

    def _poll(self, event: dict[str, Any]) -> None:
        """The Create poll's thread: wait for ``is_complete``, then report to the stack, unless the
        creation pass (waiting in :meth:`get_cfn_attribute`) took the outcome."""
        deadline = time.monotonic() + _SETTINGS.timeout_seconds
        data: dict[str, Any] | None = None
        failure: str | None = None
        while data is None and failure is None:
            if self.cancelled.wait(_SETTINGS.poll_interval_seconds) or self.clients.outlived_mock:
                return
            try:
                data = self._is_complete(event)
            except HandlerError as error:
                failure = str(error)
            if data is None and failure is None and time.monotonic() > deadline:
                failure = self._timed_out()
        with self._outcome_lock:
            self._outcome = (data, failure)
        self._done.set()
        state = self.state
        state.created.wait(_SETTINGS.timeout_seconds)
        with state.lock:
            outcome = self._take_outcome()
            if outcome is None or self.cancelled.is_set():
                return
            data, failure = outcome
            if failure is not None:
                _fail_creation(self.stack, [_Failure(self, "CREATE_FAILED", failure)])
                return
            assert data is not None
            self._completed(data)
            if self.stack.status == "CREATE_IN_PROGRESS":
                self.stack.verify_readiness()

    def _take_outcome(self) -> tuple[dict[str, Any] | None, str | None] | None:
        with self._outcome_lock:
            outcome, self._outcome = self._outcome, None
        return outcome

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        """The attribute from the handler's data; a resource created after this one that reads it
        waits for the poll, as CloudFormation creates dependents only when this one is complete."""
        if self._polling and not self.is_created() and _creating(self.stack.stack_id):
            while not self._done.wait(_SETTINGS.poll_interval_seconds):
                if self.cancelled.is_set():
                    raise _CreationFailed(f"{self.logical_id} was deleted while it was being created")
            outcome = self._take_outcome()
            if outcome is not None:
                data, failure = outcome
                if failure is not None:
                    self.state.failures.append(_Failure(self, "CREATE_FAILED", failure))
                    raise _CreationFailed(failure)
                assert data is not None
                self._completed(data)
        return super().get_cfn_attribute(attribute_name)

    def _completed(self, data: dict[str, Any]) -> None:
        self.set_data(data)
        self.stack.output_map = self.stack._create_output_map()  # outputs read earlier were cached
        logger.info("%s (%s) %s is complete", self.logical_id, self.resource_type, self.physical_resource_id)

    # -- moto's CloudFormation model -----------------------------------------------------------------

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LocalCustomResource:
        stack = cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"])
        resource = cls(
            stack=stack,
            logical_id=kwargs["LogicalId"],
            resource_name=resource_name,
            resource_type=kwargs["ResourceType"],
            properties=_as_cloudformation_sends(cloudformation_json["Properties"]),
        )
        stack.add_custom_resource(resource)
        if stack.status in _WITHOUT_RESOURCES:
            return resource  # moto's lazy map re-reading a deleted stack: nothing to create
        state = resource.state
        try:
            event = resource._on_event(resource._event("Create"))
            resource.physical_id = str(event["PhysicalResourceId"])
            data = resource._wait(event) if state.updating else resource._is_complete(event)
        except HandlerError as error:
            state.failures.append(_Failure(resource, "CREATE_FAILED", str(error)))
            if _creating(stack.stack_id):
                raise _CreationFailed(str(error)) from error
            return resource
        if data is not None:
            resource._completed(data)
        else:
            resource._polling = True
            threading.Thread(
                target=resource._poll,
                args=(event,),
                name=f"custom-resource-{resource.logical_id}",
                daemon=True,
            ).start()
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        if not isinstance(original_resource, LocalCustomResource):
            raise TypeError(
                f"{original_resource!r} was created before its type ran locally: delete the stack"
            )
        properties = _as_cloudformation_sends(cloudformation_json["Properties"])
        updated = cls(
            stack=original_resource.stack,
            logical_id=original_resource.logical_id,
            resource_name=original_resource.resource_name,
            resource_type=original_resource.resource_type,
            properties=properties,
        )
        state = updated.state
        try:
            event = updated._on_event(
                updated._event(
                    "Update",
                    PhysicalResourceId=original_resource.physical_resource_id,
                    OldResourceProperties=original_resource.properties,
                )
            )
            updated.physical_id = str(event["PhysicalResourceId"])
            data = updated._wait(event)
        except HandlerError as error:
            state.failures.append(_Failure(original_resource, "UPDATE_FAILED", str(error)))
            return original_resource
        updated.set_data(data)
        updated.stack.add_custom_resource(updated)
        if updated.physical_id != original_resource.physical_resource_id:
            state.cleanups.append(original_resource)
        logger.info("%s (%s) updated: %s", updated.logical_id, updated.resource_type, updated.physical_id)
        return updated

    def delete(self, account_id: str, region_name: str) -> None:
        """Run the Delete event (moto calls this when the stack, or the resource, is deleted)."""
        self.cancelled.set()
        with self.state.lock:
            try:
                event = self._on_event(self._event("Delete", PhysicalResourceId=self.physical_resource_id))
                self._wait(event)
            except HandlerError as error:
                logger.error("deleting %s (%s) failed: %s", self.logical_id, self.physical_resource_id, error)
                _add_resource_event(self, "DELETE_FAILED", str(error))
                return
        logger.info("%s (%s) %s deleted", self.logical_id, self.resource_type, self.physical_resource_id)


# -- how CloudFormation reports failures -------------------------------------------------------------


def _failed_response(reason: str, request_id: str) -> str:
    return (
        f"Received response status [FAILED] from custom resource. Message returned: {reason} "
        f"(RequestId: {request_id})"
    )


def _add_resource_event(resource: LocalCustomResource, status: str, reason: str) -> None:
    stack = resource.stack
    event = Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=resource.logical_id,
        physical_resource_id=resource.physical_resource_id,
        resource_type=resource.resource_type,
        resource_status=status,
        resource_status_reason=_failed_response(reason, resource.request_id),
        resource_properties=json.dumps(resource.properties),
    )
    event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(event)


def _set_status(stack: Stack, status: str, reason: str | None = None) -> None:
    stack._add_stack_event(status, resource_status_reason=reason)
    stack.status = status
    stack.stack_status_reason = reason  # type: ignore[attr-defined]  # DescribeStacks' StackStatusReason


def _fail_creation(stack: Stack, failures: list[_Failure]) -> None:
    """Each resource's CREATE_FAILED, then a rollback (every resource deleted) to ROLLBACK_COMPLETE;
    CREATE_FAILED when the stack has rollback disabled."""
    for failure in failures:
        resource = failure.resource
        logger.error("%s (%s) failed: %s", resource.logical_id, resource.resource_type, failure.reason)
        _add_resource_event(resource, failure.status, failure.reason)
    if stack.status not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
        return
    failed = ", ".join(failure.resource.logical_id for failure in failures)
    reason = f"The following resource(s) failed to create: [{failed}]."
    if getattr(stack, "disable_rollback", False):
        _set_status(stack, "CREATE_FAILED", reason)
        return
    _set_status(stack, "ROLLBACK_IN_PROGRESS", f"{reason} Rollback requested by user.")
    try:
        stack.resource_map.delete()
    except Exception as error:  # moto cannot delete every resource it creates
        logger.error("rolling back %s failed: %s", stack.name, error)
        _set_status(stack, "ROLLBACK_FAILED", f"The following resource(s) failed to delete: {error}")
        return
    # moto creates resources lazily when anything reads them (outputs, resource lists): a rolled-back
    # stack has none left to create and no outputs
    stack.resource_map._resource_json_map = {}
    stack.output_map = OutputMap(stack.resource_map, {}, stack.stack_id)
    _set_status(stack, "ROLLBACK_COMPLETE", reason)


def _fail_update(stack: Stack, failures: list[_Failure]) -> None:
    """Each resource's UPDATE_FAILED (instead of moto's UPDATE_COMPLETE); the stack ends
    UPDATE_ROLLBACK_COMPLETE."""
    last = stack.events[-1] if stack.events else None
    if (
        last is not None
        and last.resource_status == "UPDATE_COMPLETE"
        and last.logical_resource_id == stack.name
    ):
        stack.events.pop()
    for failure in failures:
        resource = failure.resource
        logger.error("%s (%s) failed: %s", resource.logical_id, resource.resource_type, failure.reason)
        _add_resource_event(resource, failure.status, failure.reason)
    failed = ", ".join(failure.resource.logical_id for failure in failures)
    reason = f"The following resource(s) failed to update: [{failed}]."
    _set_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason)
    _set_status(stack, "UPDATE_ROLLBACK_COMPLETE", reason)


# -- the moto fix ----------------------------------------------------------------------------------------


def run_custom_resources_in_process() -> None:
    """Have moto's CloudFormation use :class:`LocalCustomResource` for the types in :data:`HANDLERS`
    and report their failures; other types keep ``CustomModel``."""
    original_class_from_type = parsing.resource_class_from_type

    @functools.wraps(original_class_from_type)
    def resource_class_from_type(resource_type: str) -> Any:
        if resource_type in HANDLERS:
            return LocalCustomResource
        return original_class_from_type(resource_type)

    original_create = Stack.create_resources

    @functools.wraps(original_create)
    def create_resources(self: Stack) -> None:
        state = _state(self.stack_id)
        with state.lock:
            _CREATING.stack_id = self.stack_id
            try:
                if state.failures:  # a resource read (and failed) before the creation pass
                    self.status = "CREATE_IN_PROGRESS"
                else:
                    original_create(self)
            except _CreationFailed:
                pass
            finally:
                _CREATING.stack_id = None
                state.created.set()
            failures, state.failures = state.failures, []
            if failures:
                _fail_creation(self, failures)
            elif self.custom_resources:
                self.output_map = self._create_output_map()
                if self.status == "CREATE_IN_PROGRESS":  # one completed while a later resource read it
                    self.verify_readiness()

    original_update = Stack.update

    @functools.wraps(original_update)
    def update(self: Stack, *args: Any, **kwargs: Any) -> None:
        state = _state(self.stack_id)
        with state.lock:
            state.failures.clear()
            state.cleanups.clear()
            state.updating = True
            try:
                original_update(self, *args, **kwargs)
            finally:
                state.updating = False
            failures, state.failures = state.failures, []
            if failures:
                state.cleanups.clear()
                _fail_update(self, failures)
                return
            for replaced in state.cleanups:
                replaced.delete(self.account_id, self.region_name)
            state.cleanups.clear()

    parsing.resource_class_from_type = resource_class_from_type
    Stack.create_resources = create_resources  # type: ignore[method-assign]
    Stack.update = update  # type: ignore[method-assign]
