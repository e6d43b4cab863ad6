"""A TCP proxy for fault tests: ``freeze()`` silences every open connection without a FIN (half-open);
``retarget()`` cuts every connection and sends new ones elsewhere (a failover behind one address)."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._frozen: list[asyncio.Event] = []
        self._conns: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self._live: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        live = asyncio.Event()
        live.set()
        self._frozen.append(live)
        self._conns.append((writer, up_writer))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(self._pipe(reader, up_writer, live), self._pipe(up_reader, writer, live))

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, live: asyncio.Event) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(65536):
                await live.wait()  # frozen: hold the bytes, send nothing, close nothing
                dst.write(data)
        with contextlib.suppress(OSError):
            dst.close()

    def retarget(self, upstream_port: int) -> None:
        """Close every connection (both sides) and send the new ones to ``upstream_port``."""
        self.upstream_port = upstream_port
        for a, b in self._conns:
            a.close()
            b.close()
        self._conns = []

    def freeze(self) -> None:
        """Existing connections stop carrying bytes in both directions; new ones work normally."""
        for live in self._frozen:
            live.clear()
        self._frozen = []

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for a, b in self._conns:
            a.close()
            b.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
