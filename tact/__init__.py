"""tact: the umbrella package.

``tact.v1`` holds the protobuf/gRPC code generated from ``proto/tact/v1`` (``make proto``);
``tact.cli`` composes the command line of the three subsystems (engine, simulator, policies).
"""

__version__ = "0.1.0"
