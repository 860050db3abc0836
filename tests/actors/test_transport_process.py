"""The native transport's framing (hypelua.actors._transports.process._Conn): a frame that does
not decode is skipped (the connection goes on), a corrupt length drops the peer."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from hypelua.actors._transports import process


def test_bad_frames_do_not_stop_the_connection_and_a_corrupt_length_drops_it() -> None:
    async def main() -> tuple[list[Any], int]:
        a, b = socket.socketpair()
        got: list[Any] = []
        gone: list[int] = []
        conn = process._Conn(a, got.append, lambda: gone.append(1))
        raw = b"{not json"
        b.sendall(process._LEN.pack(len(raw)) + raw)
        peer = process._Conn(b, lambda f: None, lambda: None)
        peer.write({"t": "hello", "n": 1})
        for _ in range(50):
            await asyncio.sleep(0.01)
            if got:
                break
        b.sendall(process._LEN.pack(process.MAX_FRAME + 1))
        for _ in range(50):
            await asyncio.sleep(0.01)
            if gone:
                break
        peer.close()
        return got, len(gone) + (1 if conn.closed else 0)

    got, gone = asyncio.run(main())
    assert got == [{"t": "hello", "n": 1}] and gone == 2
