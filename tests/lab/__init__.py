"""A local cloud of real OpenStack services that the suite's charms deploy onto."""
