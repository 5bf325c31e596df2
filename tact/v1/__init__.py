"""Generated from proto/tact/v1 by `make proto`."""
