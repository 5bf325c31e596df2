"""RL on the Chehrazi–Glynn–Weber known-optimum benchmark: config, training, evaluation."""
