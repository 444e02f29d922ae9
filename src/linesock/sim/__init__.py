"""pyvisa-sim device files served over real TCP: the same answers, on a socket.

pyvisa-sim describes simulated instruments in YAML (dialogues, properties
with getters, setters and specs, error answers, status registers, error
queues, channels), but only PyVISA's own process can talk to them
(``ResourceManager("file.yaml@sim")``).  This package serves each device of
such a file as a linesock handler, so any client that opens a raw socket,
PyVISA's ``TCPIP0::HOST::PORT::SOCKET`` among them, drives it as it would
drive the instrument::

    import linesock
    import linesock.sim

    device = linesock.sim.load_device("rig.yaml", "psu")
    with linesock.Server(device, port=5025, **device.server_options):
        ...  # a PyVISA @py session on TCPIP0::127.0.0.1::5025::SOCKET

``linesock serve rig.yaml [--device NAME]`` does the same from the command
line.  It needs pyvisa-sim (``pip install 'linesock[sim]'``), which reads
the file and answers every message: importing this package does not import
it.  The public surface:

* :func:`load_device` and :class:`DeviceFile`: read a file (its devices,
  its ``TCPIP SOCKET`` resources as :class:`SocketResource`) and make a
  :class:`SimulatedDevice`, a handler with the :class:`Terminators` of the
  device's ``eom``, a :meth:`~SimulatedDevice.reset`, and its properties as
  :attr:`~SimulatedDevice.state` (:class:`DeviceProperties`), which the
  control port reads and sets (docs/control.md).
* :class:`DeviceFileError` and :class:`SimulatorNotInstalledError`.

See docs/instruments.md, "Serving a pyvisa-sim device file".
"""

from ._device import RESET_COMMAND, DeviceProperties, SimulatedDevice, Terminators
from ._loading import (
    INSTALL_HINT,
    SOCKET_EOM,
    DeviceFile,
    DeviceFileError,
    SimulatorNotInstalledError,
    SocketResource,
    load_device,
)

__all__ = [
    "INSTALL_HINT",
    "RESET_COMMAND",
    "SOCKET_EOM",
    "DeviceFile",
    "DeviceFileError",
    "DeviceProperties",
    "SimulatedDevice",
    "SimulatorNotInstalledError",
    "SocketResource",
    "Terminators",
    "load_device",
]
