"""CodeAgentLens (cal): a local model-endpoint gateway and observability workbench for code agents.

Importing cal has no side effects and imports nothing heavy: `cal --version` depends on it.
"""

__version__ = "0.1.0"
