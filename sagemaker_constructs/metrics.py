"""SageMaker endpoint metrics in CloudWatch (namespace ``AWS/SageMaker``)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

SAGEMAKER_NAMESPACE = "AWS/SageMaker"


def endpoint_metric(
    endpoint_name: str, name: str, statistic: str, variant_name: str | None = None
) -> cloudwatch.Metric:
    """A one-minute ``AWS/SageMaker`` metric of an endpoint (and of one variant, when given)."""
    dimensions = {"EndpointName": endpoint_name}
    if variant_name is not None:
        dimensions["VariantName"] = variant_name
    return cloudwatch.Metric(
        namespace=SAGEMAKER_NAMESPACE,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=cdk.Duration.minutes(1),
    )
