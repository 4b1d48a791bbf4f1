"""controller_node, a liquid-network policy driving a robot, in parts: the node (``node``), its parameters
(``settings``), live parameter changes (``reconfigure``), model loading (``model``), its messages
(``messages``) and /diagnostics (``diagnostics``). The executable is ``liquid_control.nodes.controller_node``.
"""
