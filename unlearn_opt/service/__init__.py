"""The study service (docs/design.md §8): storage, create-study, workers, launch, status, run."""
