"""The cheapest inference option that meets a workload: ``python -m cost_advisor advise``.

Pure Python: never imports aws_cdk. ``model_size`` (memory to serve, where the model fits, time
per request), ``options`` (each option's monthly cost or why it is not eligible), ``advice`` (the
recommendation, its config block, and ``estimate_deployed`` for synth's budget guard), ``plot``
(cost against requests per day, PNG).
"""

from cost_advisor.advice import Advice, DeployedEstimate, advise, estimate_deployed
from cost_advisor.model_size import ModelSize, ModelSizeError, ProcessingTime
from cost_advisor.options import AdvisorError, Catalog, Option, evaluate_options

__all__ = [
    "Advice",
    "AdvisorError",
    "Catalog",
    "DeployedEstimate",
    "ModelSize",
    "ModelSizeError",
    "Option",
    "ProcessingTime",
    "advise",
    "estimate_deployed",
    "evaluate_options",
]
