"""Check a rendered oslo.config file against the option definitions the service itself registers.

oslo-config-validator only checks option names; this also parses every value with the option's
own type, so a bad boolean, an out-of-range integer or a malformed URL fails here, not in a
daemon on a production host.
"""

from __future__ import annotations

import configparser
import copy
import pathlib
from collections.abc import Callable

from oslo_config import cfg, generator


def option_errors(
    path: pathlib.Path,
    namespaces: list[str],
    auth_groups: dict[str, str],
    *,
    register: Callable[[cfg.ConfigOpts], None] | None = None,
) -> list[str]:
    """Problems with the file at path; empty when every option is known and every value parses.

    auth_groups maps a group to the keystoneauth plugin whose options are registered there at
    run time (keystonemiddleware registers [keystone_authtoken] auth_type's options lazily).
    register, when given, registers whatever else the service registers only at run time.
    """
    from keystoneauth1 import loading

    conf = cfg.ConfigOpts()
    for _namespace, groups in generator._list_opts(namespaces):
        for group, opts in groups:
            for opt in opts:
                # Options a middleware requires only when enabled must not fail the whole load.
                opt = copy.copy(opt)
                opt.required = False
                try:
                    conf.register_opt(opt, group=None if group in (None, "DEFAULT") else group)
                except cfg.DuplicateOptError:
                    pass  # two libraries register the same option under different defaults
    for group, plugin in auth_groups.items():
        for opt in loading.get_auth_plugin_conf_options(plugin):
            try:
                conf.register_opt(opt, group=group)
            except cfg.DuplicateOptError:
                pass
    if register:
        register(conf)
    conf(args=["--config-file", str(path)], project="check", default_config_files=[])

    # No default section: [DEFAULT] is read like any other, and not merged into the rest.
    parser = configparser.ConfigParser(interpolation=None, default_section="\0", strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    errors = []
    for section in parser.sections():
        items = parser[section]
        group = conf if section == "DEFAULT" else getattr(conf, section, None)
        if group is None:
            errors.append(f"[{section}] is not a group any namespace registers")
            continue
        for name in items:
            if section == "DEFAULT":
                known = name in conf._opts
            else:
                known = name in conf._groups[section]._opts
            if not known:
                errors.append(f"[{section}] {name} is not a registered option")
                continue
            try:
                getattr(group, name)
            except (cfg.ConfigFileValueError, ValueError) as error:
                errors.append(f"[{section}] {name}: {error}")
    return errors
