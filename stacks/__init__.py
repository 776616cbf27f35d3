"""CDK stacks composed from reusable SageMaker constructs.

``add_environment(app, config, endpoint_type, artifact=locate_artifact(...))`` builds one
environment; the constructs (``EncryptedModelStore``, ``ModelData``, ``ModelExecutionRole``,
``SageMakerModel``, ``ServedModel``, ``InferenceEndpoint``, ``VariantScaling``) can be used on
their own.
"""

from stacks.environment import EnvironmentStacks, add_environment, locate_artifact

__all__ = ["EnvironmentStacks", "add_environment", "locate_artifact"]
