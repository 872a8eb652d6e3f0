"""Loaded by every Python process the tests start while the suite runs on PostgreSQL (``tests/conftest.py`` puts
this folder on ``PYTHONPATH`` then): the same workspace-to-database mapping as the test process. See
``workspace_databases.py``."""

import workspace_databases

if workspace_databases.active():
    workspace_databases.install()
