"""The controller_node executable (``ros2 run liquid_control controller_node``; the entry point in setup.py).

It spins ``ControllerNode`` (``node.py``) and ends on Ctrl-C or SIGTERM with a
final stop command, delivered before the process goes.
"""

from __future__ import annotations

import signal
import sys
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from liquid_control.nodes.settings import EXIT_BAD_PARAMETER, ParameterError, destroy_refused_node

from .node import NODE_NAME, ControllerNode

_STOP_REQUESTED = threading.Event()

# The longest the main thread waits in the executor before it looks for a Ctrl-C: a Python signal
# handler runs only when the main thread is back in Python, and with the frames and the control
# timer on their own threads the executor may have nothing to wake it but the diagnostics timer
# (1 s by default, 10 s at diagnostics_rate_hz 0.1), beyond `ros2 launch`'s 5 s SIGINT grace.
SIGNAL_POLL_S = 0.1
# The longest the node waits, on its way out, for its subscribers to acknowledge the final stop.
FINAL_STOP_ACK_S = 1.0


def _interrupt(signum, frame):
    # Ctrl-C and SIGTERM end the node alike: with a final stop command. The flag matters twice.
    # When the KeyboardInterrupt lands inside rclpy's C++ (taking a message), pybind11 turns it
    # into a RuntimeError, which is then a requested stop too, not a crash. When it lands in a
    # finalizer (rclpy's Future.__del__ during garbage collection), Python prints it and drops it;
    # the spin loop then sees the flag within SIGNAL_POLL_S.
    _STOP_REQUESTED.set()
    raise KeyboardInterrupt


def main(args=None) -> int:
    # Our own Ctrl-C handling: rclpy's would shut the context down before we could publish the
    # final stop command.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    node = None
    try:
        node = ControllerNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and not _STOP_REQUESTED.is_set():
            executor.spin_once(timeout_sec=SIGNAL_POLL_S)
    except ParameterError as error:
        print(f"{NODE_NAME}: {error}", file=sys.stderr)
        if node is None:  # refused in its constructor: destroyed here, before the shutdown below
            destroy_refused_node(error)
        return EXIT_BAD_PARAMETER
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if not _STOP_REQUESTED.is_set():
            raise
    finally:
        if node is not None:
            node.leave_stopped(FINAL_STOP_ACK_S)  # the robot stopped, and the stop delivered
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
