"""The lab: the charm suite on a local cloud of real Debian services (see DESIGN.md section 5)."""
