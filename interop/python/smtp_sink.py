"""A real SMTP server for baton's tests: aiosmtpd on 127.0.0.1, each message it accepts saved
as a file (``<pid>-<n>.eml``, written whole then renamed into place) in DIR.

usage: smtp_sink.py DIR [PORT]

Listens on PORT (a free one when absent), prints the port on standard output once it accepts
connections, and runs until SIGTERM or SIGINT. Started again on the same port, it plays a mail
server that was down and came back.
"""

import asyncio
import itertools
import os
import signal
import socket
import sys

from aiosmtpd.controller import Controller


class Save:
    def __init__(self, directory):
        self.directory = directory
        self.count = itertools.count()

    async def handle_DATA(self, server, session, envelope):
        name = f"{os.getpid()}-{next(self.count):05}.eml"
        path = os.path.join(self.directory, name)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    directory = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else free_port()
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Save(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    loop = asyncio.new_event_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    loop.run_until_complete(stop)
    controller.stop()


if __name__ == "__main__":
    main()
