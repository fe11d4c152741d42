"""The training loop and what it needs: settings, losses, optimisers, distributed helpers, the job queue and the study."""
