"""Built-in plugins, registered by the plugin manager exactly like third-party ones.

Each module is named ``<backend>_<kind>`` (or ``<kind>_<backend>``: ``forge_local``,
``forge_github``) and implements hooks from :mod:`claude_orchestrator.hookspecs`; the
``git`` VCS plugin's parts are the ``git_*`` modules.
"""
