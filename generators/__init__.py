"""Pure builders that turn the configuration into documents (workflows, permission files).

This package holds no builder yet: the generators arrive with ``claude-orchestrator
generate``. It is part of the package layout so that plugins can rely on its location.
"""
