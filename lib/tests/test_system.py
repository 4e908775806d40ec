"""HostSystem against the real file system and real commands (cheap, so no fakes)."""

import grp
import os
import pwd

from charm_common.system import HostSystem

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def test_write_file_sets_mode_and_owner_and_reports_changes(tmp_path):
    system = HostSystem()
    path = str(tmp_path / "sub" / "secret.conf")
    assert system.write_file(path, "password = x\n", owner=ME, group=MY_GROUP, mode=0o640)
    assert system.file_mode(path) == (ME, MY_GROUP, 0o640)
    assert system.read_file(path) == b"password = x\n"
    assert not system.write_file(path, b"password = x\n", owner=ME, group=MY_GROUP, mode=0o640)
    assert system.write_file(path, b"password = x\n", owner=ME, group=MY_GROUP, mode=0o600)
    assert system.file_mode(path) == (ME, MY_GROUP, 0o600)
    assert sorted(os.listdir(tmp_path / "sub")) == ["secret.conf"]  # no temporary left behind


def test_missing_files_and_commands_are_answers_not_exceptions(tmp_path):
    system = HostSystem()
    assert system.read_file(str(tmp_path / "absent")) is None
    assert system.file_mode(str(tmp_path / "absent")) is None
    assert not system.remove_file(str(tmp_path / "absent"))
    assert system.run(["/nonexistent/command"]).returncode == 127
    slow = system.run(["sleep", "5"], timeout=0.2)
    assert slow.returncode == 124
    assert "timed out" in slow.stderr
    assert system.run(["sh", "-c", "echo out; echo err >&2; exit 3"]) == type(slow)(
        3, "out\n", "err\n"
    )
