"""CDK stacks composed from reusable SageMaker constructs.

``add_environment(app, config, endpoint_type)`` builds one environment; the constructs
(``EncryptedModelStore``, ``ModelExecutionRole``, ``SageMakerModel``, ``RealtimeEndpoint``,
``InstanceVariantAutoscaling``) can be used on their own.
"""

from stacks.environment import EnvironmentStacks, add_environment

__all__ = ["EnvironmentStacks", "add_environment"]
