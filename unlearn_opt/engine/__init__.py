"""The engine: training, runtime helpers and the per-trial workspace (import submodules directly)."""
