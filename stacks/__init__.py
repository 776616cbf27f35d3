"""Thin CDK stacks, one per workload kind, plus the stateful stack.

``stacks.registry`` names each workload kind's config block, stack and invocation;
``stacks.environment.add_environment`` builds one environment from it; ``stacks.props`` maps
config blocks to the props of the constructs in ``sagemaker_constructs``.
"""
