"""Types every config module shares: the strict base model and validated strings (names, instance
types, S3 locations, schedules, time zones)."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from endpoint_configs import limits


def _check_sagemaker_name(value: str) -> str:
    if not limits.NAME_PATTERN.match(value):
        raise ValueError(
            f"must match {limits.NAME_PATTERN.pattern}: letters, digits and hyphens, starting and "
            "ending with a letter or digit"
        )
    if len(value) > limits.NAME_MAX_LENGTH:
        raise ValueError(f"is {len(value)} characters; allowed: at most {limits.NAME_MAX_LENGTH}")
    return value


def _check_s3_uri(value: str) -> str:
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+", value):
        raise ValueError("must be an s3:// URI with a key, e.g. s3://my-bucket/models/model.tar.gz")
    return value


def _check_s3_prefix_uri(value: str) -> str:
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S*/", value):
        raise ValueError("must be an s3:// prefix ending in '/', e.g. s3://my-bucket/models/<sha256>/")
    return value


def _instance_type_check(known_types: Callable[[], tuple[str, ...]], use: str) -> Callable[[str], str]:
    """A validator that ``value`` is one of ``known_types()``; ``use`` says what for, in messages."""

    def check(value: str) -> str:
        if not re.fullmatch(r"ml\.[a-z0-9-]+\.[a-z0-9]+", value):
            raise ValueError("must look like ml.<family>.<size>, e.g. ml.m5.large")
        known = known_types()
        if value not in known:
            family = limits.instance_family(value)
            same_family = [t for t in known if limits.instance_family(t) == family]
            hint = (
                f"sizes of ml.{family}: {', '.join(same_family)}"
                if same_family
                else "families: " + ", ".join(sorted({limits.instance_family(t) for t in known}))
            )
            raise ValueError(f"is not a SageMaker {use} instance type; known {hint}")
        return value

    return check


def _check_region(value: str) -> str:
    if value not in limits.sagemaker_regions():
        raise ValueError(
            "is not a region where SageMaker runs (per the pinned AWS SDK); write a region code "
            "such as us-east-1, eu-west-1 or ap-southeast-2"
        )
    return value


def _check_project_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", value):
        raise ValueError(
            "allowed: lowercase letters, digits and hyphens, 3-32 characters, starting with a letter "
            "and not ending with a hyphen (it starts every stack name), e.g. minilm-embeddings"
        )
    return value


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name, e.g. UTC or Europe/Berlin") from None
    return value


def _check_cron(value: str) -> str:
    # Application Auto Scaling takes the six-field EventBridge form: minutes hours
    # day-of-month month day-of-week year, with '?' in one of the two day fields.
    # https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-using-cron-expressions.html
    fields = value.split()
    if len(fields) != 6:
        raise ValueError(
            "must have 6 fields 'minutes hours day-of-month month day-of-week year', "
            "e.g. '0 20 ? * MON-FRI *'"
        )
    if "?" not in (fields[2], fields[4]):
        raise ValueError("needs '?' in day-of-month or day-of-week, e.g. '0 20 ? * MON-FRI *'")
    return value


SageMakerName = Annotated[str, AfterValidator(_check_sagemaker_name)]
RegionName = Annotated[str, AfterValidator(_check_region)]
ProjectName = Annotated[str, AfterValidator(_check_project_name)]
InstanceType = Annotated[str, AfterValidator(_instance_type_check(limits.hosting_instance_types, "hosting"))]
TransformInstanceType = Annotated[
    str, AfterValidator(_instance_type_check(limits.transform_instance_types, "transform job"))
]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
CronExpression = Annotated[str, AfterValidator(_check_cron)]
S3Uri = Annotated[str, AfterValidator(_check_s3_uri)]
S3PrefixUri = Annotated[str, AfterValidator(_check_s3_prefix_uri)]
S3KeyPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")]

SnsTopicArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable, and values are
    not coerced between types (a quoted "2" is not an integer, an unquoted 2.6 is not a string)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
