"""Built-in plugins, registered by the plugin manager exactly like third-party ones.

Each module is named ``<backend>_<kind>`` and implements hooks from
:mod:`claude_orchestrator.hookspecs`.
"""
