"""Off-policy evaluation of candidate policies from the service's logged decisions."""
