"""Code shared by the Masakari suite's charms: relations, origin handling, the system interface."""
