"""controller_node, a liquid-network policy driving a robot, in parts: the executable (``main``), the node
(``node``), the timers and threads that make it tick (``tick_sources``), its parameters (``settings``), live
parameter changes (``reconfigure``), model loading (``model``), its messages (``messages``) and /diagnostics
(``diagnostics``). The executable is the entry point ``liquid_control.nodes.controller.main:main``.
"""
