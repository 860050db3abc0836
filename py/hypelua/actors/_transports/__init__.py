"""Transports between actor schedulers (like httpx's ``_transports/``): :mod:`.process`
(OS processes, native) and :mod:`.worker` (Web Workers, the browser); :mod:`.base` is the
interface :class:`hypelua.actors._node.Node` drives."""
