"""The db-synced Masakari database, for every schema test module that asks for it."""

from masakari_db import masakari_conf  # noqa: F401 - a pytest fixture, one database per module
