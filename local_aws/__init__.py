"""The local AWS: moto, taught the resource types our stacks use,
so templates deploy without an AWS account.
"""
