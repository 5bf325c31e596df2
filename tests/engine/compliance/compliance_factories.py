"""Case-state builders for the compliance tests (they live in the engine: the benchmark
uses them too)."""

from engine.compliance.sampling import CONTACT, jurisdictions_of, make_state, random_states

__all__ = ["CONTACT", "jurisdictions_of", "make_state", "random_states"]
