# SPDX-License-Identifier: Apache-2.0
"""``PyOCDDriver``: flash and reset a labgrid place's debug probe with pyocd, on the exporter host.

labgrid 26 ships an OpenOCD driver for ``USBDebugger`` / ``NetworkUSBDebugger`` but none for pyocd;
this one follows the same pattern: the ELF is copied to the exporter host with labgrid's
``ManagedFile``, and pyocd runs there through the resource's ``wrap_command`` (labgrid's SSH
connection for a ``NetworkUSBDebugger``, nothing for a probe on this host). The probe is chosen by its
unique id: the place's ``probe`` tag (``labgrid-client -p PLACE set-tags probe=0669FF...``), since
labgrid's USB resources carry the bus path but not the serial number pyocd selects by.
"""

from __future__ import annotations

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.protocol import BootstrapProtocol, ResetProtocol
from labgrid.step import step
from labgrid.util.helper import processwrapper
from labgrid.util.managedfile import ManagedFile


def pyocd_command(
    tool: str, action: str, probe_uid: str, target_type: str, image: str | None = None
) -> list[str]:
    """``pyocd load`` (flash an ELF, then reset and run) or ``pyocd reset``, on one probe."""
    command = [tool, action, "--uid", probe_uid, "--target", target_type]
    if image is not None:
        command += ["--format", "elf", image]
    return command


@target_factory.reg_driver
@attr.s(eq=False)
class PyOCDDriver(Driver, BootstrapProtocol, ResetProtocol):
    bindings = {"interface": {"USBDebugger", "NetworkUSBDebugger"}}
    firmware_platform = "hardware"  # the STM32's own layout: flash at 0x08000000

    probe_uid = attr.ib(default=None, validator=attr.validators.optional(attr.validators.instance_of(str)))
    target_type = attr.ib(default=None, validator=attr.validators.optional(attr.validators.instance_of(str)))

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.tool = self.target.env.config.get_tool("pyocd") if self.target.env else "pyocd"

    def _probe(self) -> str:
        uid = self.probe_uid
        if not uid:
            raise ValueError(
                "no probe unique id: tag the place with probe=<id> (`labgrid-client -p PLACE set-tags "
                "probe=...`; `pyocd list` on the exporter host shows the id)"
            )
        return uid

    def _target_type(self) -> str:
        if not self.target_type:
            raise ValueError("no pyocd target type (the target's [pyocd] target)")
        return self.target_type

    @Driver.check_active
    @step(args=["filename"])
    def load(self, filename: str):
        image = ManagedFile(filename, self.interface)
        image.sync_to_resource()
        command = pyocd_command(
            self.tool, "load", self._probe(), self._target_type(), image.get_remote_path()
        )
        processwrapper.check_output(self.interface.wrap_command(command), print_on_silent_log=True)

    @Driver.check_active
    @step()
    def reset(self):
        command = pyocd_command(self.tool, "reset", self._probe(), self._target_type())
        processwrapper.check_output(self.interface.wrap_command(command), print_on_silent_log=True)
