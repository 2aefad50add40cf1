"""Pure builders: the configuration in, documents (plain data or text) out.

``github_actions`` builds the implementor and overseer workflows, ``claude_permissions``
the Claude Code settings files per role, ``runbooks`` the role runbooks; ``writer`` is the
one module that puts documents on disk (headers, fenced sections, the manifest, drift).
"""
