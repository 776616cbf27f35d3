"""Builds, shrinks, hashes and uploads model artifacts; never imports aws_cdk.

Empty until the packaging issue lands: environment configs point at an ``s3://`` artifact.
"""
