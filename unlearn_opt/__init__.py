"""unlearn-opt: a hyperparameter-optimization study service for machine unlearning."""

from unlearn_opt.errors import UserError

__all__ = ["UserError"]
__version__ = "0.1.0"
