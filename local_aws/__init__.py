"""The local AWS: moto, taught the resource types our stacks use and mended where it differs from
AWS, so templates deploy and endpoints answer without an AWS account.

- :mod:`local_aws.moto_models`: CloudFormation models moto lacks, one module per AWS service;
- :mod:`local_aws.moto_fixes`: each way moto differs from AWS, fixed once by name, and
  :func:`local_aws.moto_fixes.install`, which applies every fix;
- :mod:`local_aws.model_routing`: invocations of deployed endpoints run the deployed model;
- :mod:`local_aws.server`: the moto server launcher; :mod:`local_aws.state`: where it runs, read
  without importing moto; :mod:`local_aws.deploy`: the deploy driver.
"""
