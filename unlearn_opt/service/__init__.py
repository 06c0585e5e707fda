"""The study service (DESIGN §8): storage, create-study, workers, launch, status, run."""
