"""The Alembic environment every service's migrations run in (see :mod:`services.runtime.store`).

Services ship only a folder of revision files; this ``env.py`` runs them on
the connection that ``open_database`` hands over, so no ``alembic.ini`` and no
per-service ``env.py`` exist.
"""
